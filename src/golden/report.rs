//! `--report FORMAT=FILE`: the results in the forms that CI servers, TAP
//! harnesses, scripts and Gradescope read.
//!
//! Every format lists every script (and every refused path) in path order,
//! with the same status the console gave it: a skipped script is never
//! reported as passed. The files are opened (and emptied) before anything
//! runs, so a bad path is a usage error, and a run that is killed outright
//! leaves an empty file, never a stale report that looks current. The
//! schemas are documented in `docs/testing.md`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{json, Value};

use super::judge::{Failure, FailureKind, Verdict};

/// Characters of output per Gradescope test; Gradescope shows it on a web
/// page, and a 64 MiB transcript helps no one there.
const GRADESCOPE_OUTPUT_LIMIT: usize = 8 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Junit,
    Tap,
    Json,
    Gradescope,
}

/// One `--report FORMAT=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    pub format: ReportFormat,
    pub file: PathBuf,
}

impl FromStr for ReportSpec {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        let (format, file) = word
            .split_once('=')
            .filter(|(_, file)| !file.is_empty())
            .ok_or_else(|| format!("expected FORMAT=FILE, got '{word}'"))?;
        let format = match format {
            "junit" => ReportFormat::Junit,
            "tap" => ReportFormat::Tap,
            "json" => ReportFormat::Json,
            "gradescope" => ReportFormat::Gradescope,
            other => {
                return Err(format!(
                    "unknown report format '{other}' (junit, tap, json, gradescope)"
                ))
            }
        };
        Ok(ReportSpec {
            format,
            file: PathBuf::from(file),
        })
    }
}

/// What every report says about one script.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The script's path as the console shows it.
    pub name: String,
    pub verdict: Verdict,
    /// How long its child ran.
    pub time: Duration,
    /// Gradescope's `max_score`, from `# points: N` (default 1).
    pub points: f64,
}

/// A report file opened before the run, to be filled after it.
pub(crate) struct OpenReport {
    spec: ReportSpec,
    file: File,
}

/// Opens every report file, or says which one cannot be written.
pub(crate) fn open_reports(specs: &[ReportSpec]) -> Result<Vec<OpenReport>, String> {
    let mut open = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        if specs[..index]
            .iter()
            .any(|earlier| earlier.file == spec.file)
        {
            return Err(format!(
                "two reports into one file: {}",
                spec.file.display()
            ));
        }
        let file = File::create(&spec.file)
            .map_err(|err| crate::errors::file_error("write report", &spec.file, &err))?;
        open.push(OpenReport {
            spec: spec.clone(),
            file,
        });
    }
    Ok(open)
}

impl OpenReport {
    /// Writes the report for `entries`; `summary` is the console's last line.
    pub(crate) fn write(
        mut self,
        entries: &[Entry],
        summary: &str,
        total: Duration,
    ) -> Result<(), String> {
        let text = match self.spec.format {
            ReportFormat::Junit => junit(entries, total),
            ReportFormat::Tap => Ok(tap(entries)),
            ReportFormat::Json => Ok(json_report(entries)),
            ReportFormat::Gradescope => Ok(gradescope(entries, summary)),
        };
        let file = &self.spec.file;
        let text = text.map_err(|err| format!("cannot write report {}: {err}", file.display()))?;
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|err| crate::errors::file_error("write report", file, &err))
    }
}

/// The word every format uses for a verdict.
fn status_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Passed | Verdict::Blessed { .. } => "passed",
        Verdict::Skipped { .. } => "skipped",
        Verdict::Failed(_) => "failed",
    }
}

/// Styled text made plain: reports are read by programs, not terminals.
fn plain(styled: &str) -> String {
    anstream::adapter::strip_str(styled).to_string()
}

/// The diff, or else the output, of a failure, without styles.
fn details(failure: &Failure) -> String {
    let mut text = failure.diff.as_deref().map(plain).unwrap_or_default();
    text.push_str(&plain(&failure.output));
    text
}

fn seconds(time: Duration) -> f64 {
    time.as_millis() as f64 / 1000.0
}

// ---- JUnit XML ----

fn junit(entries: &[Entry], total: Duration) -> Result<String, quick_junit::SerializeError> {
    let mut suite = TestSuite::new("sockrepl test");
    suite.set_time(total);
    suite.add_test_cases(entries.iter().map(junit_case));
    let mut report = Report::new("sockrepl test");
    report.set_time(total).add_test_suite(suite);
    report.to_string()
}

/// Classname is the folder and name the file, as CI servers group them.
fn junit_case(entry: &Entry) -> TestCase {
    let path = Path::new(&entry.name);
    let name = path
        .file_name()
        .map_or(entry.name.clone(), |n| n.to_string_lossy().into_owned());
    let folder = path
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty());
    let mut case = TestCase::new(name, junit_status(&entry.verdict));
    case.set_classname(folder.unwrap_or_else(|| ".".to_owned()))
        .set_time(entry.time);
    case
}

fn junit_status(verdict: &Verdict) -> TestCaseStatus {
    match verdict {
        Verdict::Passed | Verdict::Blessed { .. } => TestCaseStatus::success(),
        Verdict::Skipped { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason.as_str());
            status
        }
        Verdict::Failed(failure) => {
            // A script that misbehaved is a failure; one the runner could
            // not run or judge at all is an error.
            let kind = match failure.kind {
                FailureKind::Error | FailureKind::Refused | FailureKind::NotRun => {
                    NonSuccessKind::Error
                }
                _ => NonSuccessKind::Failure,
            };
            let mut status = TestCaseStatus::non_success(kind);
            status
                .set_message(failure.reason.as_str())
                .set_type(failure.kind.name());
            let mut description = failure.failure_line.clone().unwrap_or_default();
            if !description.is_empty() {
                description.push('\n');
            }
            description.push_str(&details(failure));
            if !description.is_empty() {
                status.set_description(description);
            }
            status
        }
    }
}

// ---- TAP 14 ----

fn tap(entries: &[Entry]) -> String {
    let mut out = format!("TAP version 14\n1..{}\n", entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        let name = tap_escape(&entry.name);
        let _ = match &entry.verdict {
            Verdict::Passed | Verdict::Blessed { .. } => writeln!(out, "ok {number} - {name}"),
            Verdict::Skipped { reason } => {
                writeln!(out, "ok {number} - {name} # SKIP {}", tap_escape(reason))
            }
            Verdict::Failed(failure) => {
                let _ = writeln!(out, "not ok {number} - {name}");
                tap_diagnostics(&mut out, entry, failure);
                Ok(())
            }
        };
    }
    out
}

/// A YAML block under the failed test point, as TAP 14 specifies.
fn tap_diagnostics(out: &mut String, entry: &Entry, failure: &Failure) {
    out.push_str("  ---\n");
    let mut field = |key: &str, value: &str| {
        let _ = writeln!(out, "  {key}: {}", yaml_quote(value));
    };
    field("message", &failure.reason);
    field("kind", failure.kind.name());
    field("duration_ms", &entry.time.as_millis().to_string());
    if let Some(line) = &failure.failure_line {
        field("failure_line", line);
    }
    if let Some(diff) = &failure.diff {
        field("diff", &plain(diff));
    }
    if !failure.output.is_empty() {
        field("output", &plain(&failure.output));
    }
    out.push_str("  ...\n");
}

/// A test point's description or skip reason: one line, `#` escaped (TAP
/// 14 reads an unescaped `#` as the start of a directive).
fn tap_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '#' => out.push_str("\\#"),
            '\n' | '\r' => out.push(' '),
            ch => out.push(ch),
        }
    }
    out
}

/// A YAML double-quoted scalar that any YAML 1.1 or 1.2 parser reads back
/// as `text`: escapes for quotes, backslashes and every character YAML does
/// not allow raw.
fn yaml_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ch if yaml_printable(ch) => out.push(ch),
            ch => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
        }
    }
    out.push('"');
    out
}

/// YAML's printable set, minus the line breaks YAML 1.1 folds (U+0085,
/// U+2028, U+2029) and the byte-order mark.
fn yaml_printable(ch: char) -> bool {
    matches!(ch, ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(ch, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

// ---- JSON ----

/// One JSON array, one object per script (schema in docs/testing.md).
fn json_report(entries: &[Entry]) -> String {
    let array: Vec<Value> = entries.iter().map(json_entry).collect();
    let mut text = serde_json::to_string_pretty(&array).expect("JSON values always serialize");
    text.push('\n');
    text
}

fn json_entry(entry: &Entry) -> Value {
    let (reason, failure_line, diff, output, kind) = match &entry.verdict {
        Verdict::Passed => (None, None, None, None, None),
        Verdict::Blessed { out_file, new } => {
            let change = if *new { "new" } else { "changed" };
            let reason = format!("blessed: {} ({change})", out_file.display());
            (Some(reason), None, None, None, None)
        }
        Verdict::Skipped { reason } => (Some(reason.clone()), None, None, None, None),
        Verdict::Failed(failure) => (
            Some(failure.reason.clone()),
            failure.failure_line.clone(),
            failure.diff.as_deref().map(plain),
            Some(plain(&failure.output)).filter(|text| !text.is_empty()),
            Some(failure.kind.name()),
        ),
    };
    json!({
        "name": entry.name,
        "status": status_word(&entry.verdict),
        "time": seconds(entry.time),
        "reason": reason,
        "kind": kind,
        "failure_line": failure_line,
        "diff": diff,
        "output": output,
    })
}

// ---- Gradescope ----

/// Gradescope's `results.json`. A skipped script is reported as skipped
/// (its `status` is `"skipped"`, its output starts `skipped: REASON`) and
/// scores 0 of its points: nothing was checked, so nothing was earned, and
/// keeping its `max_score` keeps the total honest and the lost points
/// visible to the teacher (whose grading machine lacks what it requires).
fn gradescope(entries: &[Entry], summary: &str) -> String {
    let tests: Vec<Value> = entries.iter().map(gradescope_test).collect();
    // Folded from +0.0: an empty sum of f64 is -0.0, shown as `-0.0`.
    let score = entries
        .iter()
        .map(earned)
        .fold(0.0, |sum, points| sum + points);
    let report = json!({
        "score": round_points(score),
        "output": summary,
        "tests": tests,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("JSON values always serialize");
    text.push('\n');
    text
}

fn earned(entry: &Entry) -> f64 {
    match entry.verdict {
        Verdict::Passed | Verdict::Blessed { .. } => entry.points,
        _ => 0.0,
    }
}

/// Sums of decimals such as 0.1 + 0.2 are shown as 0.3.
fn round_points(points: f64) -> f64 {
    (points * 1e6).round() / 1e6
}

fn gradescope_test(entry: &Entry) -> Value {
    let mut test = json!({
        "name": entry.name,
        "score": round_points(earned(entry)),
        "max_score": round_points(entry.points),
        "status": status_word(&entry.verdict),
    });
    let output = match &entry.verdict {
        Verdict::Passed | Verdict::Blessed { .. } => String::new(),
        Verdict::Skipped { reason } => format!(
            "skipped: {reason}\nNothing was checked on the grading machine, so no points were given."
        ),
        Verdict::Failed(failure) => gradescope_output(failure),
    };
    if !output.is_empty() {
        test["output"] = Value::String(bounded(output, GRADESCOPE_OUTPUT_LIMIT));
    }
    test
}

fn gradescope_output(failure: &Failure) -> String {
    let mut text = format!("failed: {}\n", failure.reason);
    if let Some(line) = &failure.failure_line {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&details(failure));
    text
}

/// `text` cut to `limit` bytes (at a character boundary), saying so.
fn bounded(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = text.len() - cut;
    text.truncate(cut);
    let _ = write!(text, "\n... ({dropped} more bytes not shown)");
    text
}

/// The points a script is worth: the number on its first `# points: N`
/// comment line (N >= 0, decimals allowed), else 1. A script that cannot
/// be read keeps the default: its own entry says why it failed.
pub(crate) fn points_of(script: &Path) -> Result<f64, String> {
    let Ok(file) = File::open(script) else {
        return Ok(1.0);
    };
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        if let Some(value) = points_comment(&line) {
            return parse_points(value).ok_or_else(|| {
                let value = value.trim();
                format!(
                    "{}:{}: '# points: {value}': not a number of points (0 or more, e.g. 2 or 0.5)",
                    script.display(),
                    index + 1
                )
            });
        }
    }
    Ok(1.0)
}

/// The text after `points:` on a `# points: N` line.
fn points_comment(line: &str) -> Option<&str> {
    let comment = line.trim_start().strip_prefix('#')?.trim_start();
    let (key, value) = comment.split_once(':')?;
    key.eq_ignore_ascii_case("points").then_some(value)
}

fn parse_points(value: &str) -> Option<f64> {
    let points: f64 = value.trim().parse().ok()?;
    (points.is_finite() && points >= 0.0).then_some(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, verdict: Verdict, points: f64) -> Entry {
        Entry {
            name: name.to_owned(),
            verdict,
            time: Duration::from_millis(1500),
            points,
        }
    }

    fn sample() -> Vec<Entry> {
        let failure = Failure {
            kind: FailureKind::Mismatch,
            reason: "transcript differs from b.out".into(),
            failure_line: Some("b.sock:2: expect: got b'x'".into()),
            diff: Some("\u{1b}[31m-a\u{1b}[0m\n".into()),
            output: String::new(),
        };
        vec![
            entry("t/a.sock", Verdict::Passed, 2.5),
            entry("t/b.sock", Verdict::Failed(failure), 1.0),
            entry(
                "t/c#1.sock",
                Verdict::Skipped {
                    reason: "no IPv6".into(),
                },
                0.5,
            ),
        ]
    }

    #[test]
    fn a_spec_names_a_known_format_and_a_file() {
        let spec: ReportSpec = "junit=out/r.xml".parse().expect("valid");
        assert_eq!(spec.format, ReportFormat::Junit);
        assert_eq!(spec.file, Path::new("out/r.xml"));
        assert!("xml=r.xml"
            .parse::<ReportSpec>()
            .unwrap_err()
            .contains("unknown report format 'xml'"));
        assert!("junit"
            .parse::<ReportSpec>()
            .unwrap_err()
            .contains("FORMAT=FILE"));
        assert!("junit=".parse::<ReportSpec>().is_err());
    }

    #[test]
    fn json_has_one_object_per_script_with_plain_text() {
        let parsed: Value = serde_json::from_str(&json_report(&sample())).expect("JSON");
        let array = parsed.as_array().expect("an array");
        assert_eq!(array.len(), 3);
        assert_eq!(array[0]["status"], "passed");
        assert_eq!(array[0]["time"], 1.5);
        assert_eq!(array[1]["status"], "failed");
        assert_eq!(array[1]["failure_line"], "b.sock:2: expect: got b'x'");
        assert_eq!(array[1]["diff"], "-a\n", "styles stripped");
        assert_eq!(array[2]["status"], "skipped");
        assert_eq!(array[2]["reason"], "no IPv6");
    }

    #[test]
    fn gradescope_scores_passes_only_and_reports_skips_as_skipped() {
        let parsed: Value = serde_json::from_str(&gradescope(&sample(), "1 passed")).expect("JSON");
        assert_eq!(parsed["score"], 2.5);
        let tests = parsed["tests"].as_array().expect("tests");
        assert_eq!(tests[0]["max_score"], 2.5);
        assert_eq!(tests[0]["score"], 2.5);
        assert_eq!(tests[1]["score"], 0.0);
        assert_eq!(tests[1]["status"], "failed");
        assert!(tests[1]["output"]
            .as_str()
            .expect("output")
            .contains("b.sock:2: expect"));
        assert_eq!(tests[2]["score"], 0.0);
        assert_eq!(tests[2]["max_score"], 0.5);
        assert_eq!(
            tests[2]["status"], "skipped",
            "skipped, neither passed nor failed"
        );
        assert!(tests[2]["output"]
            .as_str()
            .expect("output")
            .starts_with("skipped: no IPv6"));
    }

    #[test]
    fn tap_escapes_hashes_and_marks_skips() {
        let text = tap(&sample());
        assert!(
            text.starts_with("TAP version 14\n1..3\nok 1 - t/a.sock\nnot ok 2 - t/b.sock\n  ---\n")
        );
        assert!(
            text.ends_with("  ...\nok 3 - t/c\\#1.sock # SKIP no IPv6\n"),
            "{text}"
        );
    }

    #[test]
    fn yaml_quoting_escapes_what_yaml_cannot_hold_raw() {
        assert_eq!(yaml_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(yaml_quote("\u{85}\u{7}é"), "\"\\u0085\\u0007é\"");
    }

    #[test]
    fn junit_marks_failures_errors_and_skips() {
        let mut entries = sample();
        entries.push(entry(
            "t/deep",
            Verdict::Failed(Failure::bare(FailureKind::Refused, "cannot read".into())),
            1.0,
        ));
        let xml = junit(&entries, Duration::from_secs(3)).expect("xml");
        assert!(
            xml.contains(r#"tests="4" skipped="1" failures="1" errors="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="a.sock" classname="t" time="1.500"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<skipped message="no IPv6"/>"#), "{xml}");
    }

    #[test]
    fn points_come_from_the_first_points_comment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("p.sock");
        std::fs::write(&script, "# a lesson\n  #Points: 2.5\n# points: 9\n").expect("write");
        assert_eq!(points_of(&script), Ok(2.5));
        std::fs::write(&script, "print hi\n").expect("write");
        assert_eq!(points_of(&script), Ok(1.0));
        std::fs::write(&script, "\n# points: lots\n").expect("write");
        let error = points_of(&script).expect_err("not a number");
        assert!(
            error.ends_with(
                "p.sock:2: '# points: lots': not a number of points (0 or more, e.g. 2 or 0.5)"
            ),
            "{error}"
        );
        std::fs::write(&script, "# points: -1\n").expect("write");
        assert!(points_of(&script).is_err());
    }

    #[test]
    fn long_output_is_cut_at_a_character_boundary() {
        let cut = bounded("éééé".into(), 3);
        assert_eq!(cut, "é\n... (6 more bytes not shown)");
        assert_eq!(bounded("short".into(), 10), "short");
    }
}

//! The verdict on one script, reached in the worker that ran it.
//!
//! Judging where the child ran (diff included) keeps the slow part off the
//! reporting thread, and lets the raw output be dropped at once: results
//! waiting to be reported in path order hold only what a report shows.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use super::child::{ChildRun, Ending, Launcher, CAPTURE_LIMIT, SKIP_STATUS};
use super::diff::{tail, unified_diff};
use super::files::{read_expected, write_blessed};
use crate::duration::format_duration;

/// Lines of transcript (and of stderr) shown for a failure without a diff.
const TAIL_LINES: usize = 20;

/// The exit status of a Rust panic.
const PANIC_STATUS: i32 = 101;

/// What became of one script (or of a path that could not be tested).
#[derive(Debug)]
pub(crate) enum Verdict {
    Passed,
    /// `--bless` wrote this `.out`; `new` if there was none before.
    Blessed {
        out_file: PathBuf,
        new: bool,
    },
    Skipped {
        reason: String,
    },
    Failed(Failure),
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    /// Why, in one line: "transcript differs from echo.out".
    pub reason: String,
    /// The transcript's `FILE:LINE: COMMAND: MESSAGE` line, if it has one.
    pub failure_line: Option<String>,
    /// A (bounded) unified diff against the `.out`, styled.
    pub diff: Option<String>,
    /// The ends of the transcript and of stderr, styled.
    pub output: String,
}

/// What sort of failure, for reports that classify them (JUnit's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The transcript differs from the `.out`.
    Mismatch,
    /// No `.out`, and the script did not run to its end.
    Unsuccessful,
    /// Ran past the script timeout.
    Timeout,
    /// The child panicked or a signal ended it.
    Crash,
    /// `--bless` would not record a script that never started.
    NotBlessed,
    /// A link, an unreadable folder, an `.out` that is not a regular file.
    Refused,
    /// The child could not be started, or its `.out` not written.
    Error,
    /// The run stopped before this script finished.
    NotRun,
}

impl FailureKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Mismatch => "mismatch",
            Self::Unsuccessful => "unsuccessful",
            Self::Timeout => "script-timeout",
            Self::Crash => "crash",
            Self::NotBlessed => "not-blessed",
            Self::Refused => "refused",
            Self::Error => "error",
            Self::NotRun => "not-run",
        }
    }
}

impl Failure {
    /// A failure with nothing to show but its reason.
    pub(crate) fn bare(kind: FailureKind, reason: String) -> Self {
        Failure {
            kind,
            reason,
            failure_line: None,
            diff: None,
            output: String::new(),
        }
    }

    /// A failure that shows the ends of the transcript and stderr.
    fn with_output(kind: FailureKind, reason: String, run: &ChildRun) -> Self {
        Failure {
            kind,
            reason,
            failure_line: failure_line(&run.stdout),
            diff: None,
            output: transcript_and_stderr(run),
        }
    }
}

/// Runs `script` and judges it; also returns how long the child ran.
pub(crate) fn check_script(launcher: &Launcher, script: &Path, bless: bool) -> (Verdict, Duration) {
    let run = match launcher.run(script) {
        Ok(run) => run,
        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
            return (not_run(), Duration::ZERO);
        }
        Err(err) => {
            let program = launcher.program.display();
            let reason = format!("cannot run {program}: {err}");
            return (
                failed(Failure::bare(FailureKind::Error, reason)),
                Duration::ZERO,
            );
        }
    };
    let verdict = match run.ending {
        Ending::TimedOut(limit) => {
            let limit = format_duration(limit);
            let reason =
                format!("ran longer than the {limit} script timeout: ended with its programs");
            failed(Failure::with_output(FailureKind::Timeout, reason, &run))
        }
        Ending::Stopped => not_run(),
        Ending::Exited(status) => judge_exit(script, &run, status, bless),
    };
    (verdict, run.elapsed)
}

/// The verdict on a script the run never got to (or had to cut short).
pub(crate) fn not_run() -> Verdict {
    let reason = "not run to its end: the test run was stopped".to_owned();
    failed(Failure::bare(FailureKind::NotRun, reason))
}

fn failed(failure: Failure) -> Verdict {
    Verdict::Failed(failure)
}

fn judge_exit(script: &Path, run: &ChildRun, status: ExitStatus, bless: bool) -> Verdict {
    if let Some(reason) = &run.skip {
        return judge_skip(run, status, reason);
    }
    match status.code() {
        // No code at all means a signal ended it.
        Some(PANIC_STATUS) | None => {
            let reason = format!("sockrepl crashed ({status})");
            failed(Failure::with_output(FailureKind::Crash, reason, run))
        }
        Some(_) if run.stdout_truncated => {
            let reason = format!(
                "the transcript is longer than {} MiB: too long to compare",
                CAPTURE_LIMIT >> 20
            );
            failed(Failure::with_output(FailureKind::Error, reason, run))
        }
        Some(_) => judge_transcript(script, run, status, bless),
    }
}

/// A skip counts only when the channel said so and the child then exited
/// with the skip status, as a skipping child does.
fn judge_skip(run: &ChildRun, status: ExitStatus, reason: &str) -> Verdict {
    if status.code() != Some(SKIP_STATUS) {
        let reason = format!("reported a skip but then exited with {status}");
        return failed(Failure::with_output(FailureKind::Crash, reason, run));
    }
    let reason = if reason.is_empty() {
        skip_reason_from(&run.stdout)
    } else {
        reason.to_owned()
    };
    Verdict::Skipped { reason }
}

/// Compares (or with `bless`, records) the transcript of a script that ran
/// normally: 0, 1, 2, or the status its `exit` gave.
fn judge_transcript(script: &Path, run: &ChildRun, status: ExitStatus, bless: bool) -> Verdict {
    let out_file = script.with_extension("out");
    let expected = match read_expected(&out_file) {
        Ok(expected) => expected,
        Err(reason) => return failed(Failure::with_output(FailureKind::Refused, reason, run)),
    };
    match expected {
        Some(expected) if expected == run.stdout => Verdict::Passed,
        _ if bless && never_started(run, status) => {
            let reason = format!(
                "not blessed: it failed before its first command ran ({status}); \
                 fix the script, or write {} by hand",
                out_file.display()
            );
            failed(Failure::with_output(FailureKind::NotBlessed, reason, run))
        }
        _ if bless => bless_transcript(out_file, expected.is_none(), run),
        Some(expected) => failed(mismatch(script, &out_file, &expected, run)),
        None if status.success() => Verdict::Passed,
        None => {
            let what = match status.code() {
                Some(2) => "syntax or usage error",
                _ => "the script failed",
            };
            let out_name = out_file.display();
            let reason = format!("{what} ({status}) and there is no {out_name}");
            failed(Failure::with_output(FailureKind::Unsuccessful, reason, run))
        }
    }
}

fn bless_transcript(out_file: PathBuf, new: bool, run: &ChildRun) -> Verdict {
    match write_blessed(&out_file, &run.stdout) {
        Ok(()) => Verdict::Blessed { out_file, new },
        Err(reason) => failed(Failure::with_output(FailureKind::Refused, reason, run)),
    }
}

fn mismatch(script: &Path, out_file: &Path, expected: &[u8], run: &ChildRun) -> Failure {
    let out_name = out_file.display().to_string();
    let diff = unified_diff(
        expected,
        &run.stdout,
        &out_name,
        &script.display().to_string(),
    );
    Failure {
        kind: FailureKind::Mismatch,
        reason: format!("transcript differs from {out_name}"),
        failure_line: failure_line(&run.stdout),
        diff: Some(diff),
        output: stderr_tail(run),
    }
}

/// Status 2 with no command echoed (`> ...`): rejected before it ran (a
/// syntax error, a missing variable, an unreadable file, a usage error),
/// as opposed to a script that ran and then said `exit 2`.
fn never_started(run: &ChildRun, status: ExitStatus) -> bool {
    status.code() == Some(2)
        && !run
            .stdout
            .split(|b| *b == b'\n')
            .any(|l| l.starts_with(b"> "))
}

fn transcript_and_stderr(run: &ChildRun) -> String {
    let mut text = tail("transcript", &run.stdout, TAIL_LINES);
    text.push_str(&stderr_tail(run));
    text
}

fn stderr_tail(run: &ChildRun) -> String {
    if run.stderr.is_empty() {
        String::new()
    } else {
        tail("stderr", &run.stderr, TAIL_LINES)
    }
}

/// The transcript's failure line (`FILE:LINE: COMMAND: MESSAGE`): its last
/// line, when that has this form; for a script rejected before it ran, its
/// first error.
pub(crate) fn failure_line(stdout: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let ran = text.lines().any(|line| line.starts_with("> "));
    let candidate = if ran { lines.next_back() } else { lines.next() }?;
    is_failure_line(candidate).then(|| candidate.to_owned())
}

/// `NAME:DIGITS: REST` with a non-empty NAME that is not an echoed command.
fn is_failure_line(line: &str) -> bool {
    if line.starts_with("> ") {
        return false;
    }
    line.match_indices(':').any(|(at, _)| {
        let rest = &line[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        at > 0 && digits > 0 && rest[digits..].starts_with(": ")
    })
}

/// Where the child gave no reason: the transcript ends with the `require`
/// line's `skipped: REASON` outcome.
fn skip_reason_from(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().rev().find(|line| !line.trim().is_empty());
    match last {
        Some(line) => line.strip_prefix("skipped: ").unwrap_or(line).to_owned(),
        None => "a required feature is missing".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn run_with(code: i32, stdout: &[u8]) -> (ChildRun, ExitStatus) {
        let status = exited(code);
        let run = ChildRun {
            ending: Ending::Exited(status),
            stdout: stdout.to_vec(),
            stdout_truncated: false,
            stderr: vec![],
            skip: None,
            elapsed: Duration::ZERO,
        };
        (run, status)
    }

    #[test]
    fn judging_compares_bytes_and_blesses_only_on_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("echo.sock");
        let out_file = dir.path().join("echo.out");
        let transcript = b"> a\necho.sock:2: fail: boom\n";

        let (run, status) = run_with(1, transcript);
        let verdict = judge_transcript(&script, &run, status, false);
        let Verdict::Failed(failure) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(failure.kind, FailureKind::Unsuccessful);
        assert_eq!(
            failure.failure_line.as_deref(),
            Some("echo.sock:2: fail: boom")
        );

        let verdict = judge_transcript(&script, &run, status, true);
        assert!(
            matches!(verdict, Verdict::Blessed { new: true, .. }),
            "{verdict:?}"
        );
        assert_eq!(std::fs::read(&out_file).expect("blessed"), transcript);
        assert!(matches!(
            judge_transcript(&script, &run, status, false),
            Verdict::Passed
        ));

        let (run, status) = run_with(0, b"> a\necho.sock:2: fail: boon\n");
        let verdict = judge_transcript(&script, &run, status, false);
        let Verdict::Failed(failure) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(failure.kind, FailureKind::Mismatch);
        assert!(failure.diff.expect("a diff").contains("boon"));
    }

    #[test]
    fn bless_refuses_a_script_that_never_started_but_not_one_that_exited_2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("bad.sock");
        let (run, status) = run_with(2, b"bad.sock:1: frob: unknown command 'frob'\n");
        let verdict = judge_transcript(&script, &run, status, true);
        let Verdict::Failed(failure) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(failure.kind, FailureKind::NotBlessed);
        assert!(!dir.path().join("bad.out").exists());

        let (run, status) = run_with(2, b"> exit 2\n");
        let verdict = judge_transcript(&script, &run, status, true);
        assert!(matches!(verdict, Verdict::Blessed { .. }), "{verdict:?}");
    }

    #[test]
    fn a_skip_needs_the_channel_and_the_skip_status() {
        let (mut run, status) = run_with(SKIP_STATUS, b"> require raw\nskipped: no raw\n");
        assert!(matches!(
            judge_exit(Path::new("x.sock"), &run, status, false),
            Verdict::Failed(_)
        ));
        run.skip = Some(String::new());
        let verdict = judge_exit(Path::new("x.sock"), &run, status, false);
        assert!(
            matches!(&verdict, Verdict::Skipped { reason } if reason == "no raw"),
            "{verdict:?}"
        );
        let (mut run, status) = run_with(0, b"");
        run.skip = Some("no raw".into());
        let verdict = judge_exit(Path::new("x.sock"), &run, status, false);
        assert!(matches!(verdict, Verdict::Failed(_)), "{verdict:?}");
    }

    #[test]
    fn the_failure_line_is_the_last_line_or_the_first_syntax_error() {
        assert_eq!(
            failure_line(b"> connect c 127.0.0.1:1\nt.sock:3: connect: ECONNREFUSED\n").as_deref(),
            Some("t.sock:3: connect: ECONNREFUSED")
        );
        assert_eq!(failure_line(b"> print a\na\n"), None);
        assert_eq!(
            failure_line(b"t.sock:1: a: x\nt.sock:2: b: y\n").as_deref(),
            Some("t.sock:1: a: x")
        );
        assert!(!is_failure_line("connected 127.0.0.1:80 -> x"));
        assert!(!is_failure_line(":1: x"));
    }

    #[test]
    fn a_skip_reason_is_the_last_non_blank_line_of_the_transcript() {
        assert_eq!(
            skip_reason_from(b"> require ipv6\nskipped: not available\n\n"),
            "not available"
        );
        assert_eq!(skip_reason_from(b""), "a required feature is missing");
    }
}

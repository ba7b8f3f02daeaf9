//! Showing a person what went wrong: unified diffs and output tails,
//! bounded in time and size whatever the outputs are.
//!
//! Everything is written with ANSI styles; the caller's `anstream` stream
//! strips them when stdout is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

const REMOVED: Style = AnsiColor::Red.on_default();
const ADDED: Style = AnsiColor::Green.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const HEADER: Style = Style::new().bold();

const NO_NEWLINE: &str = "\\ No newline at end of file";

/// Beyond this many lines on either side a full diff is not attempted (the
/// diff's time grows with the product of the sides): the first difference
/// and the sizes are shown instead.
pub(crate) const DIFF_LINE_LIMIT: usize = 10_000;

/// Within the line limit, a diff that still takes longer settles for a
/// coarser (but correct) result.
const DIFF_TIME_LIMIT: Duration = Duration::from_secs(1);

/// Lines of diff shown; the rest is counted, not printed.
const SHOWN_DIFF_LINES: usize = 400;

/// Characters of one line shown; a 10 MB line is cut, and says so.
const SHOWN_LINE_CHARS: usize = 500;

/// How `expected` and `actual` differ: a unified diff (3 lines of context)
/// when both are small enough, else where they first differ.
pub(crate) fn unified_diff(
    expected: &[u8],
    actual: &[u8],
    expected_name: &str,
    actual_name: &str,
) -> String {
    let expected_text = String::from_utf8_lossy(expected);
    let actual_text = String::from_utf8_lossy(actual);
    let mut out = String::new();
    paint(&mut out, HEADER, &format!("--- {expected_name} (expected)"));
    paint(
        &mut out,
        HEADER,
        &format!("+++ {actual_name} (actual transcript)"),
    );
    if expected_text == actual_text {
        // Only possible when the bytes differ where they are not UTF-8.
        out.push_str("(the files differ only in bytes that are not valid UTF-8)\n");
        return out;
    }
    let sizes = (line_count(&expected_text), line_count(&actual_text));
    if sizes.0.max(sizes.1) > DIFF_LINE_LIMIT {
        first_difference(&mut out, &expected_text, &actual_text, expected_name, sizes);
    } else {
        hunks(&mut out, &expected_text, &actual_text);
    }
    out
}

fn line_count(text: &str) -> usize {
    text.lines().count()
}

fn hunks(out: &mut String, expected: &str, actual: &str) {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIME_LIMIT)
        .diff_lines(expected, actual);
    let mut shown = Shown::default();
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        shown.line(out, HUNK, &hunk.header().to_string());
        for change in hunk.iter_changes() {
            let (sign, style) = match change.tag() {
                ChangeTag::Delete => ('-', REMOVED),
                ChangeTag::Insert => ('+', ADDED),
                ChangeTag::Equal => (' ', Style::new()),
            };
            let line = change.to_string_lossy();
            let line = line.strip_suffix('\n').unwrap_or(&line);
            shown.line(out, style, &format!("{sign}{}", cut(line)));
            if change.missing_newline() {
                shown.line(out, style, NO_NEWLINE);
            }
        }
    }
    shown.finish(out);
}

/// Counts the diff lines past [`SHOWN_DIFF_LINES`] instead of printing them.
#[derive(Default)]
struct Shown {
    lines: usize,
}

impl Shown {
    fn line(&mut self, out: &mut String, style: Style, line: &str) {
        self.lines += 1;
        if self.lines <= SHOWN_DIFF_LINES {
            paint(out, style, line);
        }
    }

    fn finish(self, out: &mut String) {
        if let Some(hidden) = self.lines.checked_sub(SHOWN_DIFF_LINES).filter(|n| *n > 0) {
            paint(
                out,
                HUNK,
                &format!("... {hidden} more lines of diff not shown"),
            );
        }
    }
}

/// The summary used when the outputs are too long to diff: sizes, then the
/// first line where they part (linear time, whatever the sizes).
fn first_difference(
    out: &mut String,
    expected: &str,
    actual: &str,
    expected_name: &str,
    (expected_lines, actual_lines): (usize, usize),
) {
    let (mut old, mut new) = (expected.split_inclusive('\n'), actual.split_inclusive('\n'));
    let mut number = 1;
    let (old_line, new_line) = loop {
        match (old.next(), new.next()) {
            (Some(a), Some(b)) if a == b => number += 1,
            pair => break pair,
        }
    };
    let _ = writeln!(
        out,
        "the transcript has {actual_lines} lines, {expected_name} has {expected_lines}: \
         too long for a full diff; first difference at line {number}:"
    );
    for (line, sign, style) in [(old_line, '-', REMOVED), (new_line, '+', ADDED)] {
        match line {
            Some(line) => {
                let text = line.strip_suffix('\n').unwrap_or(line);
                paint(out, style, &format!("{sign}{}", cut(text)));
                if !line.ends_with('\n') {
                    paint(out, style, NO_NEWLINE);
                }
            }
            None => paint(
                out,
                style,
                &format!("{sign}(no line {number}: the text ends here)"),
            ),
        }
    }
}

/// `line`, cut to [`SHOWN_LINE_CHARS`] characters with a note of the rest.
fn cut(line: &str) -> std::borrow::Cow<'_, str> {
    match line.char_indices().nth(SHOWN_LINE_CHARS) {
        None => line.into(),
        Some((at, _)) => format!("{}... ({} more bytes)", &line[..at], line.len() - at).into(),
    }
}

/// The last `max_lines` lines of `bytes`, each indented under a `label` line,
/// e.g. "  transcript (last 20 of 45 lines):".
pub(crate) fn tail(label: &str, bytes: &[u8], max_lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let total = line_count(&text);
    let shown: Vec<&str> = text.lines().skip(total.saturating_sub(max_lines)).collect();
    let mut out = String::new();
    if total == 0 {
        let _ = writeln!(out, "  {label}: (empty)");
    } else if shown.len() < total {
        let _ = writeln!(out, "  {label} (last {} of {total} lines):", shown.len());
    } else {
        let _ = writeln!(out, "  {label}:");
    }
    for line in shown {
        let _ = writeln!(out, "  | {}", cut(line));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = writeln!(out, "  {NO_NEWLINE}");
    }
    out
}

/// One line in `style`, reset before the newline so colour never bleeds.
pub(crate) fn paint(out: &mut String, style: Style, line: &str) {
    let _ = writeln!(out, "{}{line}{}", style.render(), style.render_reset());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(styled: &str) -> String {
        let mut stripped = Vec::new();
        let mut stream = anstream::StripStream::new(&mut stripped);
        std::io::Write::write_all(&mut stream, styled.as_bytes()).expect("write");
        String::from_utf8(stripped).expect("utf-8")
    }

    #[test]
    fn diff_has_headers_hunk_line_numbers_and_three_lines_of_context() {
        let expected = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let actual = b"1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let diff = plain(&unified_diff(expected, actual, "echo.out", "echo.sock"));
        assert_eq!(
            diff,
            "--- echo.out (expected)\n\
             +++ echo.sock (actual transcript)\n\
             @@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn diff_marks_a_missing_trailing_newline() {
        let diff = plain(&unified_diff(b"a\nb\n", b"a\nb", "x.out", "x.sock"));
        assert!(
            diff.ends_with("@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"),
            "{diff}"
        );
    }

    #[test]
    fn diff_is_coloured_before_stripping() {
        let diff = unified_diff(b"a\n", b"b\n", "x.out", "x.sock");
        assert!(diff.contains(&format!("{}-a{}", REMOVED.render(), REMOVED.render_reset())));
        assert!(diff.contains(&format!("{}+b", ADDED.render())));
        assert!(diff.contains(&format!("{}@@ -1 +1 @@", HUNK.render())));
    }

    #[test]
    fn diff_explains_a_difference_invisible_after_lossy_decoding() {
        let diff = plain(&unified_diff(b"\xff\n", b"\xfe\n", "x.out", "x.sock"));
        assert!(diff.contains("not valid UTF-8"), "{diff}");
    }

    #[test]
    fn tail_keeps_the_last_lines_and_says_how_many_it_dropped() {
        let text: String = (1..=25).map(|n| format!("line {n}\n")).collect();
        let shown = tail("transcript", text.as_bytes(), 20);
        assert!(shown.starts_with("  transcript (last 20 of 25 lines):\n  | line 6\n"));
        assert!(shown.ends_with("  | line 25\n"));
        assert_eq!(
            tail("stderr", b"oops", 20),
            "  stderr:\n  | oops\n  \\ No newline at end of file\n"
        );
        assert_eq!(tail("transcript", b"", 20), "  transcript: (empty)\n");
    }

    #[test]
    fn a_huge_transcript_against_a_short_out_is_summarised_at_once() {
        let actual: String = (1..=100_000)
            .map(|n| format!("> print line {n}\n"))
            .collect();
        let started = std::time::Instant::now();
        let diff = plain(&unified_diff(
            b"zzz\n",
            actual.as_bytes(),
            "big.out",
            "big.sock",
        ));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            diff,
            "--- big.out (expected)\n+++ big.sock (actual transcript)\n\
             the transcript has 100000 lines, big.out has 1: too long for a full diff; \
             first difference at line 1:\n-zzz\n+> print line 1\n"
        );
        let diff = plain(&unified_diff(actual.as_bytes(), b"", "big.out", "big.sock"));
        assert!(
            diff.ends_with("-> print line 1\n+(no line 1: the text ends here)\n"),
            "{diff}"
        );
    }

    #[test]
    fn a_long_diff_shows_its_first_lines_and_counts_the_rest() {
        let expected: String = (1..=3000).map(|n| format!("{n}\n")).collect();
        let actual: String = (1..=3000).map(|n| format!("x{n}\n")).collect();
        let diff = plain(&unified_diff(
            expected.as_bytes(),
            actual.as_bytes(),
            "a",
            "b",
        ));
        assert_eq!(
            diff.lines().count(),
            2 + SHOWN_DIFF_LINES + 1,
            "headers, lines, note"
        );
        assert!(
            diff.ends_with(&format!(
                "... {} more lines of diff not shown\n",
                6001 - SHOWN_DIFF_LINES
            )),
            "{}",
            &diff[diff.len() - 200..]
        );
    }

    #[test]
    fn a_very_long_line_is_cut_and_says_so() {
        let long = "y".repeat(SHOWN_LINE_CHARS + 10);
        assert_eq!(
            cut(&long),
            format!("{}... (10 more bytes)", "y".repeat(SHOWN_LINE_CHARS))
        );
        assert_eq!(cut("short"), "short");
    }
}

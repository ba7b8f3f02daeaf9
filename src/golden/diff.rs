//! Showing a person what went wrong: unified diffs and output tails.
//!
//! Everything is written with ANSI styles; the caller's `anstream` stream
//! strips them when stdout is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

const REMOVED: Style = AnsiColor::Red.on_default();
const ADDED: Style = AnsiColor::Green.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();
const HEADER: Style = Style::new().bold();

const NO_NEWLINE: &str = "\\ No newline at end of file";

/// A unified diff (3 lines of context) from `expected` to `actual`.
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
    let diff = TextDiff::from_lines(&*expected_text, &*actual_text);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        paint(&mut out, HUNK, &hunk.header().to_string());
        for change in hunk.iter_changes() {
            let (sign, style) = match change.tag() {
                ChangeTag::Delete => ('-', REMOVED),
                ChangeTag::Insert => ('+', ADDED),
                ChangeTag::Equal => (' ', Style::new()),
            };
            let line = change.to_string_lossy();
            let line = line.strip_suffix('\n').unwrap_or(&line);
            paint(&mut out, style, &format!("{sign}{line}"));
            if change.missing_newline() {
                paint(&mut out, style, NO_NEWLINE);
            }
        }
    }
    out
}

/// The last `max_lines` lines of `bytes`, each indented under a `label` line,
/// e.g. "  transcript (last 20 of 45 lines):".
pub(crate) fn tail(label: &str, bytes: &[u8], max_lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let shown = &lines[lines.len().saturating_sub(max_lines)..];
    let mut out = String::new();
    if lines.is_empty() {
        let _ = writeln!(out, "  {label}: (empty)");
    } else if shown.len() < lines.len() {
        let _ = writeln!(
            out,
            "  {label} (last {} of {} lines):",
            shown.len(),
            lines.len()
        );
    } else {
        let _ = writeln!(out, "  {label}:");
    }
    for line in shown {
        let _ = writeln!(out, "  | {line}");
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
}

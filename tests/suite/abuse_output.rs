//! Issue 14, output that cannot be forged: whatever a script, its
//! arguments, a peer or a file name holds, every transcript line is one
//! line and no escape sequence reaches the terminal.
//!
//! Each test reproduces one item of the issue (docs/testing.md maps them).

use crate::common::Sock;

/// No control byte but the newline in the output: nothing for a terminal
/// to obey (ESC, BEL, CR, C1's 0x9b as UTF-8).
fn assert_terminal_safe(text: &str) {
    for (at, c) in text.char_indices() {
        assert!(
            !c.is_control() || c == '\n',
            "control character {c:?} at byte {at} in:\n{text}"
        );
    }
}

#[test]
fn issue14_print_of_literal_text_escapes_control_characters() {
    // The script itself holds ESC ] 0 ; ... BEL (set the terminal's title),
    // a CSI that clears the screen, a C1 CSI and a backspace.
    let run = Sock::script("print \x1b]0;pwned\x07 \x1b[2J \u{9b}31m a\x08b\n").run();
    run.assert_status(0);
    assert_terminal_safe(&run.stdout);
    run.assert_stdout_contains("\n\\x1b]0;pwned\\x07 \\x1b[2J \\x9b31m a\\x08b\n");
}

#[test]
fn issue14_an_argument_with_a_newline_cannot_forge_a_transcript_line() {
    let run = Sock::script("print ${1}\n")
        .args(["ok\nt.sock:9: expect: ok: 12 bytes as expected"])
        .run();
    run.assert_status(0);
    assert_terminal_safe(&run.stdout);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    run.assert_stdout_contains("> print 'ok\\nt.sock:9: expect: ok: 12 bytes as expected'\n");
    run.assert_stdout_contains("\nok\\nt.sock:9: expect: ok: 12 bytes as expected\n");
}

#[test]
fn issue14_a_unix_path_with_a_newline_and_esc_is_shown_escaped() {
    let path = "./p\n> forged\x1b[2J.sock";
    let run = Sock::script(
        "socket srv unix\nbind srv ./srv.sock\nlisten srv\nsocket c unix\nbind c ${1}\n\
         connect c ./srv.sock\naccept srv conn\ngetpeername conn\nsockets\nclose c\n",
    )
    .args([path])
    .run();
    run.assert_status(0);
    assert_terminal_safe(&run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("> forged")),
        "{}",
        run.stdout
    );
    run.assert_stdout_contains("accepted conn from ./p\\n> forged\\x1b[2J.sock\n");
    run.assert_stdout_contains("closed (removed ./p\\n> forged\\x1b[2J.sock)\n");
}

#[test]
fn issue14_a_file_name_in_an_error_is_shown_escaped() {
    let run = Sock::script("socketpair a b\nsendall a --file ${1}\n")
        .args(["no\nsuch\x1b[31m"])
        .run();
    run.assert_status(1);
    assert_terminal_safe(&run.stdout);
    run.assert_last_line_starts("t.sock:2: sendall: cannot read no\\nsuch\\x1b[31m: ");
}

#[test]
fn issue14_an_error_that_quotes_input_stays_one_line() {
    // At parse time (a syntax error) and at run time (a variable's value).
    let run = Sock::script("socket c tcp\nsettimeout c ${1}\n")
        .args(["1x\nfake line"])
        .run();
    run.assert_status(2);
    assert_terminal_safe(&run.stdout);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let run = Sock::script("let d '1x\\nfake \\x1b[2J'\nsocket c tcp\nsettimeout c ${d}\n").run();
    run.assert_status(1);
    assert_terminal_safe(&run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("fake")),
        "{}",
        run.stdout
    );
}

#[test]
fn issue14_check_shows_a_bad_line_escaped() {
    let run = Sock::script("bogus\x1b[2J\x07\n")
        .with_cli(["check", "t.sock"])
        .run();
    run.assert_status(2);
    assert_terminal_safe(&run.stdout);
    run.assert_stdout_contains("bogus\\x1b[2J\\x07");
}

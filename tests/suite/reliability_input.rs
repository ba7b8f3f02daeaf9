//! Bad input (issue 5): whatever a student types or a script holds, sockrepl
//! answers with one clear error naming the file and line, exits 2 for a
//! syntax error (before running anything) or 1 for a run-time failure, and
//! never panics or hangs.
//!
//! Much is already covered elsewhere: `script.rs` (unknown commands,
//! arity, quoting, escapes, hex, UTF-8, 10 MB lines, handles),
//! `tests/golden/syntax/` (one script per message) and `fuzz_props.rs`
//! (mutated lines). This file adds what those do not reach: huge scripts,
//! the exact bad addresses of the issue, NUL bytes past line 1, unknown
//! `--options`, indirect `source` loops and unusable `--file`/`--into` paths.

use crate::common::{self, Sock};
use std::time::{Duration, Instant};

/// Asserts a rejected script: status 2, nothing ran, and `line` printed.
fn assert_syntax_error(run: &common::Run, line: &str) {
    run.assert_no_panic()
        .assert_status(2)
        .assert_nothing_ran()
        .assert_line(line);
}

// ---- a script of 1,000,000 lines --------------------------------------------

const MILLION: usize = 1_000_000;
const MILLION_LIMIT: Duration = Duration::from_secs(30);

/// Writes a million-line script (too big to inline through the builder's
/// watchdog nicely) whose lines come from `line(i)`.
fn million_lines(line: impl Fn(usize) -> &'static str) -> String {
    let mut script = String::with_capacity(MILLION * 12);
    for i in 0..MILLION {
        script.push_str(line(i));
        script.push('\n');
    }
    script
}

#[test]
fn a_million_line_script_runs_to_its_end() {
    let _core = common::cpu_heavy();
    let script = million_lines(|i| match i {
        0 => "socketpair a b",
        _ if i % 4 == 1 => "send a x",
        _ if i % 4 == 2 => "recv b",
        _ if i % 4 == 3 => "# a comment",
        _ => "",
    });
    let started = Instant::now();
    let run = Sock::script(&script).stable().guard(MILLION_LIMIT).run();
    eprintln!("1,000,000-line script ran in {:?}", started.elapsed());
    run.assert_no_panic().assert_status(0);
    assert_eq!(run.stdout.matches("\n> recv b\nb'x'\n").count(), 250_000);
}

#[test]
fn a_million_line_script_with_a_syntax_error_on_its_last_line_runs_nothing() {
    let _core = common::cpu_heavy();
    let script = million_lines(|i| {
        if i + 1 == MILLION {
            "sokcet s"
        } else {
            "print x"
        }
    });
    let started = Instant::now();
    let run = Sock::script(&script).guard(MILLION_LIMIT).run();
    eprintln!("1,000,000-line script rejected in {:?}", started.elapsed());
    assert_syntax_error(
        &run,
        "t.sock:1000000: sokcet: unknown command 'sokcet' (did you mean 'socket'?)",
    );
}

#[test]
fn check_of_a_million_line_script_counts_its_commands() {
    let _core = common::cpu_heavy();
    let script = million_lines(|_| "print x");
    let run = Sock::cli(["check", common::SCRIPT])
        .file(common::SCRIPT, script.as_bytes())
        .guard(MILLION_LIMIT)
        .run();
    run.assert_status(0)
        .assert_output_contains("t.sock: ok (1000000 commands)");
}

// ---- bad addresses and ports ----------------------------------------------------

#[test]
fn a_short_ipv4_address_is_a_syntax_error() {
    let run = Sock::script("print never\nsocket c tcp\nconnect c 1.2.3:80\n").run();
    assert_syntax_error(
        &run,
        "t.sock:3: connect: bad address '1.2.3:80': '1.2.3' is not an IPv4 address (A.B.C.D)",
    );
}

#[test]
fn an_ipv6_address_without_its_bracket_is_a_syntax_error() {
    let run = Sock::script("print never\nsocket c tcp6\nconnect c [::1\n").run();
    assert_syntax_error(
        &run,
        "t.sock:3: connect: bad address '[::1': '[' without its ']'",
    );
}

#[test]
fn a_port_above_65535_is_a_syntax_error() {
    let run = Sock::script("print never\nsocket c tcp\nconnect c host:99999\n").run();
    assert_syntax_error(
        &run,
        "t.sock:3: connect: bad port in 'host:99999': '99999' is not a number from 0 to 65535",
    );
}

/// Script arguments are known before the run, so a bad one is caught then.
#[test]
fn a_bad_address_passed_as_an_argument_runs_nothing() {
    for (arg, message) in [
        ("1.2.3:80", "bad address '1.2.3:80'"),
        ("[::1", "bad address '[::1'"),
        ("host:99999", "bad port in 'host:99999'"),
    ] {
        let run = Sock::script("print never\nsocket c tcp\nconnect c ${1}\n")
            .args([arg])
            .run();
        run.assert_status(2).assert_nothing_ran();
        run.assert_last_line_starts(&format!("t.sock:3: connect: {message}"));
    }
}

#[test]
fn bad_addresses_on_every_address_command_run_nothing() {
    for line in [
        "bind s 1.2.3:80",
        "connect_ex s [::1",
        "sendto u host:99999 x",
        "bind s 1.2.3.4.5:1",
        "connect s :",
        "bind s 127.0.0.1:-1",
    ] {
        let run = Sock::script(&format!(
            "print never\nsocket s tcp\nsocket u udp\n{line}\n"
        ))
        .run();
        let command = line.split(' ').next().unwrap();
        run.assert_status(2).assert_nothing_ran();
        run.assert_last_line_starts(&format!("t.sock:4: {command}: bad "));
    }
}

// ---- NUL bytes and invalid UTF-8 name their line -----------------------------------

#[test]
fn a_nul_byte_names_the_line_it_is_on() {
    let run = Sock::script_bytes(b"print a\nprint b\nprint c\0d\nprint e\n").run();
    run.assert_status(2).assert_nothing_ran();
    run.assert_last_line_starts("t.sock:3: ");
}

#[test]
fn invalid_utf8_in_a_sourced_file_names_that_file_and_line() {
    let run = Sock::script("print never\nsource part.inc\n")
        .file("part.inc", b"print ok\nprint \xff\n")
        .run();
    assert_syntax_error(
        &run,
        "t.sock:2: source: in part.inc:2: not valid UTF-8 (column 7)",
    );
}

// ---- unknown options ---------------------------------------------------------------------

/// An unknown `--word` after a command that takes options must be reported
/// as an unknown option (not as a bad MAX or a bad handle name).
#[test]
fn an_unknown_dash_dash_option_is_named_as_an_option() {
    for line in [
        "recv a --hexx",
        "recvfrom a --hexx",
        "recvall a --hexx",
        "poll a --hexx",
        "accept a --hexx",
    ] {
        let run = Sock::script(&format!("print never\nsocketpair a b\n{line}\n")).run();
        let command = line.split(' ').next().unwrap();
        run.assert_status(2).assert_nothing_ran();
        run.assert_last_line_starts(&format!("t.sock:3: {command}: "));
        assert!(
            run.last_line().contains("option '--hexx'"),
            "{line:?} does not say --hexx is an unknown option\n{}",
            run.show()
        );
    }
}

#[test]
fn options_without_their_values_run_nothing() {
    for (line, message) in [
        ("recvall a --into", "recvall: --into needs a value"),
        ("send a --hex", "send: --hex needs a value"),
        ("send a --file", "send: --file needs a value"),
        ("poll a --timeout", "poll: --timeout needs a value"),
        ("poll a --timeout soon", "poll: bad duration 'soon'"),
        ("expect a --hex 4", "expect: bad hex"),
    ] {
        let run = Sock::script(&format!("print never\nsocketpair a b\n{line}\n")).run();
        run.assert_status(2).assert_nothing_ran();
        run.assert_last_line_starts(&format!("t.sock:3: {message}"));
    }
}

#[test]
fn out_of_range_values_run_nothing() {
    for (line, message) in [
        (
            "sleep 99999999999999h",
            "sleep: bad duration '99999999999999h'",
        ),
        ("timeout -1s", "timeout: bad duration '-1s'"),
        ("listen s 99999999999", "listen: bad backlog '99999999999'"),
        ("recv s 0", "recv: bad MAX '0'"),
        (
            "setsockopt s SO_LINGER forever",
            "setsockopt: SO_LINGER takes seconds or off",
        ),
        ("setblocking s maybe", "setblocking: "),
        (
            "shutdown s sideways",
            "shutdown: 'sideways' is not read, write or both",
        ),
    ] {
        let run = Sock::script(&format!("print never\nsocket s tcp\n{line}\n")).run();
        run.assert_status(2).assert_nothing_ran();
        run.assert_last_line_starts(&format!("t.sock:3: {message}"));
    }
}

// ---- source loops ---------------------------------------------------------------------------

#[test]
fn a_script_sourcing_itself_by_another_spelling_is_a_loop() {
    for spelling in ["./t.sock", "sub/../t.sock", "link.sock"] {
        let run = Sock::script(&format!("print never\nsource {spelling}\n"))
            .file("sub/.keep", b"")
            .symlink("link.sock", "t.sock")
            .run();
        assert_syntax_error(
            &run,
            &format!("t.sock:2: source: {spelling} sources itself (a source loop)"),
        );
    }
}

#[test]
fn an_indirect_source_loop_runs_nothing() {
    let run = Sock::script("print never\nsource a.inc\n")
        .file("a.inc", b"print never-a\nsource b.inc\n")
        .file("b.inc", b"print never-b\nsource a.inc\n")
        .run();
    run.assert_status(2).assert_nothing_ran();
    run.assert_last_line_starts("t.sock:2: source: in a.inc:2: source: in b.inc:2: source: ");
    run.assert_stdout_contains("a source loop");
}

#[test]
fn sourcing_the_same_file_twice_is_not_a_loop() {
    let run = Sock::script("source part.inc\nsource part.inc\n")
        .file("part.inc", b"print part\n")
        .run();
    run.assert_status(0);
    assert_eq!(run.stdout.matches("\npart\n").count(), 2, "{}", run.show());
}

// ---- --file and --into paths that cannot be used ------------------------------------------

#[test]
fn a_missing_file_for_expect_fails_naming_it() {
    let run = Sock::script("socketpair a b\nexpect a --file nope.bin\nprint never\n").run();
    run.assert_status(1).assert_last_line(
        "t.sock:2: expect: cannot read nope.bin: ENOENT (No such file or directory)",
    );
}

#[test]
fn a_directory_given_as_file_fails_naming_it() {
    for command in [
        "send a --file dir",
        "sendall a --file dir",
        "expect a --file dir",
    ] {
        let run = Sock::script(&format!("socketpair a b\n{command}\nprint never\n"))
            .file("dir/.keep", b"")
            .run();
        let name = command.split(' ').next().unwrap();
        run.assert_status(1).assert_last_line_starts(&format!(
            "t.sock:2: {name}: cannot read dir: EISDIR (Is a directory)"
        ));
    }
}

#[test]
fn recvall_into_a_missing_directory_fails_naming_the_path() {
    let run = Sock::script("socketpair a b\nclose a\nrecvall b --into no/such/dir/out.bin\n").run();
    run.assert_status(1).assert_last_line(
        "t.sock:3: recvall: cannot write no/such/dir/out.bin: ENOENT (No such file or directory)",
    );
}

#[test]
fn recvall_into_a_directory_fails_naming_it() {
    let run = Sock::script("socketpair a b\nclose a\nrecvall b --into dir\n")
        .file("dir/.keep", b"")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recvall: cannot write dir: EISDIR (Is a directory)");
}

#[test]
fn files_a_normal_user_may_not_use_fail_naming_them() {
    skip_unless!(common::can_run_unprivileged());
    // Root's files in a directory nobody may enter: nobody can neither read
    // the one nor write the other.
    let private = tempfile::tempdir().unwrap();
    let secret = private.path().join("secret.bin");
    std::fs::write(&secret, b"secret").unwrap();
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(private.path(), owner_only).unwrap();
    let out = private.path().join("out.bin");
    let (secret, out) = (secret.display(), out.display());
    let run = Sock::stdin_script(&format!("socketpair a b\nsend a --file {secret}\n"))
        .unprivileged()
        .run();
    run.assert_status(1).assert_last_line(&format!(
        "<stdin>:2: send: cannot read {secret}: EACCES (Permission denied)"
    ));
    let run = Sock::stdin_script(&format!(
        "socketpair a b\nclose a\nrecvall b --into {out}\n"
    ))
    .unprivileged()
    .run();
    run.assert_status(1).assert_last_line(&format!(
        "<stdin>:3: recvall: cannot write {out}: EACCES (Permission denied)"
    ));
}

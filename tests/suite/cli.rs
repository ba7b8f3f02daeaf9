//! The command line (SPEC §1, §7): modes, global flags, exit statuses,
//! `check`, scripts on stdin, and the `--stable` transcript.

use crate::common::Sock;

/// A script that touches every kind of kernel-chosen value: fds, ports, tmp.
const RICH: &str = "\
socket srv tcp
bind srv 127.0.0.1:0
listen srv
socket cli
connect cli ${srv.addr}
accept srv conn
sendall cli 'Hello, world'
recv conn
socket u unix-dgram
bind u ${tmp}/u.sock
print ${srv.port} ${cli.addr} ${conn.peer}
";

#[test]
fn version_exits_0_and_names_the_program() {
    let run = Sock::cli(["--version"]).run();
    run.assert_status(0).assert_stdout_contains("sockrepl ");
    assert!(
        run.stdout.chars().any(|c| c.is_ascii_digit()),
        "{}",
        run.show()
    );
}

#[test]
fn help_exits_0_and_lists_the_modes() {
    let run = Sock::cli(["--help"]).run();
    run.assert_status(0);
    for word in ["run", "test", "check", "--timeout", "--stable"] {
        run.assert_stdout_contains(word);
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    Sock::cli(["--no-such-flag"])
        .run()
        .assert_status(2)
        .assert_output_contains("--no-such-flag");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    Sock::cli(["frobnicate"])
        .run()
        .assert_status(2)
        .assert_output_contains("frobnicate");
}

#[test]
fn run_without_a_file_is_a_usage_error() {
    Sock::cli(["run"]).run().assert_status(2);
}

#[test]
fn bad_timeout_value_is_a_usage_error() {
    let run = Sock::script("print never\n").timeout("soon").run();
    run.assert_status(2).assert_stdout_lacks("never");
}

#[test]
fn unreadable_script_exits_2_naming_it() {
    let run = Sock::cli(["run", "no-such-script.sock"]).run();
    run.assert_status(2)
        .assert_output_contains("no-such-script.sock");
}

#[test]
fn success_exits_0() {
    Sock::script("print hello\n")
        .run()
        .assert_status(0)
        .assert_outcome("print hello", "hello");
}

#[test]
fn a_failed_command_exits_1_and_stops_the_run() {
    let run = Sock::script("print before\nclose nobody\nprint after\n").run();
    run.assert_status(1)
        .assert_stdout_contains("before")
        .assert_stdout_lacks("after");
}

#[test]
fn a_failed_assertion_exits_1() {
    let run = Sock::script("socketpair a b\nsend a x\nexpect b y\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:3: expect: ");
}

#[test]
fn exit_with_a_status_sets_it_and_stops() {
    let run = Sock::script("print one\nexit 3\nprint two\n").run();
    run.assert_status(3)
        .assert_stdout_contains("one")
        .assert_stdout_lacks("two");
}

#[test]
fn exit_without_a_status_is_0() {
    let run = Sock::script("exit\nclose nobody\n").run();
    run.assert_status(0).assert_stdout_lacks("nobody:");
}

#[test]
fn exit_1_is_a_failure_status() {
    Sock::script("exit 1\n").run().assert_status(1);
}

#[test]
fn quit_stops_with_status_0() {
    let run = Sock::script("quit\nprint never\n").run();
    run.assert_status(0).assert_stdout_lacks("never");
}

#[test]
fn exit_status_out_of_range_is_a_syntax_error() {
    Sock::script("print x\nexit 256\n")
        .run()
        .assert_status(2)
        .assert_nothing_ran();
}

#[test]
fn run_dash_reads_the_script_from_stdin() {
    let run = Sock::stdin_script("print from-stdin\n").run();
    run.assert_status(0)
        .assert_outcome("print from-stdin", "from-stdin");
}

#[test]
fn bare_sockrepl_reads_a_script_from_non_terminal_stdin() {
    let run = Sock::cli(Vec::<String>::new())
        .stdin(b"print piped\nexit 4\n")
        .run();
    run.assert_status(4).assert_outcome("print piped", "piped");
}

#[test]
fn bare_sockrepl_honours_global_flags() {
    let run = Sock::cli(["--stable"]).stdin(b"socket a\n").run();
    run.assert_status(0)
        .assert_line("created a: AF_INET SOCK_STREAM, fd <a.fd>");
}

#[test]
fn stdin_syntax_errors_name_stdin() {
    let run = Sock::stdin_script("print ok\nbogus\n").run();
    run.assert_status(2).assert_nothing_ran();
    run.assert_stdout_contains("<stdin>:2: bogus: unknown command 'bogus'");
}

#[test]
fn check_accepts_a_good_script_and_runs_none_of_it() {
    let script = "socket u unix\nbind u ./made-by-check.sock\nprint ran\n";
    let run = Sock::script(script).with_cli(["check", "t.sock"]).run();
    run.assert_status(0)
        .assert_nothing_ran()
        .assert_stdout_lacks("ran\n");
    assert!(
        !run.path("made-by-check.sock").exists(),
        "check ran a bind\n{}",
        run.show()
    );
}

#[test]
fn check_reports_a_syntax_error_with_status_2() {
    let run = Sock::script("print ok\nsocket\n")
        .with_cli(["check", "t.sock"])
        .run();
    run.assert_status(2)
        .assert_stdout_contains("t.sock:2: socket: missing NAME");
}

#[test]
fn check_reports_every_bad_file() {
    let run = Sock::script("print ok\n")
        .file("bad1.sock", b"frob1\n")
        .file("bad2.sock", b"print ok\nfrob2 x\n")
        .with_cli(["check", "bad1.sock", "t.sock", "bad2.sock"])
        .run();
    run.assert_status(2);
    run.assert_stdout_contains("bad1.sock:1: frob1: unknown command");
    run.assert_stdout_contains("bad2.sock:2: frob2: unknown command");
}

#[test]
fn check_of_an_unreadable_file_exits_2() {
    let run = Sock::cli(["check", "missing.sock"]).run();
    run.assert_status(2).assert_output_contains("missing.sock");
}

#[test]
fn global_flags_work_after_the_subcommand() {
    let run = Sock::script("socket a\n")
        .with_cli(["run", "t.sock", "--stable"])
        .run();
    run.assert_status(0)
        .assert_line("created a: AF_INET SOCK_STREAM, fd <a.fd>");
}

#[test]
fn stable_transcripts_are_identical_across_runs() {
    let first = Sock::script(RICH).stable().run();
    let second = Sock::script(RICH).stable().run();
    first.assert_status(0);
    second.assert_status(0);
    assert_eq!(first.stdout, second.stdout, "--stable transcripts differ");
    first.assert_outcome("bind srv 127.0.0.1:0", "bound to 127.0.0.1:<srv.port>");
    first.assert_line("created srv: AF_INET SOCK_STREAM, fd <srv.fd>");
    first.assert_outcome("bind u <tmp>/u.sock", "bound to <tmp>/u.sock");
    first.assert_line("<srv.port> 127.0.0.1:<cli.port> 127.0.0.1:<cli.port>");
}

#[test]
fn stable_transcript_shows_no_process_id() {
    let run = Sock::script(RICH).stable().run();
    let pid_like = run.stdout.contains("/tmp/") || run.stdout.contains("sockrepl-");
    assert!(
        !pid_like,
        "a private path leaked into --stable\n{}",
        run.show()
    );
}

#[test]
fn without_stable_the_real_values_show() {
    let run = Sock::script(RICH).run();
    run.assert_status(0)
        .assert_stdout_lacks("<srv.port>")
        .assert_stdout_lacks("<tmp>");
    let bound = run.outcome_of("bind srv 127.0.0.1:0");
    let port: u16 = bound
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric port");
    assert_ne!(port, 0, "the kernel chose no port\n{}", run.show());
}

#[test]
fn timeout_flag_sets_the_default_for_blocking_commands() {
    let run = Sock::script("socketpair a b\nrecv b\n")
        .timeout("250ms")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:2: recv: TIMEOUT (no data within 250ms)");
    assert!(run.elapsed.as_millis() < 4000, "took {:?}", run.elapsed);
}

#[test]
fn default_timeout_is_five_seconds() {
    let run = Sock::script("socketpair a b\nfails TIMEOUT recv b\n").run();
    run.assert_status(0)
        .assert_stdout_contains("TIMEOUT (no data within 5s)");
    assert!(
        run.elapsed.as_millis() >= 4500,
        "waited only {:?}",
        run.elapsed
    );
}

#[test]
fn timeout_command_overrides_the_flag() {
    let run = Sock::script("socketpair a b\ntimeout 200ms\nrecv b\n")
        .timeout("10s")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recv: TIMEOUT (no data within 200ms)");
}

#[test]
fn settimeout_overrides_the_session_default_for_one_handle() {
    let script = "socketpair a b\nsettimeout b 100ms\nfails TIMEOUT recv b\nrecv a\n";
    let run = Sock::script(script).timeout("300ms").run();
    run.assert_status(1);
    run.assert_stdout_contains("TIMEOUT (no data within 100ms)");
    run.assert_last_line("t.sock:4: recv: TIMEOUT (no data within 300ms)");
}

#[test]
fn durations_accept_every_documented_unit() {
    let script = "sleep 1ms\nsleep 0.01s\ntimeout 1.5s\ntimeout 2s\ntimeout 1m\nprint ok\n";
    Sock::script(script)
        .run()
        .assert_status(0)
        .assert_line("ok");
}

#[test]
fn a_bad_duration_is_a_syntax_error() {
    Sock::script("print x\nsleep 10xs\n")
        .run()
        .assert_status(2)
        .assert_nothing_ran();
}

#[test]
fn run_comments_shows_comment_lines_in_place() {
    let script = "# Lesson\n#\n# the intro\n\n\n# first\nprint one  # not a comment line\n\
                  repeat 2\n  # each turn\n  print turn\nend\nsource part.sock\n# the end\n\n";
    let run = Sock::script(script)
        .file("part.sock", b"# from the part\nprint part\n")
        .with_cli(["run", "--comments", "t.sock"])
        .run();
    run.assert_status(0);
    assert_eq!(
        run.stdout,
        "# Lesson\n#\n# the intro\n\n# first\n> print one\none\n> repeat 2\n# each turn\n\
         > print turn\nturn\n# each turn\n> print turn\nturn\n> end\n> source part.sock\n\
         # from the part\n> print part\npart\n# the end\n",
        "{}",
        run.show()
    );
    // Without the flag the transcript is as always.
    let plain = Sock::script(script)
        .file("part.sock", b"# from the part\nprint part\n")
        .run();
    assert!(!plain.stdout.contains('#'), "{}", plain.show());
}

// ---- global flags on both sides of the subcommand (SPEC §1, §9) ----------

#[test]
fn set_before_and_after_the_subcommand_both_apply() {
    let run = Sock::script("print ${a} ${b} ${c}\n")
        .with_cli([
            "--set", "a=1", "run", "--set", "b=2", "t.sock", "--set", "c=3",
        ])
        .run();
    run.assert_status(0).assert_line("1 2 3");
}

#[test]
fn set_before_and_after_test_reaches_every_script() {
    let run = Sock::script("print ${a} ${b}\n")
        .with_cli(["--set", "a=1", "test", "--set", "b=2", "t.sock"])
        .run();
    run.assert_status(0).assert_last_line("1 passed, 0 failed");
}

#[test]
fn a_switch_before_the_subcommand_holds_when_another_follows_it() {
    // --stable before run, --set after: neither undoes the other.
    let run = Sock::script("socket a\nprint ${v}\n")
        .with_cli(["--stable", "run", "--set", "v=x", "t.sock"])
        .run();
    run.assert_status(0)
        .assert_line("created a: AF_INET SOCK_STREAM, fd <a.fd>")
        .assert_line("x");
}

#[test]
fn a_timeout_after_the_subcommand_wins_over_one_before_it() {
    let run = Sock::script("socketpair a b\nfails TIMEOUT recv b\n")
        .with_cli(["--timeout", "30s", "run", "--timeout", "100ms", "t.sock"])
        .run();
    run.assert_status(0)
        .assert_stdout_contains("TIMEOUT (no data within 100ms)");
}

#[test]
fn version_after_each_subcommand_exits_0_and_names_the_program() {
    for mode in ["run", "test", "check"] {
        let run = Sock::cli([mode, "--version"]).run();
        run.assert_status(0);
        assert!(
            run.stdout.starts_with("sockrepl ") && run.stdout.chars().any(|c| c.is_ascii_digit()),
            "{mode} --version: {}",
            run.show()
        );
    }
}

#[test]
fn every_mode_takes_timeout_and_stable_after_its_name() {
    Sock::script("print x\n")
        .with_cli(["check", "--timeout", "1s", "--stable", "t.sock"])
        .run()
        .assert_status(0)
        .assert_line("t.sock: ok (1 command)");
    Sock::script("print x\n")
        .with_cli(["test", "--timeout", "1s", "--stable", "t.sock"])
        .run()
        .assert_status(0)
        .assert_last_line("1 passed, 0 failed");
}

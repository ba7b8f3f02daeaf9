//! The script language around the commands (SPEC §2, §3, §7): the
//! parse-before-run rule, `${...}` expansion, handle names, the failure line
//! format, and robustness against garbage input.

use crate::common::{self, Sock};
use std::time::Duration;

// ---- parse before run -------------------------------------------------------

/// An earlier line that would leave a trace (a socket file) if it ran.
const TRACE: &str = "socket u unix\nbind u ./trace.sock\nprint ran\n";

fn assert_rejected_before_running(last_line: &str, expected: &str) {
    let run = Sock::script(&format!("{TRACE}{last_line}\n")).run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_lacks("ran\n");
    run.assert_stdout_contains(expected);
    assert!(
        !run.path("trace.sock").exists(),
        "line 2 ran before the syntax error\n{}",
        run.show()
    );
}

#[test]
fn unknown_command_on_the_last_line_runs_nothing() {
    assert_rejected_before_running(
        "frobnicate u",
        "t.sock:4: frobnicate: unknown command 'frobnicate'",
    );
}

#[test]
fn wrong_arity_on_the_last_line_runs_nothing() {
    assert_rejected_before_running("bind u", "t.sock:4: bind: missing ADDR");
}

#[test]
fn extra_words_on_the_last_line_run_nothing() {
    assert_rejected_before_running(
        "getsockopt u SO_TYPE extra",
        "t.sock:4: getsockopt: unexpected 'extra'",
    );
}

#[test]
fn bad_quoting_on_the_last_line_runs_nothing() {
    assert_rejected_before_running("print 'open", "t.sock:4: print: unterminated quote");
}

#[test]
fn bad_escape_on_the_last_line_runs_nothing() {
    assert_rejected_before_running("send u 'a\\qb'", "t.sock:4: send: bad escape '\\q'");
}

#[test]
fn short_hex_escape_runs_nothing() {
    assert_rejected_before_running("send u '\\x4'", "t.sock:4: send: bad escape '\\x4'");
}

#[test]
fn bad_hex_data_runs_nothing() {
    assert_rejected_before_running("send u --hex 'zz'", "t.sock:4: send: bad hex");
}

#[test]
fn odd_hex_data_runs_nothing() {
    assert_rejected_before_running("send u --hex 'abc'", "t.sock:4: send: bad hex");
}

#[test]
fn bad_handle_name_runs_nothing() {
    assert_rejected_before_running(
        "socket 9lives",
        "t.sock:4: socket: bad handle name '9lives'",
    );
}

#[test]
fn unknown_kind_runs_nothing() {
    assert_rejected_before_running(
        "socket k sctp-ish",
        "t.sock:4: socket: unknown socket kind 'sctp-ish'",
    );
}

#[test]
fn unknown_option_runs_nothing() {
    assert_rejected_before_running(
        "setsockopt u SO_BOGUS 1",
        "t.sock:4: setsockopt: unknown option 'SO_BOGUS'",
    );
}

#[test]
fn bad_boolean_runs_nothing() {
    assert_rejected_before_running(
        "setblocking u maybe",
        "t.sock:4: setblocking: 'maybe' is not a boolean",
    );
}

#[test]
fn unknown_error_name_in_fails_runs_nothing() {
    assert_rejected_before_running(
        "fails EBOGUS recv u",
        "t.sock:4: fails: unknown error name 'EBOGUS'",
    );
}

#[test]
fn syntax_errors_in_a_sourced_file_run_nothing() {
    let run = Sock::script(&format!("{TRACE}source sub.sock\n"))
        .file("sub.sock", b"print fine\nnope\n")
        .run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("sub.sock:2");
    assert!(!run.path("trace.sock").exists(), "{}", run.show());
}

#[test]
fn syntax_error_line_has_the_file_line_command_message_form() {
    let run = Sock::script("print a\n\n# comment\nlisten\n").run();
    run.assert_status(2)
        .assert_last_line("t.sock:4: listen: missing NAME (usage: listen NAME [BACKLOG])");
}

// ---- lines, words, comments ------------------------------------------------

#[test]
fn comments_and_blank_lines_are_ignored() {
    let run =
        Sock::script("# a comment\n\n   \nprint a#b c #gone\nprint '#kept'   # gone too\n").run();
    run.assert_status(0)
        .assert_line("a#b c")
        .assert_line("#kept")
        .assert_stdout_lacks("gone");
}

#[test]
fn words_split_by_shell_rules() {
    let run =
        Sock::script("socketpair a b\nsend a \"two words\"\nrecv b\nsend a one\\ word\nrecv b\n")
            .run();
    run.assert_status(0)
        .assert_line("b'two words'")
        .assert_line("b'one word'");
}

// ---- expansion -------------------------------------------------------------

#[test]
fn script_arguments_expand() {
    let run = Sock::script("print ${1} ${2} ${9}\n")
        .args(["one", "two", "3", "4", "5", "6", "7", "8", "nine"])
        .run();
    run.assert_status(0).assert_line("one two nine");
}

#[test]
fn an_expanded_value_is_always_one_word() {
    let run = Sock::script("socketpair a b\nsend a ${1}\nrecv b\n")
        .args(["hello world  \"q\""])
        .run();
    run.assert_status(0).assert_line("b'hello world  \"q\"'");
}

#[test]
fn a_missing_script_argument_is_a_syntax_error() {
    let run = Sock::script(&format!("{TRACE}print ${{2}}\n"))
        .args(["only-one"])
        .run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("t.sock:4:");
    run.assert_stdout_contains("${2}");
}

#[test]
fn env_names_expand() {
    let run = Sock::script("print ${env.SOCKREPL_TEST_VALUE}\n")
        .env("SOCKREPL_TEST_VALUE", "from env")
        .run();
    run.assert_status(0)
        .assert_outcome("print 'from env'", "from env");
}

#[test]
fn an_unset_env_name_is_an_error_naming_it() {
    let run = Sock::script(&format!("{TRACE}print ${{env.SOCKREPL_SURELY_UNSET}}\n")).run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("SOCKREPL_SURELY_UNSET");
}

#[test]
fn an_unknown_expansion_is_an_error_naming_it() {
    let run = Sock::script(&format!("{TRACE}print ${{nope}}\n")).run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("t.sock:4:");
    run.assert_stdout_contains("${nope}");
}

#[test]
fn an_unknown_handle_field_is_an_error() {
    let run = Sock::script("socket a\nprint ${a.colour}\n").run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("${a.colour}");
}

#[test]
fn an_unclosed_expansion_is_an_error() {
    Sock::script("print x\nprint ${1\n")
        .args(["a"])
        .run()
        .assert_status(2)
        .assert_nothing_ran();
}

#[test]
fn double_dollar_is_a_literal_dollar() {
    let run = Sock::script("print cost: $$5 $${1}\n").args(["x"]).run();
    run.assert_status(0).assert_line("cost: $5 ${1}");
}

#[test]
fn handle_fields_expand_to_addresses() {
    let script = "socket s\nbind s 127.0.0.1:0\nlisten s\nsocket c\nconnect c ${s.addr}\n\
                  print ${s.host} ${s.port} ${c.peer} ${s.addr}\n";
    let run = Sock::script(script).stable().run();
    run.assert_status(0)
        .assert_line("127.0.0.1 <s.port> 127.0.0.1:<s.port> 127.0.0.1:<s.port>");
}

#[test]
fn handle_fields_of_a_missing_handle_fail_naming_it() {
    let run = Sock::script("print ${ghost.addr}\n").run();
    run.assert_status(1)
        .assert_last_line("t.sock:1: print: no handle named ghost");
}

#[test]
fn tmp_is_a_private_directory_shown_as_tmp_when_stable() {
    let run = Sock::script("socket u unix\nbind u ${tmp}/x.sock\nprint ${u.addr}\n")
        .stable()
        .run();
    run.assert_status(0)
        .assert_line("bound to <tmp>/x.sock")
        .assert_line("<tmp>/x.sock");
}

// ---- handles ---------------------------------------------------------------

#[test]
fn an_unknown_handle_is_an_error_naming_it() {
    for line in [
        "close ghost",
        "send ghost x",
        "recv ghost",
        "listen ghost",
        "getsockname ghost",
    ] {
        let run = Sock::script(&format!("socket a\n{line}\n")).run();
        let command = line.split(' ').next().unwrap();
        run.assert_status(1)
            .assert_last_line(&format!("t.sock:2: {command}: no handle named ghost"));
    }
}

#[test]
fn creating_a_taken_name_is_an_error_naming_it() {
    let run = Sock::script("socket a\nsocket a udp\n").run();
    run.assert_status(1)
        .assert_last_line("t.sock:2: socket: a handle named a already exists (close it first)");
}

#[test]
fn socketpair_into_a_taken_name_is_an_error() {
    let run = Sock::script("socket b\nsocketpair a b\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: socketpair: a handle named b already exists");
}

#[test]
fn accept_into_a_taken_name_is_an_error() {
    let script =
        "socket s\nbind s 127.0.0.1:0\nlisten s\nsocket c\nconnect c ${s.addr}\naccept s c\n";
    let run = Sock::script(script).timeout("2s").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:6: accept: a handle named c already exists");
}

#[test]
fn accept_names_default_to_the_next_free_suffix() {
    let script = "socket s\nbind s 127.0.0.1:0\nlisten s\nsocket c1\nconnect c1 ${s.addr}\n\
                  socket c2\nconnect c2 ${s.addr}\naccept s\nsocket s-2\naccept s\nclose s-1\nclose s-3\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0)
        .assert_line("accepted s-1 from 127.0.0.1:<c1.port>");
    run.assert_line("accepted s-3 from 127.0.0.1:<c2.port>");
}

#[test]
fn handle_names_allow_letters_digits_underscore_and_dash() {
    let run = Sock::script("socket _a-1_B\nclose _a-1_B\n").run();
    run.assert_status(0);
}

#[test]
fn close_forgets_the_handle() {
    let run = Sock::script("socket a\nclose a\nsocket a\nclose a\nclose a\n").run();
    run.assert_status(1)
        .assert_last_line("t.sock:5: close: no handle named a");
}

// ---- failures --------------------------------------------------------------

#[test]
fn a_runtime_failure_is_one_file_line_command_message_line() {
    let run = Sock::script("print one\n\nsocket c\n  connect c 127.0.0.1:1\nprint never\n").run();
    run.assert_status(1).assert_stdout_lacks("never");
    run.assert_last_line_starts("t.sock:4: connect: ECONNREFUSED (Connection refused)");
    assert_eq!(
        run.stdout.matches("t.sock:").count(),
        1,
        "one failure line\n{}",
        run.show()
    );
}

#[test]
fn fails_keeps_the_session_going() {
    let run = Sock::script("socket c\nfails connect c 127.0.0.1:1\nprint still-here\n").run();
    run.assert_status(0).assert_line("still-here");
    run.assert_outcome("fails connect c 127.0.0.1:1", "failed as expected: ECONNREFUSED (Connection refused); hint: nothing is listening at 127.0.0.1:1");
}

#[test]
fn fails_on_a_command_that_succeeds_is_a_failure() {
    let run = Sock::script("socketpair a b\nfails send a x\n").run();
    run.assert_status(1)
        .assert_last_line("t.sock:2: fails: expected a failure, but the command succeeded");
}

#[test]
fn source_runs_a_file_relative_to_the_script_in_this_session() {
    let run = Sock::script("source lib/setup.sock\nsend a hi\nrecv b\n")
        .file("lib", b"")
        .run();
    // "lib" is a file here, so lib/setup.sock cannot exist: an error, not a panic
    run.assert_no_panic();
    assert_ne!(run.status, Some(0), "{}", run.show());
    let run = Sock::script("source setup.sock\nsend a hi\nrecv b\n")
        .file("setup.sock", b"socketpair a b\n")
        .run();
    run.assert_status(0).assert_line("b'hi'");
}

#[test]
fn help_shows_synopsis_and_python_equivalent() {
    let run = Sock::script("help recv\n").run();
    run.assert_status(0)
        .assert_stdout_contains("recv NAME")
        .assert_stdout_contains("Python");
}

#[test]
fn help_for_an_unknown_command_is_an_error() {
    let run = Sock::script("help nonsense\n").run();
    assert_ne!(run.status, Some(0), "{}", run.show());
    run.assert_no_panic().assert_stdout_contains("nonsense");
}

// ---- garbage input: no panic, no hang ---------------------------------------

#[test]
fn a_binary_file_is_rejected_cleanly() {
    let mut bytes: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
    bytes.extend_from_slice(b"\n\xff\xfe\x00\n");
    let run = Sock::script_bytes(&bytes).run();
    run.assert_no_panic().assert_status(2).assert_nothing_ran();
}

#[test]
fn non_utf8_is_an_error_naming_the_line() {
    let run = Sock::script_bytes(b"print ok\nprint caf\xe9\n").run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("t.sock:2:");
}

#[test]
fn a_ten_megabyte_line_runs_without_trouble() {
    let _core = common::cpu_heavy();
    let word = "A".repeat(10 * 1024 * 1024);
    let run = Sock::script(&format!("print {word}\n")).run();
    run.assert_status(0);
    assert!(
        run.stdout.len() >= 20 * 1024 * 1024,
        "transcript too short: {}",
        run.stdout.len()
    );
}

/// A 10 MB line that is a syntax error: rejected within seconds, not minutes.
fn assert_huge_line_rejected(template: &str) {
    let _core = common::cpu_heavy();
    let line = template.replace("HUGE", &"B".repeat(10 * 1024 * 1024));
    let run = Sock::script(&format!("socket a\n{line}\n"))
        .guard(Duration::from_secs(10))
        .run();
    run.assert_no_panic().assert_status(2).assert_nothing_ran();
}

#[test]
fn a_ten_megabyte_unknown_command_is_rejected_quickly() {
    assert_huge_line_rejected("HUGE x");
}

#[test]
fn a_ten_megabyte_unknown_error_name_is_rejected_quickly() {
    assert_huge_line_rejected("fails EHUGE recv a");
}

#[test]
fn a_ten_megabyte_unknown_option_is_rejected_quickly() {
    assert_huge_line_rejected("setsockopt a SO_HUGE 1");
}

#[test]
fn a_ten_megabyte_unterminated_quote_is_rejected_quickly() {
    assert_huge_line_rejected("print 'HUGE");
}

#[test]
fn a_ten_megabyte_bad_escape_is_rejected_quickly() {
    assert_huge_line_rejected("send a '\\qHUGE'");
}

#[test]
fn a_ten_megabyte_data_word_is_sent() {
    let _core = common::cpu_heavy();
    let word = "C".repeat(10 * 1024 * 1024);
    let run = Sock::script(&format!("socketpair a b\nsend a {word}\n")).run();
    run.assert_status(0).assert_last_line_starts("sent ");
    let count: usize = run
        .last_line()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .expect("a count");
    assert!(count > 0 && count <= word.len(), "{}", run.show());
}

#[test]
fn random_garbage_on_stdin_is_rejected_cleanly() {
    let mut state = 0x2545_f491_u32;
    let bytes: Vec<u8> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 251) as u8 + 1 // no NUL, so the lexer sees every line
        })
        .collect();
    let run = Sock::cli(["run", "-"]).stdin(&bytes).timeout("200ms").run();
    run.assert_no_panic();
    assert_ne!(run.status, Some(0), "garbage accepted\n{}", run.show());
}

#[test]
fn odd_lines_never_panic_or_hang() {
    let lines = [
        "'",
        "\"",
        "\\",
        "${",
        "${}",
        "${.}",
        "${a.}",
        "${1",
        "$",
        "$$$",
        "\"\\",
        "'\\x'",
        "send a '\\x'",
        "send a '\\xg0'",
        "send a \"\\\"",
        "socket",
        "socket a AF_INET",
        "socket a AF_INET SOCK_BOGUS",
        "socket a AF_FOO SOCK_STREAM",
        "bind a",
        "bind a :",
        "bind a [::1",
        "bind a []:1",
        "bind a :99999",
        "connect a 1.2.3.4.5:6",
        "recv a 0",
        "recv a 99999999999999999999",
        "poll",
        "sleep -1s",
        "sleep 1e99s",
        "timeout 0",
        "exit -1",
        "exit 99999",
        "fails",
        "fails fails fails",
        "fails ETIMEDOUT",
        "source",
        "source /nonexistent/x.sock",
        "help help help",
        "setsockopt a SO_LINGER",
        "setsockopt a SO_TYPE 1",
        "\u{0}",
        "\u{feff}print bom",
        "print \u{202e}rtl",
        "socket a\u{a0}tcp",
        "expect a",
        "shutdown a",
        "recvall a --into",
        "send a --hex",
        "send a --file",
        "send a --bogus x",
    ];
    for line in lines {
        let run = Sock::script(&format!("socket a\n{line}\n"))
            .timeout("200ms")
            .run();
        run.assert_no_panic();
    }
}

#[test]
fn operations_on_closed_or_wrong_kind_sockets_fail_cleanly() {
    let lines = [
        "listen u",
        "accept u",
        "recvfrom t",
        "sendto t 127.0.0.1:1 x",
        "shutdown u both",
        "getpeername u",
        "recvall u",
        "expect_eof u",
        "connect u @nope",
        "bind t ${tmp}/p.sock",
        "poll u t --timeout 50ms",
        "setsockopt u TCP_NODELAY 1",
        "setsockopt t IPV6_V6ONLY 1",
        "getsockopt u SO_ERROR",
    ];
    for line in lines {
        let script = format!("socket u unix-dgram\nsocket t tcp\n{line}\n");
        let run = Sock::script(&script).timeout("200ms").run();
        run.assert_no_panic();
    }
}

// ---- streamed scripts -------------------------------------------------------

/// `run` parses the script again as it runs, sharing the parse of lines
/// that repeat: a repeated `let` must still set its variable for a later
/// line, and a sourced file runs as it was checked.
#[test]
fn repeated_lines_and_sources_run_as_they_were_checked() {
    let run = Sock::script(
        "socketpair a b\nlet v hi\nlet v hi\nsource part.sock\nsendall a ${v}\nexpect b hi\nlet v hi\nsendall a ${v}\nexpect b hi\n",
    )
    .file("part.sock", b"let w there\nsendall a ${w}\nexpect b there\n")
    .run();
    run.assert_status(0);
    assert_eq!(
        run.stdout.matches("ok: 2 bytes as expected").count(),
        2,
        "{}",
        run.show()
    );
    assert_eq!(
        run.stdout.matches("ok: 5 bytes as expected").count(),
        1,
        "{}",
        run.show()
    );
}

/// `check` of a long script counts its commands without holding them.
#[test]
fn check_counts_the_commands_of_a_long_script() {
    let text = "print x\n".repeat(100_000) + "repeat 2\nprint y\nend\n";
    let run = Sock::cli(["check", "long.sock"])
        .file("long.sock", text.as_bytes())
        .run();
    run.assert_status(0);
    run.assert_stdout_contains("long.sock: ok (100001 commands)");
}

//! The v2 test runner (SPEC §14, issues 11 and 14), end to end: report
//! files read back by real consumers, the script timeout ending a script's
//! programs, `--bless` refusing scripts that never started, flags passed
//! to every child, a runner that trusts nothing a script does (exit
//! statuses, links, hostile folders), bounded diffs and memory, a closed
//! stdout, and signals that end every child.
//!
//! Where a child's side is not what is under test, a stand-in program
//! (`--program ./fake`, a shell script) plays sockrepl: it records its
//! arguments, starts programs in its process group, hangs or writes to the
//! skip channel exactly as a test needs.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Run, Sock};
use serde_json::Value;

/// `sockrepl test ARGS...`, run by the builder (files go beside `t.sock`,
/// which these tests never use as a script).
fn test_with(args: &[&str]) -> Sock {
    Sock::cli(std::iter::once("test").chain(args.iter().copied()))
}

fn summary(run: &Run) -> &str {
    run.last_line()
}

/// A pid from a file a stand-in program writes, waiting for it to appear.
fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Running and not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits (a little) for `pid` to be gone: a killed orphan is reaped by init.
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A stand-in sockrepl that starts `sleep` in its process group, records
/// both pids in the script's folder, and then hangs.
const HANGING_FAKE: &str = "#!/bin/sh\n\
    sleep 300 &\n\
    echo $! > grandchild.pid\n\
    echo $$ > child.pid\n\
    echo started\n\
    exec sleep 300\n";

// ---- 1. --report FORMAT=FILE -----------------------------------------------

/// Runs `code` with `python3 -c`, file paths as arguments; `None` (and a
/// note) when python3 or the module is missing here.
fn python_consumer(module: &str, code: &str, files: &[&Path]) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        eprintln!("skipped: the {module} consumer check: python3 -c 'import {module}' failed (.ci/run installs it)");
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{module} rejected the report:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const JUNIT_CONSUMER: &str = r#"
import sys
from junitparser import JUnitXml, Failure, Skipped, Error
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    print("suite", suite.tests, suite.failures, suite.errors, suite.skipped)
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        print("case", case.classname, case.name, ",".join(kinds) or "passed", case.time > 0)
"#;

const TAP_CONSUMER: &str = r#"
import sys
from tap.parser import Parser
for line in Parser().parse_file(sys.argv[1]):
    if line.category == "version":
        print("version", line.version)
    elif line.category == "plan":
        print("plan", line.expected_tests)
    elif line.category == "test":
        block = line.yaml_block or {}
        print("test", line.number, line.ok, line.skip, line.description, block.get("message", "-"))
    elif line.category == "unknown":
        print("unknown", line)
"#;

#[test]
fn reports_in_all_four_formats_are_read_back_by_their_consumers() {
    // A fresh network namespace has ping sockets disabled
    // (net.ipv4.ping_group_range = "1 0"), so `require icmp` is a sure skip.
    if let Err(reason) = crate::common::can_unshare_net() {
        eprintln!("skipped: needs a network namespace for a sure skip: {reason}");
        return;
    }
    let run = test_with(&[
        "tests",
        "--report",
        "junit=r.xml",
        "--report=tap=r.tap",
        "--report",
        "json=r.json",
        "--report",
        "gradescope=results.json",
    ])
    .file(
        "tests/pass.sock",
        b"# points: 2.5\nsocketpair a b\nsend a 'x'\nexpect b 'x'\n",
    )
    .file("tests/fail.sock", b"print hello\n")
    .file("tests/fail.out", b"> print hello\nbye\n")
    .file(
        "tests/hash#1.sock",
        b"# points: 0.5\nsocketpair a b\nsettimeout b 10ms\nexpect b 'x'\n",
    )
    .file("tests/skip.sock", b"require icmp\nprint never\n")
    .in_new_netns()
    .run();
    run.assert_status(1);
    assert_eq!(
        summary(&run),
        "1 passed, 2 failed, 1 skipped",
        "{}",
        run.show()
    );

    let json: Value =
        serde_json::from_slice(&fs::read(run.path("r.json")).expect("json report")).expect("JSON");
    let entries = json.as_array().expect("one JSON array");
    let field = |i: usize, key: &str| entries[i][key].clone();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "tests/fail.sock",
            "tests/hash#1.sock",
            "tests/pass.sock",
            "tests/skip.sock"
        ]
    );
    let statuses: Vec<&str> = entries
        .iter()
        .map(|e| e["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["failed", "failed", "passed", "skipped"]);
    assert!(field(0, "diff")
        .as_str()
        .expect("a diff")
        .contains("-bye\n+hello\n"));
    assert!(field(1, "failure_line")
        .as_str()
        .expect("a failure line")
        .starts_with("hash#1.sock:4: expect: "));
    assert!(field(2, "time").as_f64().expect("seconds") > 0.0);
    assert_eq!(field(2, "failure_line"), Value::Null);
    assert!(field(3, "reason")
        .as_str()
        .expect("why")
        .contains("ping_group_range"));

    let grades: Value =
        serde_json::from_slice(&fs::read(run.path("results.json")).expect("gradescope"))
            .expect("JSON");
    assert_eq!(grades["score"], 2.5);
    let tests = grades["tests"].as_array().expect("tests");
    let scores: Vec<(f64, f64, &str)> = tests
        .iter()
        .map(|t| {
            let number = |key: &str| t[key].as_f64().expect("a number");
            (
                number("score"),
                number("max_score"),
                t["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [
            (0.0, 1.0, "failed"),
            (0.0, 0.5, "failed"),
            (2.5, 2.5, "passed"),
            (0.0, 1.0, "skipped")
        ]
    );
    assert!(tests[3]["output"]
        .as_str()
        .expect("why")
        .starts_with("skipped: "));
    assert!(tests[0]["output"].as_str().expect("diff").contains("-bye"));

    let junit = python_consumer("junitparser", JUNIT_CONSUMER, &[&run.path("r.xml")]);
    if let Some(parsed) = junit {
        assert_eq!(
            parsed,
            "suite 4 2 0 1\n\
             case tests fail.sock Failure True\n\
             case tests hash#1.sock Failure True\n\
             case tests pass.sock passed True\n\
             case tests skip.sock Skipped True\n",
            "{parsed}"
        );
    }
    let tap = python_consumer("tap.parser", TAP_CONSUMER, &[&run.path("r.tap")]);
    if let Some(parsed) = tap {
        let lines: Vec<&str> = parsed.lines().collect();
        assert_eq!(lines[..2], ["version 14", "plan 4"], "{parsed}");
        assert!(
            lines[2].starts_with("test 1 False False - tests/fail.sock "),
            "{parsed}"
        );
        // The YAML block is parsed only where PyYAML is installed.
        assert!(
            lines[2].ends_with("transcript differs from tests/fail.out")
                || lines[2].ends_with(" -"),
            "{parsed}"
        );
        // TAP 14 escapes the `#` (`hash\#1.sock`); tap.py, a TAP 13
        // parser at heart, ends the description there but sees no directive.
        assert!(
            lines[3].starts_with("test 2 False False - tests/hash"),
            "{parsed}"
        );
        let raw = fs::read_to_string(run.path("r.tap")).expect("tap report");
        assert!(raw.contains("\nnot ok 2 - tests/hash\\#1.sock\n"), "{raw}");
        assert_eq!(
            lines[4], "test 3 True False - tests/pass.sock -",
            "{parsed}"
        );
        assert!(
            lines[5].starts_with("test 4 True True - tests/skip.sock"),
            "{parsed}"
        );
        assert_eq!(lines.len(), 6, "nothing unknown: {parsed}");
    }
}

#[test]
fn an_unknown_format_or_an_unwritable_file_is_a_usage_error_before_anything_runs() {
    let fake = "#!/bin/sh\ntouch ran\n";
    for report in ["xml=r.xml", "json", "json=no/such/folder/r.json", "tap=."] {
        let run = test_with(&["--program", "./fake", "--report", report, "x.sock"])
            .executable("fake", fake)
            .file("x.sock", b"print x\n")
            .run();
        run.assert_status(2);
        assert!(
            !run.path("ran").exists(),
            "a script ran despite --report {report}"
        );
        assert!(!run.stderr.is_empty(), "no message for {report}");
    }
}

// ---- 2. --script-timeout ---------------------------------------------------

/// A stand-in sockrepl that starts `sleep` in its process group and
/// records its pid; then it hangs when running `hang.sock`, and exits 0
/// (leaving the `sleep` behind) for any other script.
const LEAVING_FAKE: &str = "#!/bin/sh\n\
    for script; do :; done\n\
    sleep 300 &\n\
    echo $! > \"$script.grandchild\"\n\
    echo started\n\
    [ \"$script\" = hang.sock ] && exec sleep 300\n\
    exit 0\n";

#[test]
fn a_script_past_its_timeout_fails_and_its_programs_are_ended() {
    for flag in ["--script-timeout", "--kill-after"] {
        let started = Instant::now();
        let run = test_with(&["--program", "./fake", flag, "1s", "."])
            .executable("fake", LEAVING_FAKE)
            .file("hang.sock", b"")
            .file("quick.sock", b"")
            .run();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        run.assert_status(1).assert_stdout_contains(
            "failed: hang.sock: ran longer than the 1s script timeout: ended with its programs",
        );
        run.assert_line("  | started");
        assert_eq!(summary(&run), "1 passed, 1 failed", "{}", run.show());
        // Both scripts' programs are gone: the hung one's with it, and the
        // one a finished script left behind, swept after it.
        for script in ["hang.sock", "quick.sock"] {
            let program = read_pid(&run.path(&format!("{script}.grandchild")));
            assert!(
                gone(program),
                "{flag}: {script}'s program {program} outlived it"
            );
        }
    }
}

#[test]
fn a_real_script_is_stopped_at_its_timeout_by_sigterm_not_a_second_late() {
    // The runner blocks SIGTERM for its signal thread; a child that
    // inherited that mask sat out the watchdog's SIGTERM and was killed a
    // second later without a word. Now the script itself is stopped at
    // the limit: its transcript says so, and the run ends well before the
    // SIGKILL grace (1 s) would have passed.
    let limit = Duration::from_millis(400);
    let started = Instant::now();
    let run = test_with(&["--script-timeout", "400ms", "."])
        .file("hang.sock", b"socketpair a b\ntimeout none\nrecv a\n")
        .run();
    let elapsed = started.elapsed();
    run.assert_status(1).assert_stdout_contains(
        "failed: hang.sock: ran longer than the 400ms script timeout: ended with its programs",
    );
    run.assert_line("  | hang.sock:3: recv: stopped by SIGTERM");
    assert!(elapsed >= limit, "{elapsed:?}");
    assert!(
        elapsed < limit + Duration::from_millis(900),
        "stopped {:?} after the limit\n{}",
        elapsed - limit,
        run.show()
    );
}

// ---- 3. --bless and scripts that never started -----------------------------

#[test]
fn bless_refuses_scripts_that_failed_before_their_first_command() {
    let run = test_with(&["--bless", "."])
        .file("good.sock", b"print hello\n")
        .file("syntax.sock", b"print fine\nfrob s\n")
        .file("missing-file.sock", b"source nowhere.sock\n")
        .file("exit2.sock", b"print bye\nexit 2\n")
        .run();
    run.assert_status(1);
    for never in ["syntax", "missing-file"] {
        run.assert_stdout_contains(&format!(
            "failed: {never}.sock: not blessed: it failed before its first command ran"
        ));
        assert!(
            !run.path(&format!("{never}.out")).exists(),
            "{never}.out written"
        );
    }
    assert_eq!(
        fs::read_to_string(run.path("good.out")).expect("blessed"),
        "> print hello\nhello\n"
    );
    // Status 2 from `exit 2` after commands ran is a transcript like any other.
    assert!(run.path("exit2.out").exists(), "{}", run.show());
    assert_eq!(summary(&run), "2 passed, 2 failed", "{}", run.show());
}

// ---- 4. --set, --allow-exec, --netns passed on ----------------------------

#[test]
fn set_allow_exec_and_netns_are_passed_to_every_child_before_run() {
    let fake = "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(basename \"$(pwd)\").args\"\n";
    let run = test_with(&[
        "--program",
        "./fake",
        "--set",
        "host=127.0.0.1",
        "--set=greeting=a=b c",
        "--allow-exec",
        "--netns",
        "--timeout",
        "2s",
        "a",
        "b",
    ])
    .executable("fake", fake)
    .file("a/x.sock", b"")
    .file("b/y.sock", b"")
    .run();
    run.assert_status(0);
    for (folder, script) in [("a", "x.sock"), ("b", "y.sock")] {
        let args = fs::read_to_string(run.path(&format!("{folder}/{folder}.args"))).expect("args");
        let args: Vec<&str> = args.lines().collect();
        let flags_end = args.iter().position(|a| *a == "run").expect("run");
        assert_eq!(args[flags_end + 1..], [script]);
        let flags = &args[..flags_end];
        assert!(flags.starts_with(&["--stable"]), "{flags:?}");
        let wanted: &[&[&str]] = &[
            &["--timeout", "2s"],
            &["--set", "host=127.0.0.1"],
            &["--set", "greeting=a=b c"],
            &["--allow-exec"],
            &["--netns"],
        ];
        for words in wanted {
            assert!(
                flags.windows(words.len()).any(|w| w == *words),
                "{words:?} not in {flags:?}"
            );
        }
    }
    for bad in ["1x=2", "novalue", "=3"] {
        test_with(&["--set", bad, "."]).run().assert_status(2);
    }
}

/// Once the child side has the v2 global flags, `--set` reaches the script.
#[test]
fn a_set_variable_reaches_the_script_when_the_child_knows_set() {
    let help = Sock::cli(["--help"]).run();
    if !help.stdout.contains("--set") {
        eprintln!("skipped: this sockrepl has no global --set yet (the child side of SPEC §9)");
        return;
    }
    let run = test_with(&["--set", "word=hello", "v.sock"])
        .file("v.sock", b"print ${word}\n")
        .file("v.out", b"> print hello\nhello\n")
        .run();
    run.assert_status(0);
}

// ---- 5a. Only the skip channel makes a skip -------------------------------

#[test]
fn a_script_cannot_make_itself_skipped() {
    // Tries every way a script has: the skip exit status, a skip line in
    // the transcript, and writing a skip message into every descriptor
    // it might guess through /proc (sockets cannot be opened that way).
    let mut sneaky = String::from("print skipped: pretend\n");
    for fd in 3..24 {
        sneaky.push_str(&format!(
            "socketpair w{fd} r{fd}\nsend w{fd} 'skip sneaky\\n'\nclose w{fd}\n\
             fails recvall r{fd} --into /proc/self/fd/{fd}\n"
        ));
    }
    sneaky.push_str("exit 77\n");
    let run = test_with(&["."])
        .file("exit77.sock", b"print skipped: pretend\nexit 77\n")
        .file("sneaky.sock", sneaky.as_bytes())
        .run();
    run.assert_status(1);
    assert_eq!(summary(&run), "0 passed, 2 failed", "{}", run.show());
    assert!(
        !run.stdout.lines().any(|line| line.starts_with("skipped:")),
        "{}",
        run.show()
    );
    run.assert_stdout_contains("failed: exit77.sock: the script failed (exit status: 77)")
        .assert_stdout_contains("failed: sneaky.sock: ");
}

#[test]
fn the_skip_channel_is_what_counts_not_the_exit_status() {
    // A stand-in child that reports on the channel it was given, as
    // sockrepl does when `require` is not met; another that only exits 77.
    let channel = "#!/bin/bash\n\
        while [ $# -gt 0 ]; do [ \"$1\" = --skip-fd ] && fd=$2; shift; done\n\
        echo \"skip no frobnicator here\" >&$fd\n\
        exit 77\n";
    let run = test_with(&["--program", "./fake", "x.sock"])
        .executable("fake", channel)
        .file("x.sock", b"")
        .run();
    run.assert_status(0)
        .assert_line("skipped: x.sock: no frobnicator here");
    assert_eq!(summary(&run), "0 passed, 0 failed, 1 skipped");

    let status_only = "#!/bin/sh\necho 'skipped: trust me'\nexit 77\n";
    let run = test_with(&["--program", "./fake", "x.sock"])
        .executable("fake", status_only)
        .file("x.sock", b"")
        .run();
    run.assert_status(1);
    assert_eq!(summary(&run), "0 passed, 1 failed");
}

#[test]
fn a_real_require_is_still_skipped() {
    if let Err(reason) = crate::common::can_unshare_net() {
        eprintln!("skipped: needs a network namespace for a sure skip: {reason}");
        return;
    }
    let run = test_with(&["."])
        .file("icmp.sock", b"print before\nrequire icmp\nprint never\n")
        .in_new_netns()
        .run();
    run.assert_status(0)
        .assert_stdout_contains("skipped: icmp.sock: ping sockets");
    assert_eq!(summary(&run), "0 passed, 0 failed, 1 skipped");
}

// ---- 5b. Links are refused -------------------------------------------------

#[test]
fn linked_out_files_and_folders_are_refused_and_bless_never_writes_through_a_link() {
    let sock = || {
        test_with(&["t"])
            .file("secret.txt", b"TOP SECRET\n")
            .file("t/a.sock", b"print hello\n")
            .symlink("t/a.out", "../secret.txt")
            .file("elsewhere/b.sock", b"print from elsewhere\n")
            .symlink("t/linked", "../elsewhere")
            .file("t/c.sock", b"print fine\n")
    };
    let run = sock().run();
    run.assert_status(1)
        .assert_stdout_contains("failed: t/a.sock: t/a.out is a symbolic link: refused")
        .assert_stdout_contains("failed: t/linked: a symbolic link to a folder: not followed")
        .assert_stdout_lacks("TOP SECRET")
        .assert_stdout_lacks("from elsewhere");
    assert_eq!(summary(&run), "1 passed, 2 failed", "{}", run.show());

    let run = test_with(&["--bless", "t"]);
    let run = run
        .file("secret.txt", b"TOP SECRET\n")
        .file("t/a.sock", b"print hello\n")
        .symlink("t/a.out", "../secret.txt")
        .run();
    run.assert_status(1)
        .assert_stdout_contains("t/a.out is a symbolic link: refused");
    assert_eq!(
        fs::read_to_string(run.path("secret.txt")).expect("read"),
        "TOP SECRET\n"
    );
    let link = fs::symlink_metadata(run.path("t/a.out")).expect("still there");
    assert!(link.file_type().is_symlink(), "the link was replaced");
}

// ---- 5c. Hostile folders are one failed entry each ------------------------

/// `depth` folders named `d`, one inside the next, under `root` (built with
/// *at() calls: the whole path is longer than PATH_MAX).
fn nest(root: &Path, depth: usize) {
    let root = CString::new(root.as_os_str().as_bytes()).expect("no NUL");
    let name = CString::new("d").expect("no NUL");
    // SAFETY: plain descriptor calls on paths we own; every fd is closed.
    unsafe {
        let mut dir = libc::open(root.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        assert!(dir >= 0, "open root");
        for _ in 0..depth {
            assert_eq!(libc::mkdirat(dir, name.as_ptr(), 0o755), 0, "mkdirat");
            let inner = libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            assert!(inner >= 0, "openat");
            libc::close(dir);
            dir = inner;
        }
        libc::close(dir);
    }
}

#[test]
fn a_folder_nested_too_deep_is_one_failed_entry_and_the_rest_run() {
    let tree = tempfile::tempdir().expect("tempdir");
    fs::write(tree.path().join("ok.sock"), "print fine\n").expect("write");
    nest(tree.path(), 2100);
    let root = tree.path().display().to_string();
    let run = test_with(&[&root]).run();
    run.assert_status(1)
        .assert_stdout_contains("folders nested more than 64 deep are not searched");
    assert_eq!(summary(&run), "1 passed, 1 failed", "{}", run.show());
    assert_eq!(run.stdout.matches("failed: ").count(), 1, "{}", run.show());
}

#[test]
fn an_unreadable_folder_is_one_failed_entry_and_the_rest_run() {
    if let Err(reason) = crate::common::can_run_unprivileged() {
        eprintln!("skipped: root reads every folder, and no setpriv here: {reason}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tree = tempfile::tempdir().expect("tempdir");
    let mode = |path: &Path, bits| fs::set_permissions(path, fs::Permissions::from_mode(bits));
    mode(tree.path(), 0o755).expect("chmod");
    fs::write(tree.path().join("ok.sock"), "print fine\n").expect("write");
    let locked = tree.path().join("locked");
    fs::create_dir(&locked).expect("mkdir");
    fs::write(locked.join("x.sock"), "print hidden\n").expect("write");
    mode(&locked, 0o700).expect("chmod");
    let root = tree.path().display().to_string();
    let run = test_with(&[&root]).unprivileged().run();
    run.assert_status(1).assert_stdout_contains(&format!(
        "failed: {root}/locked: cannot read this folder: Permission denied"
    ));
    assert_eq!(summary(&run), "1 passed, 1 failed", "{}", run.show());
}

// ---- 6. Bounded diff, memory and output -----------------------------------

#[test]
fn a_huge_transcript_against_a_short_out_is_judged_in_bounded_time() {
    let script: String = (1..=100_000).map(|n| format!("print line {n}\n")).collect();
    let started = Instant::now();
    let run = test_with(&["big.sock"])
        .file("big.sock", script.as_bytes())
        .file("big.out", b"zzz\n")
        .run();
    // A full diff of these took 9 minutes; the summary takes no time.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    run.assert_status(1)
        .assert_line("the transcript has 200000 lines, big.out has 1: too long for a full diff; first difference at line 1:")
        .assert_line("-zzz")
        .assert_line("+> print line 1");
}

/// The runner's peak resident memory (VmHWM), sampled until it exits.
fn peak_memory_kib(running: &crate::common::Running) -> u64 {
    let status = format!("/proc/{}/status", running.pid());
    let mut peak = 0;
    while let Ok(text) = fs::read_to_string(&status) {
        let hwm = text.lines().find_map(|line| line.strip_prefix("VmHWM:"));
        match hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
            Some(kib) => peak = peak.max(kib),
            None => break, // a zombie has no memory lines
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn failed_transcripts_are_not_all_kept_until_they_are_reported() {
    // The first script (in path order) is slow, so every other result
    // waits for it to be reported. 29 transcripts of 4 MB each would hold
    // 116 MB if their output were kept; only the bounded report is.
    let line = "y".repeat(2 << 20);
    let mut sock = test_with(&["-j", "2", "."]).file("a-slow.sock", b"sleep 4s\n");
    for n in 0..29 {
        sock = sock
            .file(
                &format!("b{n:02}.sock"),
                format!("print {line}\n").as_bytes(),
            )
            .file(&format!("b{n:02}.out"), b"x\n");
    }
    // A debug build echoes and prints each 2 MiB line in about a second,
    // one script after another while the slow one holds the other job.
    let running = sock.guard(Duration::from_secs(90)).spawn();
    let peak = peak_memory_kib(&running);
    let run = running.finish();
    run.assert_status(1);
    assert_eq!(
        summary(&run),
        "1 passed, 29 failed",
        "{}",
        &run.stdout[run.stdout.len().saturating_sub(500)..]
    );
    assert!(peak > 0, "no memory sample");
    assert!(peak < 80 << 10, "the runner peaked at {peak} KiB");
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_without_status_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a", "b", "c", "d", "e"] {
        fs::write(dir.path().join(format!("{name}.sock")), "print quick\n").expect("write");
    }
    for name in ["f", "g", "h", "i", "j"] {
        fs::write(dir.path().join(format!("{name}.sock")), "sleep 2s\n").expect("write");
    }
    // `sockrepl test -v DIR | head -1`, with the reading end in our hands.
    let started = Instant::now();
    let mut child = Command::new(crate::common::BIN)
        .args(["test", "-v", "-j", "1"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    // All ten would take over 10 s: the run stopped at the next line.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "quiet");
}

// ---- 7. Signals end every child --------------------------------------------

#[test]
fn sigterm_sigint_and_sighup_end_every_child_before_the_runner_exits() {
    for (signal, name) in [
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let started = Instant::now();
        let running = test_with(&["--program", "./fake", "-j", "2", "s1", "s2", "s3"])
            .executable("fake", HANGING_FAKE)
            .file("s1/x.sock", b"")
            .file("s2/x.sock", b"")
            .file("s3/x.sock", b"")
            .spawn();
        let pids: Vec<i32> = ["s1", "s2"]
            .iter()
            .flat_map(|dir| {
                let pid = |file: &str| read_pid(&running.path(&format!("{dir}/{file}")));
                [pid("child.pid"), pid("grandchild.pid")]
            })
            .collect();
        running.signal(signal);
        let run = running.finish();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
        run.assert_status(128 + signal)
            .assert_stderr_contains(&format!(
                "stopped by {name}: 3 scripts not run to their end"
            ));
        assert_eq!(
            summary(&run),
            "0 passed, 3 failed",
            "{name}: {}",
            run.show()
        );
        for pid in pids {
            assert!(gone(pid), "{name}: process {pid} outlived the runner");
        }
        assert!(
            !run.path("s3/child.pid").exists(),
            "{name}: s3 started after the stop"
        );
    }
}

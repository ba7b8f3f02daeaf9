//! The acceptance checks of `sockrepl test` itself, on throwaway copies:
//! a one-byte change to an `.out` fails with a readable diff and `--bless`
//! restores it; a script that hangs, one with a syntax error and one whose
//! child dies with an unexpected status are each reported as failed while
//! the other scripts still run and pass.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{repo, Run, Sock};

fn golden(path: &str) -> PathBuf {
    repo("tests/golden").join(path)
}

/// Runs `sockrepl test ARGS...` inside `dir`, without colour.
fn sockrepl_test(dir: &Path, args: &[&str]) -> Run {
    let words = ["test"].iter().chain(args).copied();
    Sock::cli(words).in_dir(dir).env("NO_COLOR", "1").run()
}

/// Copies a golden script and its blessed transcript into `dir`.
fn copy_golden(name: &str, dir: &Path) {
    for ext in ["sock", "out"] {
        let file = format!("{name}.{ext}");
        fs::copy(
            golden(&file),
            dir.join(Path::new(&file).file_name().expect("a file")),
        )
        .expect("copy a golden file");
    }
}

#[test]
fn a_changed_byte_fails_with_a_diff_and_bless_restores_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_golden("commands/send-and-recv", dir.path());
    copy_golden("data/hex-send", dir.path());
    let first = sockrepl_test(dir.path(), &["."]);
    assert_eq!(first.status, Some(0), "{}", first.stdout);
    assert_eq!(first.last_line(), "2 passed, 0 failed");

    // "b'hello'" becomes "b'jello'": one byte of the blessed transcript.
    let out_file = dir.path().join("send-and-recv.out");
    let blessed = fs::read_to_string(&out_file).expect("read .out");
    let changed = blessed.replacen("b'hello'", "b'jello'", 1);
    assert_ne!(changed, blessed, "the transcript shows b'hello'");
    fs::write(&out_file, &changed).expect("write .out");

    let broken = sockrepl_test(dir.path(), &["."]);
    let report = &broken.stdout;
    assert_eq!(broken.status, Some(1), "{report}");
    assert!(
        report.contains("failed: send-and-recv.sock: transcript differs from send-and-recv.out"),
        "{report}"
    );
    assert!(
        report.contains("-b'jello'"),
        "the diff shows the expected line: {report}"
    );
    assert!(
        report.contains("+b'hello'"),
        "the diff shows the actual line: {report}"
    );
    assert_eq!(broken.last_line(), "1 passed, 1 failed");

    let bless = sockrepl_test(dir.path(), &["--bless", "."]);
    assert_eq!(bless.status, Some(0), "{}", bless.stdout);
    assert!(
        bless
            .stdout
            .contains("blessed: send-and-recv.out (changed)"),
        "{}",
        bless.stdout
    );
    assert_eq!(fs::read_to_string(&out_file).expect("read .out"), blessed);

    let again = sockrepl_test(dir.path(), &["."]);
    assert_eq!(again.status, Some(0), "{}", again.stdout);
    assert_eq!(again.last_line(), "2 passed, 0 failed");
}

#[test]
fn hanging_broken_and_crashing_scripts_fail_while_the_rest_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write =
        |name: &str, text: &str| fs::write(dir.path().join(name), text).expect("write script");
    copy_golden("commands/sendto-recvfrom", dir.path());
    write(
        "good-no-out.sock",
        "socketpair a b\nsend a 'x'\nexpect b 'x'\n",
    );
    // Blocks forever: only the runner's watchdog can end it.
    write(
        "hang.sock",
        "socket s tcp\nbind s 127.0.0.1:0\nlisten s\nsettimeout s none\naccept s\n",
    );
    write("syntax.sock", "print never runs\nfrob s\n");
    // A syntax error whose transcript was blessed is a passing golden test.
    write("syntax-blessed.sock", "frob s\n");
    write(
        "syntax-blessed.out",
        "syntax-blessed.sock:1: frob: unknown command 'frob' (type 'help' for the list)\n",
    );
    // sockrepl has no command that panics. A panicking Rust program exits
    // with status 101, and `exit 101` makes the real binary end the same
    // way, which the runner must report as a crash, not a pass.
    write("crash.sock", "print going down\nexit 101\n");

    let started = Instant::now();
    let output = sockrepl_test(dir.path(), &["--kill-after", "1s", "-v", "."]);
    let report = &output.stdout;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the hang was not cut short: {report}"
    );
    assert_eq!(output.status, Some(1), "{report}");
    assert!(
        report.contains("failed: hang.sock: ran longer than the 1s script timeout"),
        "{report}"
    );
    assert!(
        report.contains("failed: syntax.sock: syntax or usage error (exit status: 2)"),
        "{report}"
    );
    assert!(
        report.contains("syntax.sock:2: frob: unknown command 'frob'"),
        "{report}"
    );
    assert!(
        report.contains("failed: crash.sock: sockrepl crashed (exit status: 101)"),
        "{report}"
    );
    assert!(report.contains("ok sendto-recvfrom.sock"), "{report}");
    assert!(report.contains("ok good-no-out.sock"), "{report}");
    assert!(report.contains("ok syntax-blessed.sock"), "{report}");
    assert_eq!(output.last_line(), "3 passed, 3 failed");
}

#[test]
fn a_folder_without_scripts_is_0_passed_0_failed_with_status_0() {
    // Nothing failed, so the summary line is the usual one and the status
    // is 0; stderr says why nothing ran, and every report is empty.
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("empty")).expect("mkdir");
    fs::write(dir.path().join("empty/notes.txt"), "no scripts here\n").expect("write");
    let run = sockrepl_test(
        dir.path(),
        &[
            "empty",
            "--report",
            "gradescope=g.json",
            "--report",
            "json=j.json",
        ],
    );
    assert_eq!(run.status, Some(0), "{}", run.show());
    assert_eq!(run.last_line(), "0 passed, 0 failed", "{}", run.show());
    assert!(
        run.stderr.contains("no *.sock files under empty"),
        "{}",
        run.show()
    );
    let json = fs::read_to_string(dir.path().join("j.json")).expect("json report");
    assert_eq!(json.trim(), "[]");
    let grades = fs::read_to_string(dir.path().join("g.json")).expect("gradescope report");
    assert!(grades.contains("\"score\": 0.0,"), "{grades}");
    assert!(grades.contains("\"tests\": []"), "{grades}");
}

#[test]
fn scripts_in_hidden_folders_run_but_not_those_under_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    for folder in ["t/.hidden", "t/.git"] {
        fs::create_dir_all(dir.path().join(folder)).expect("mkdir");
        fs::write(dir.path().join(folder).join("x.sock"), "print hi\n").expect("write");
    }
    let run = sockrepl_test(dir.path(), &["-v", "t"]);
    assert_eq!(run.status, Some(0), "{}", run.show());
    assert!(run.stdout.contains("ok t/.hidden/x.sock"), "{}", run.show());
    assert!(!run.stdout.contains(".git"), "{}", run.show());
    assert_eq!(run.last_line(), "1 passed, 0 failed");
}

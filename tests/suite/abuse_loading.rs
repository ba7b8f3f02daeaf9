//! Issue 14, loading: a script is read and checked in bounded time and
//! memory whatever it holds, and odd but honest files load.
//!
//! Each test reproduces one item of the issue (docs/testing.md maps them).

use crate::common::{Sock, BIN};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `sockrepl ARGS` in `dir` under an address-space limit, killed after `limit`.
fn bounded(dir: &Path, args: &[&str], env: &[(&str, String)], limit: Duration) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let gib = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &gib);
            Ok(())
        });
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sockrepl");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("sockrepl {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn issue14_a_utf8_bom_at_the_start_of_a_script_is_accepted() {
    Sock::script_bytes(b"\xef\xbb\xbfprint hello\n")
        .run()
        .assert_status(0)
        .assert_stdout_contains("> print hello\nhello\n");
}

#[test]
fn issue14_cr_only_line_ends_are_lines() {
    Sock::script_bytes(b"print one\rprint two\r\nprint three\r")
        .run()
        .assert_status(0)
        .assert_stdout_contains("one\n> print two\ntwo\n> print three\nthree\n");
}

#[test]
fn issue14_a_cr_only_script_names_the_right_line_in_errors() {
    Sock::script_bytes(b"print one\rprint two\rbogus\r")
        .run()
        .assert_status(2)
        .assert_stdout_contains("t.sock:3: bogus: unknown command");
}

#[test]
fn issue14_source_of_proc_kmsg_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.sock"), "source /proc/kmsg\n").unwrap();
    let started = Instant::now();
    let output = bounded(
        dir.path(),
        &["check", "k.sock"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("/proc/kmsg is a kernel interface"),
        "{}",
        text(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn issue14_a_fifo_given_to_source_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.sock");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::write(dir.path().join("f.sock"), "source pipe.sock\n").unwrap();
    let output = bounded(
        dir.path(),
        &["check", "f.sock"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("pipe.sock is not a regular file"));
}

/// Eleven files of ten `source` lines each, every one sourcing the next:
/// 10^10 loads unless the total is capped.
#[test]
fn issue14_nested_sources_are_capped_in_total_and_check_is_quick() {
    let dir = tempfile::tempdir().unwrap();
    for level in 0..11 {
        let body = if level == 10 {
            "print leaf\n".to_string()
        } else {
            format!("source l{}.sock\n", level + 1).repeat(10)
        };
        std::fs::write(dir.path().join(format!("l{level}.sock")), body).unwrap();
    }
    let started = Instant::now();
    let output = bounded(
        dir.path(),
        &["check", "l0.sock"],
        &[],
        Duration::from_secs(20),
    );
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("more than 1000 files sourced in all"),
        "{}",
        text(&output)
    );
    assert!(took < Duration::from_secs(5), "check took {took:?}");
}

/// Sourcing a few files many times over stays legal below the caps.
#[test]
fn issue14_a_helper_sourced_often_still_loads() {
    let mut script = String::new();
    for _ in 0..200 {
        script.push_str("source helper.inc\n");
    }
    Sock::script(&script)
        .file("helper.inc", b"let x 1\nlet y 2\n")
        .run()
        .assert_status(0);
}

/// Ten lines of 65,000 `${env.BIG}` each: gigabytes unless an expanded
/// line is bounded.
#[test]
fn issue14_expanded_lines_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("print {}\n", "${env.BIG}".repeat(65_000));
    std::fs::write(dir.path().join("big.sock"), line.repeat(10)).unwrap();
    let big = ("x".repeat(1499), "BIG");
    let started = Instant::now();
    let output = bounded(
        dir.path(),
        &["run", "big.sock"],
        &[(big.1, big.0)],
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("expansions make this line too long (over 1024 KiB added)"),
        "{}",
        &text(&output)[..500.min(text(&output).len())]
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn issue14_an_expanded_argument_that_reads_as_an_option_is_data() {
    Sock::script("socketpair a b\nsendall a ${1}\nexpect b ${1}\nprint ${1}\n")
        .args(["--file"])
        .run()
        .assert_status(0)
        .assert_stdout_contains("sent 6 bytes")
        .assert_stdout_contains("ok: 6 bytes as expected");
}

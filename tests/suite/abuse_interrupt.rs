//! Issue 14, Ctrl-C: honoured between commands, not only while one waits,
//! and during a lingering `close`, with cleanup and the whole transcript.
//!
//! Each test reproduces one item of the issue (docs/testing.md maps them).

use crate::common;
use crate::common::Sock;
use std::time::{Duration, Instant};

/// Starts `script` (which binds `${tmp}/lab.sock` and `./here.sock` first),
/// waits for `line` in its transcript (or 1 s, if `line` is empty: a busy
/// script's transcript is buffered), sends SIGINT; returns the run and how
/// long it took to end after the signal.
fn interrupt_at(script: &str, line: &str) -> (common::Run, Duration, std::path::PathBuf) {
    let full = format!(
        "socket s unix\nbind s ${{tmp}}/lab.sock\nsocket u unix-dgram\nbind u ./here.sock\n{script}"
    );
    let child = Sock::script(&full).spawn();
    match line {
        "" => std::thread::sleep(Duration::from_secs(1)),
        line => child.wait_for_line(line, Duration::from_secs(15)),
    }
    std::thread::sleep(Duration::from_millis(100));
    child.signal(libc::SIGINT);
    let signalled = Instant::now();
    let run = child.finish();
    let tmp = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("bound to "))
        .map(|l| std::path::Path::new(l).parent().unwrap().to_path_buf())
        .expect("a bound line");
    let took = signalled.elapsed();
    (run, took, tmp)
}

fn assert_cleaned_up(run: &common::Run, tmp: &std::path::Path) {
    assert!(!run.path("here.sock").exists(), "here.sock left behind");
    assert!(!tmp.exists(), "{} left behind", tmp.display());
}

#[test]
fn issue14_ctrl_c_stops_millions_of_prints_with_status_130() {
    let (run, took, tmp) = interrupt_at("repeat 3000000\nprint x\nend\n", "> print x");
    run.assert_status(130);
    // Noticed after a `print` ran, or before the next one.
    let last = run.last_line();
    assert!(
        last.contains(": print: interrupted") && last.contains(" (in iteration "),
        "{last}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_cleaned_up(&run, &tmp);
    // The transcript is whole: every line ends, the failure line is last.
    assert!(run.stdout.ends_with(" of the repeat on line 5)\n"));
}

#[test]
fn issue14_ctrl_c_stops_a_long_flat_script_between_commands() {
    let (run, _, tmp) = interrupt_at(&"print x\n".repeat(200_000), "> print x");
    run.assert_status(130);
    // Noticed after a `print` ran, or before the next one.
    let last = run.last_line();
    assert!(
        last.ends_with(": print: interrupted")
            || last.ends_with(": print: interrupted before this line ran"),
        "{last}"
    );
    assert_cleaned_up(&run, &tmp);
}

#[test]
fn issue14_ctrl_c_stops_an_empty_repeat() {
    let (run, took, tmp) = interrupt_at("repeat 1000000000\nend\n", "");
    run.assert_status(130);
    assert!(run.last_line().ends_with(": repeat: interrupted"));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_cleaned_up(&run, &tmp);
}

/// A client whose peer never reads, with unsent bytes and SO_LINGER 30:
/// its `close` waits in the kernel.
const LINGERING: &str = "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\n\
     socket cli tcp\nsetsockopt cli SO_SNDBUF 4096\nconnect cli ${srv.addr}\naccept srv conn\n\
     setsockopt conn SO_RCVBUF 4096\nsettimeout cli 300ms\n\
     fails TIMEOUT sendall cli --file big.bin\n\
     setsockopt cli SO_LINGER 30\nprint closing\nclose cli\nprint never\n";

#[test]
fn issue14_the_transcript_is_flushed_before_a_lingering_close() {
    let child = Sock::script(LINGERING)
        .file("big.bin", &vec![b'x'; 1 << 20])
        .spawn();
    // The echo of `close` shows while close(2) still waits.
    child.wait_for_line("> close cli", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!child.stdout_so_far().contains("never"));
    child.signal(libc::SIGINT);
    let run = child.finish();
    run.assert_status(130);
}

#[test]
fn issue14_ctrl_c_during_a_lingering_close_ends_the_run_with_130() {
    let script = format!("socket s unix\nbind s ${{tmp}}/lab.sock\n{LINGERING}");
    let child = Sock::script(&script)
        .file("big.bin", &vec![b'x'; 1 << 20])
        .spawn();
    child.wait_for_line("> close cli", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    let tmp = child
        .stdout_so_far()
        .lines()
        .find_map(|l| l.strip_prefix("bound to /tmp"))
        .map(|l| {
            std::path::Path::new(&format!("/tmp{l}"))
                .parent()
                .unwrap()
                .to_path_buf()
        })
        .expect("a bound line");
    child.signal(libc::SIGINT);
    let signalled = Instant::now();
    let run = child.finish();
    assert!(signalled.elapsed() < Duration::from_secs(3));
    run.assert_status(130);
    assert!(
        run.last_line().ends_with(": close: interrupted"),
        "{}",
        run.show()
    );
    assert!(!run.stdout.contains("never"));
    assert!(!tmp.exists(), "{} left behind", tmp.display());
}

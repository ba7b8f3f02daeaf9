//! Issue 14, host-name lookup: it honours `--timeout` and Ctrl-C even when
//! the DNS server never answers (it took 15 s with `--timeout 1s`).
//!
//! Each test runs sockrepl in a mount and network namespace of its own
//! whose /etc/resolv.conf names 127.0.0.1, where the script itself holds a
//! UDP socket on port 53 that never answers.

use crate::common::BIN;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SILENT_DNS: &str = "socket dns udp\nbind dns 127.0.0.1:53\nsocket c tcp\n";

/// sockrepl in a namespace whose only name server is silent, or None
/// where namespaces or bind mounts are not allowed.
fn start(dir: &std::path::Path, args: &[&str]) -> Option<Child> {
    let probe = Command::new("unshare")
        .args(["-m", "-n", "true"])
        .status()
        .ok()?;
    if !probe.success() {
        eprintln!("skipped: cannot make mount and network namespaces");
        return None;
    }
    std::fs::write(
        dir.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n",
    )
    .unwrap();
    let inner = format!(
        "mount --bind resolv.conf /etc/resolv.conf && ip link set lo up && exec {BIN} {}",
        args.join(" ")
    );
    let child = Command::new("unshare")
        .args(["-m", "-n", "sh", "-c", &inner])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Some(child)
}

fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (child.wait().unwrap().code(), out)
}

#[test]
fn issue14_a_lookup_that_gets_no_answer_times_out_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{SILENT_DNS}fails TIMEOUT connect c nosuch.example:80\nprint done\n");
    std::fs::write(dir.path().join("t.sock"), script).unwrap();
    let started = Instant::now();
    let Some(child) = start(dir.path(), &["--timeout", "1s", "run", "t.sock"]) else {
        return;
    };
    let (status, out) = finish(child, Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(status, Some(0), "{out}");
    assert!(
        out.contains("failed as expected: TIMEOUT (no address for nosuch.example within 1s)"),
        "{out}"
    );
    // 1 s, the start-up and the namespace around it; 15 s before.
    assert!(took < Duration::from_millis(1900), "took {took:?}");
    assert!(took >= Duration::from_secs(1), "took {took:?}");
}

#[test]
fn issue14_ctrl_c_ends_a_lookup_that_gets_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        format!("{SILENT_DNS}settimeout c none\nprint looking\nconnect c nosuch.example:80\n");
    std::fs::write(dir.path().join("t.sock"), script).unwrap();
    let Some(child) = start(dir.path(), &["run", "t.sock"]) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(1500));
    // The shell execs sockrepl: the child's pid is sockrepl's.
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let signalled = Instant::now();
    let (status, out) = finish(child, Duration::from_secs(20));
    assert_eq!(status, Some(130), "{out}");
    assert!(out.contains("t.sock:6: connect: interrupted"), "{out}");
    assert!(signalled.elapsed() < Duration::from_secs(1));
}

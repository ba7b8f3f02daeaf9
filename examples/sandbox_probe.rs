//! A test helper, not an example for users: enters the sandbox exactly as
//! `sockrepl --sandbox` does, then checks that the kernel itself refuses
//! what it must, for this process and for programs it starts.
//!
//! `tests/suite/abuse_sandbox.rs` runs it as a process of its own: the
//! sandbox must be entered by a single-threaded process, and a `fork` of
//! the multi-threaded test harness could inherit a lock (the environment's)
//! that another test's thread held, and hang. `cargo test` builds examples.
//!
//! Usage: `sandbox_probe TREE SECRET`; exits 0 when every check holds,
//! else with the number of the check that failed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (tree, secret) = match &args[..] {
        [_, tree, secret] => (Path::new(tree), Path::new(secret)),
        _ => {
            eprintln!("usage: sandbox_probe TREE SECRET");
            std::process::exit(2);
        }
    };
    let config = sockrepl::sandbox::Config {
        trees: vec![tree.to_path_buf()],
        pass_env: Vec::new(),
        limits: sockrepl::sandbox::Limits::default(),
    };
    let code = match sockrepl::sandbox::enter(&config) {
        // The supervising parent: the sandboxed child's status.
        Ok(Some(status)) => status,
        Ok(None) => inside_checks(tree, secret),
        Err(error) => {
            eprintln!("sandbox_probe: {error}");
            90
        }
    };
    std::process::exit(code);
}

/// 0 when everything the sandbox must refuse is refused; else which check failed.
fn inside_checks(tree: &Path, secret: &Path) -> i32 {
    let denied = |r: std::io::Result<Vec<u8>>| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied);
    if !denied(std::fs::read(secret)) || !denied(std::fs::read("/etc/shadow")) {
        return 10;
    }
    if std::fs::read(tree.join("mine.txt")).is_err() {
        return 11;
    }
    if std::fs::write(tree.join("new.txt"), "x").is_ok() {
        return 12;
    }
    let documentation_net = "192.0.2.1:80".parse().expect("an address");
    if std::net::TcpStream::connect_timeout(&documentation_net, Duration::from_secs(1)).is_ok() {
        return 13;
    }
    let cat = Command::new("cat").arg(secret).output();
    if cat.is_ok_and(|out| out.status.success() || !out.stdout.is_empty()) {
        return 14;
    }
    let env = Command::new("sh").args(["-c", "echo \"$HOME\""]).output();
    if env.is_ok_and(|out| out.stdout != b"\n") {
        return 15;
    }
    0
}

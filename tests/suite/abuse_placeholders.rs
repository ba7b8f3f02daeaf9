//! Issue 14, `--stable` placeholders keyed by the whole connection: when
//! the kernel gives two clients of different servers the same ephemeral
//! port, the transcript is the same as when it gives them two ports
//! (`<c165.port>` one run and `<c4.port>` the next, before).
//!
//! Each run is in a network namespace of its own, where
//! `ip_local_port_range` either holds one port (every client gets it) or
//! is the usual range.

use crate::common::BIN;
use std::process::Command;

const SCRIPT: &str = "\
socket srv1 tcp
bind srv1 127.0.0.1:5001
listen srv1
socket srv2 tcp
bind srv2 127.0.0.1:5002
listen srv2
socket c4 tcp
connect c4 127.0.0.1:5001
socket c165 tcp
connect c165 127.0.0.1:5002
accept srv1 a1
accept srv2 a2
getsockname c4
getsockname c165
getpeername a1
getpeername a2
print ${c4.addr} ${c165.addr} ${c4.port} ${c165.port} ${a1.peer} ${a2.peer}
sockets
sendall c4 one
expect a1 one
close c165
getpeername a2
close c4
sockets
";

/// The transcript of SCRIPT in a namespace whose ephemeral ports are
/// `range`; None where namespaces cannot be made.
fn run_with_ports(range: Option<&str>, stable: bool) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.sock"), SCRIPT).unwrap();
    let set_range = range
        .map(|r| format!("echo '{r}' > /proc/sys/net/ipv4/ip_local_port_range && "))
        .unwrap_or_default();
    let stable = if stable { "--stable" } else { "" };
    let inner = format!("ip link set lo up && {set_range}exec {BIN} {stable} run t.sock");
    let output = Command::new("unshare")
        .args(["-n", "sh", "-c", &inner])
        .current_dir(dir.path())
        .output()
        .unwrap();
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        if text.contains("unshare") || text.contains("Operation not permitted") {
            eprintln!("skipped: cannot make a network namespace: {text}");
            return None;
        }
        panic!("{}{text}", String::from_utf8_lossy(&output.stdout));
    }
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn issue14_one_port_for_two_clients_gives_the_same_stable_transcript() {
    // The premise: with one ephemeral port, both clients really get it.
    let Some(raw) = run_with_ports(Some("40000 40000"), false) else {
        return;
    };
    assert!(
        raw.contains("connected 127.0.0.1:40000 -> 127.0.0.1:5001")
            && raw.contains("connected 127.0.0.1:40000 -> 127.0.0.1:5002"),
        "{raw}"
    );
    let shared = run_with_ports(Some("40000 40000"), true).unwrap();
    let apart = run_with_ports(None, true).unwrap();
    assert_eq!(shared, apart);
    // And each client keeps its own name everywhere.
    assert!(
        shared.contains("connected 127.0.0.1:<c165.port> -> 127.0.0.1:5002"),
        "{shared}"
    );
    assert!(
        shared.contains("accepted a1 from 127.0.0.1:<c4.port>"),
        "{shared}"
    );
    assert!(
        shared.contains("accepted a2 from 127.0.0.1:<c165.port>"),
        "{shared}"
    );
    assert!(
        shared.contains("\n127.0.0.1:<c4.port> 127.0.0.1:<c165.port> <c4.port> <c165.port> 127.0.0.1:<c4.port> 127.0.0.1:<c165.port>\n"),
        "{shared}"
    );
}

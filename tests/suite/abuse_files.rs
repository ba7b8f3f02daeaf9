//! Issue 14, file errors: they carry their errno name, so `fails ENOSPC
//! recvall ... --into` can match them, and a full disk says how many bytes
//! had arrived and how many reached the file.
//!
//! Each test reproduces one item of the issue (docs/testing.md maps them).

use crate::common::{Sock, BIN};
use std::process::Command;

/// A server that sends data.bin and closes; a client `c` connected to it.
fn sender() -> String {
    "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\nsocket c tcp\nconnect c ${srv.addr}\n\
     accept srv conn\nsetsockopt c SO_RCVBUF 1048576\nsettimeout conn 5s\n\
     sendall conn --file data.bin\nclose conn\n"
        .to_string()
}

#[test]
fn issue14_fails_enospc_matches_a_full_device() {
    Sock::script(&(sender() + "fails ENOSPC recvall c --into /dev/full\n"))
        .file("data.bin", b"hello")
        .run()
        .assert_status(0)
        .assert_stdout_contains(
            "failed as expected: cannot write /dev/full: ENOSPC (No space left on device); \
             5 bytes had arrived; the first 0 are in /dev/full",
        );
}

#[test]
fn issue14_a_file_error_is_a_failure_named_by_its_errno() {
    // A missing --file fails the command like any other failure: a bare
    // `fails` accepts it, `fails ENOENT` names it, another errno does not.
    Sock::script("socketpair a b\nfails send a --file nope.bin\n")
        .run()
        .assert_status(0)
        .assert_line(
            "failed as expected: cannot read nope.bin: ENOENT (No such file or directory)",
        );
    Sock::script("socketpair a b\nfails ENOENT send a --file nope.bin\n")
        .run()
        .assert_status(0);
    Sock::script("socketpair a b\nfails EACCES send a --file nope.bin\n")
        .run()
        .assert_status(1)
        .assert_last_line(
            "t.sock:2: fails: expected EACCES, but it failed with cannot read nope.bin: ENOENT (No such file or directory)",
        );
}

/// A 64 KiB file system, full after 64 KiB of the 200 KiB that arrive.
#[test]
fn issue14_a_full_disk_says_how_many_bytes_had_arrived() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("small")).unwrap();
    std::fs::write(dir.path().join("data.bin"), vec![b'x'; 200 * 1024]).unwrap();
    std::fs::write(
        dir.path().join("t.sock"),
        sender() + "recvall c --into small/out.bin\n",
    )
    .unwrap();
    let inner = format!("mount -t tmpfs -o size=64k tmpfs small && exec {BIN} run t.sock");
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", &inner])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if text.contains("unshare failed") || text.contains("mount:") {
        eprintln!("skipped: cannot mount a tmpfs here: {text}");
        return;
    }
    assert_eq!(output.status.code(), Some(1), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(
            "t.sock:11: recvall: cannot write small/out.bin: ENOSPC (No space left on device); "
        ) && last.contains(" bytes had arrived; the first 65536 are in small/out.bin"),
        "{text}"
    );
}

//! sockrepl against a peer not written in Rust: the lecture's echo server in
//! Python (the lecture's `scripts/python/echo-server.py`), started on port 0 per test.

use crate::common::{repo, PythonEcho, Sock};

#[test]
fn talks_to_the_python_echo_server() {
    let server = PythonEcho::start();
    let script = "socket s tcp\nconnect s ${1}\nsendall s 'Hello, world'\nexpect s 'Hello, world'\nclose s\n";
    let run = Sock::script(script)
        .args([server.addr.as_str()])
        .timeout("5s")
        .run();
    run.assert_status(0)
        .assert_outcome("expect s 'Hello, world'", "ok: 12 bytes as expected");
}

#[test]
fn the_python_server_closes_a_connection_only_when_its_next_client_comes() {
    // The lecture's server never closes a connection itself: after its one
    // echo it goes back to accept(), and Python closes the old `conn` only
    // when the next client replaces it.
    let server = PythonEcho::start();
    let script = "socket a\nconnect a ${1}\nsendall a one\nexpect a one\n\
                  settimeout a 300ms\nfails TIMEOUT recv a\nsettimeout a 5s\n\
                  socket b\nconnect b ${1}\nexpect_eof a\nsendall b two\nexpect b two\n";
    let run = Sock::script(script)
        .args([server.addr.as_str()])
        .timeout("5s")
        .run();
    run.assert_status(0)
        .assert_outcome("expect_eof a", "ok: end of stream");
}

#[test]
fn recv_from_the_python_server_reads_like_the_lecture() {
    let server = PythonEcho::start();
    let script = "socket s\nconnect s ${1}\nsendall s 'Hello, world'\nrecv s 1024\n";
    let run = Sock::script(script)
        .args([server.addr.as_str()])
        .stable()
        .timeout("5s")
        .run();
    run.assert_status(0)
        .assert_outcome("recv s 1024", "b'Hello, world'");
    run.assert_stdout_contains(&format!("> connect s {}", server.addr));
}

#[test]
fn the_python_server_echoes_binary_bytes() {
    let server = PythonEcho::start();
    let script = r#"socket s
connect s ${1}
sendall s --hex '00 ff 0a 27 22 5c'
expect s '\x00\xff\n\x27"\\'
"#;
    let run = Sock::script(script)
        .args([server.addr.as_str()])
        .timeout("5s")
        .run();
    run.assert_status(0)
        .assert_last_line("ok: 6 bytes as expected");
}

#[test]
fn a_wrong_reply_from_the_python_server_fails_with_status_1() {
    let server = PythonEcho::start();
    let script = "socket s\nconnect s ${1}\nsendall s ping\nexpect s pong\n";
    let run = Sock::script(script)
        .args([server.addr.as_str()])
        .timeout("5s")
        .run();
    run.assert_status(1).assert_last_line(
        "t.sock:4: expect: expected b'pong', got b'ping' (first difference at byte 1)",
    );
}

#[test]
fn nothing_listens_after_the_python_server_is_gone() {
    let addr = {
        let server = PythonEcho::start();
        server.addr.clone()
    }; // dropped: killed
    let run = Sock::script("socket s\nconnect s ${1}\n")
        .args([addr.as_str()])
        .timeout("2s")
        .run();
    run.assert_status(1).assert_last_line(&format!(
        "t.sock:2: connect: ECONNREFUSED (Connection refused); hint: nothing is listening at {addr}"
    ));
}

#[test]
fn the_shipped_echo_client_script_passes_against_the_python_server() {
    let client = repo("scripts/echo-client.sock");
    let server = PythonEcho::start();
    let path = client.to_string_lossy().into_owned();
    let run = Sock::cli(["run", path.as_str(), server.addr.as_str()])
        .timeout("5s")
        .run();
    run.assert_status(0)
        .assert_stdout_contains("ok: 12 bytes as expected");
}

#[test]
fn the_shipped_echo_client_script_needs_its_argument() {
    let client = repo("scripts/echo-client.sock");
    let path = client.to_string_lossy().into_owned();
    Sock::cli(["run", path.as_str()])
        .run()
        .assert_status(2)
        .assert_nothing_ran();
}

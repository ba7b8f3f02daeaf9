//! Timeouts kept on time (issue 5): each blocking command gives up within
//! 10% of its timeout, a handle's own timeout wins over the session's, and
//! a peer trickling one byte a second does not stretch a timeout.
//!
//! These tests measure wall-clock time to within tens of milliseconds, so
//! they are a test binary of their own: cargo runs it after the suite
//! (`tests/suite`), so the suite's hundreds of tests, some of them busy
//! for seconds on every core, cannot eat the margin. A timeout is timed
//! from its command's echo to its failure line (when each reached the
//! pipe), not over the whole process, so no start-up is in the measure and
//! these tests can run side by side. The other fault tests are in
//! `tests/suite/reliability_faults.rs`.

mod common;

use common::{MisbehavingPeer, Peer, Run, Sock};
use std::time::{Duration, Instant};

// ---- timeouts are kept, to within 10% ----------------------------------------

/// Runs `setup` then `blocking`, which must fail with a TIMEOUT line
/// starting with `expected`, and checks that it gave up on time: from its
/// echo (`> ...`, printed as it starts) to that failure line took `timeout`
/// within ±10% (plus 30 ms for process noise), and the process had ended
/// within the same margin.
fn assert_times_out(setup: &str, blocking: &str, timeout: Duration, expected: &str) {
    let plain = |script: &str| (Sock::script(script), ());
    assert_times_out_with(plain, setup, blocking, timeout, expected);
}

/// Like [`assert_times_out`]; `make` builds the run's [`Sock`] and whatever
/// must stay alive while it runs (a peer).
fn assert_times_out_with<K>(
    make: impl Fn(&str) -> (Sock, K),
    setup: &str,
    blocking: &str,
    timeout: Duration,
    expected: &str,
) {
    let millis = format!("{}ms", timeout.as_millis());
    let (sock, _keep) = make(&format!("{setup}{blocking}\n"));
    let run = sock.stable().timeout(&millis).run();
    run.assert_status(1).assert_last_line_starts(expected);
    let (waited, ended) = last_command_times(&run);
    let slack = timeout / 10 + Duration::from_millis(30);
    assert!(
        waited + slack >= timeout && waited <= timeout + slack,
        "{blocking:?} waited {waited:?} for a {timeout:?} timeout\n{}",
        run.show()
    );
    assert!(
        ended <= timeout + slack,
        "the run ended {ended:?} after {blocking:?} began, for a {timeout:?} timeout\n{}",
        run.show()
    );
    eprintln!("{blocking:?}: waited {waited:?} for {timeout:?}, ended after {ended:?}");
}

/// For the run's last command (the last echo `> ...`): how long from its
/// echo to the last line (its failure), and from its echo to the exit.
fn last_command_times(run: &Run) -> (Duration, Duration) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    let echo = lines.iter().rposition(|l| l.starts_with("> "));
    let began = run.printed_at(echo.expect("an echoed command"));
    let failed = run.printed_at(lines.len() - 1);
    (failed - began, run.elapsed - began)
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn accept_times_out_on_time() {
    assert_times_out(
        "socket s tcp\nbind s 127.0.0.1:0\nlisten s\n",
        "accept s",
        SECOND,
        "t.sock:4: accept: TIMEOUT (no connection within 1s)",
    );
}

/// A listener with backlog 0 whose queue holds one unaccepted connection:
/// Linux drops further SYNs, so the next connect gets no answer at all.
#[test]
fn connect_to_a_full_backlog_times_out_on_time() {
    assert_times_out(
        "socket s tcp\nbind s 127.0.0.1:0\nlisten s 0\nsocket c1 tcp\nconnect c1 ${s.addr}\n\
         socket c2 tcp\n",
        "connect c2 ${s.addr}",
        SECOND,
        "t.sock:7: connect: TIMEOUT (no answer from 127.0.0.1:<s.port> within 1s)",
    );
}

#[test]
fn poll_times_out_on_time() {
    assert_times_out(
        "socketpair a b\n",
        "poll b",
        SECOND,
        "t.sock:2: poll: TIMEOUT (no handle ready within 1s)",
    );
}

/// Each run gets its own peer that accepts and then never reads or writes;
/// `PEER` in the script is its address. `files` go next to the script.
fn against_silent_peer(files: &'static [(&'static str, usize)]) -> impl Fn(&str) -> (Sock, Peer) {
    move |script: &str| {
        let peer = MisbehavingPeer::start("silent", 0, 0.0);
        let mut sock = Sock::script(&script.replace("PEER", &peer.addr));
        for (name, len) in files {
            sock = sock.file(name, &vec![0u8; *len]);
        }
        (sock, peer)
    }
}

const SILENT_SETUP: &str = "socket c tcp\nconnect c PEER\n";

fn assert_silent_peer_times_out(blocking: &str, expected: &str) {
    assert_times_out_with(
        against_silent_peer(&[]),
        SILENT_SETUP,
        blocking,
        SECOND,
        expected,
    );
}

#[test]
fn recv_from_a_silent_peer_times_out_on_time() {
    assert_silent_peer_times_out("recv c", "t.sock:3: recv: TIMEOUT (no data within 1s)");
}

#[test]
fn expect_from_a_silent_peer_times_out_on_time() {
    assert_silent_peer_times_out(
        "expect c hello",
        "t.sock:3: expect: TIMEOUT (nothing arrived within 1s; expected b'hello')",
    );
}

#[test]
fn expect_eof_from_a_silent_peer_times_out_on_time() {
    assert_silent_peer_times_out("expect_eof c", "t.sock:3: expect_eof: TIMEOUT");
}

#[test]
fn recvall_from_a_silent_peer_times_out_on_time() {
    assert_silent_peer_times_out(
        "recvall c --into got.bin",
        "t.sock:3: recvall: TIMEOUT (no end of stream within 1s; 0 bytes had arrived and are in got.bin)",
    );
}

/// The peer never reads: once the socket buffers are full, sendall waits.
/// 16 MB is far more than loopback TCP buffers take without a reader.
#[test]
fn sendall_to_a_peer_that_never_reads_times_out_on_time() {
    assert_times_out_with(
        against_silent_peer(&[("big.bin", 16 << 20)]),
        SILENT_SETUP,
        "sendall c --file big.bin",
        SECOND,
        "t.sock:3: sendall: TIMEOUT (no room to send within 1s",
    );
}

#[test]
fn the_handle_timeout_wins_over_the_session_default() {
    let started = Instant::now();
    let run = Sock::script("socketpair a b\nsettimeout b 300ms\nrecv b\n")
        .timeout("10s")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recv: TIMEOUT (no data within 300ms)");
    assert!(started.elapsed() < Duration::from_secs(3), "{}", run.show());
}

// ---- a peer that trickles one byte a second --------------------------------------

#[test]
fn a_trickling_peer_does_not_stretch_the_expect_timeout() {
    let peer = MisbehavingPeer::start("trickle", 10, 1.0);
    let started = Instant::now();
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nexpect c 0123456789\n",
        peer.addr
    ))
    .timeout("2500ms")
    .run();
    let took = started.elapsed();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:3: expect: TIMEOUT (only ");
    // One byte a second for 2.5 s: the first three bytes, shown as they are.
    run.assert_stdout_contains("only 3 of the 10 expected bytes within 2.5s")
        .assert_stdout_contains("got b'012'");
    // Each byte arriving must not restart the clock.
    let limit = Duration::from_millis(2500);
    assert!(
        took >= limit && took <= limit + limit / 10 + Duration::from_millis(100),
        "took {took:?} for a 2.5s timeout\n{}",
        run.show()
    );
}

#[test]
fn a_trickling_peer_does_not_stretch_the_recvall_timeout() {
    let peer = MisbehavingPeer::start("trickle", 10, 1.0);
    let started = Instant::now();
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nrecvall c --into got.bin\n",
        peer.addr
    ))
    .timeout("2500ms")
    .run();
    let took = started.elapsed();
    run.assert_status(1).assert_last_line(
        "t.sock:3: recvall: TIMEOUT (no end of stream within 2.5s; 3 bytes had arrived and are in got.bin)",
    );
    assert_eq!(std::fs::read(run.path("got.bin")).unwrap(), b"012");
    let limit = Duration::from_millis(2500);
    assert!(
        took >= limit && took <= limit + limit / 10 + Duration::from_millis(100),
        "took {took:?} for a 2.5s timeout\n{}",
        run.show()
    );
}

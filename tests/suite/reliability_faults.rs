//! Faults from the outside world (issue 5): a broken or hostile peer, a
//! machine without a route or without privileges, no file descriptors
//! left, Ctrl-C in the middle of a wait.
//!
//! For each fault sockrepl must say exactly what happened (errno name,
//! counts of bytes that did arrive) with the right exit status, never die
//! of a signal or a panic, never wait past its timeout, and never leak a
//! socket or a socket file. The simpler errno cases (ECONNREFUSED,
//! EADDRINUSE, EADDRNOTAVAIL, EPIPE on a socketpair, raw-socket EPERM) are
//! already covered by `errors.rs` and `tests/golden/errors/`; this file
//! adds the ones that need a misbehaving peer, a namespace, a resource
//! limit or a signal. That each blocking command gives up on time is
//! measured in `tests/timing.rs`, away from this suite's load.

use crate::common::{self, MisbehavingPeer, Run, Sock, GATE};
use std::time::{Duration, Instant};

/// A TCP listener `srv`, a client `cli` connected to it, and `conn` accepted.
const CONNECTED: &str = "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\n\
                         socket cli tcp\nconnect cli ${srv.addr}\naccept srv conn\n";

/// Lines of CONNECTED, so failure lines can name the next line number.
const CONNECTED_LINES: usize = 6;

// ---- no route, no privilege ------------------------------------------------

#[test]
fn network_unreachable_in_an_empty_network_namespace() {
    skip_unless!(common::can_unshare_net());
    // The new namespace has only a down `lo`: no route, and no packet leaves.
    let run = Sock::script("socket c tcp\nconnect c 10.0.0.1:80\n")
        .in_new_netns()
        .stable()
        .run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: connect: ENETUNREACH (Network is unreachable); hint: ");
}

#[test]
fn network_unreachable_is_matched_by_fails_and_the_session_goes_on() {
    skip_unless!(common::can_unshare_net());
    let run = Sock::script(
        "socket c udp\nfails ENETUNREACH sendto c 10.0.0.1:9 x\nsocket d tcp\n\
         fails ENETUNREACH connect d 10.0.0.1:80\nprint still-here\n",
    )
    .in_new_netns()
    .run();
    run.assert_status(0).assert_line("still-here");
}

/// `Ok` unless this machine lets every user bind port 80
/// (`net.ipv4.ip_unprivileged_port_start`).
fn port_80_is_privileged() -> Result<(), String> {
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let start = std::fs::read_to_string(path).ok();
    match start.and_then(|text| text.trim().parse::<u32>().ok()) {
        Some(start) if start <= 80 => Err("this machine lets every user bind port 80".into()),
        _ => Ok(()),
    }
}

#[test]
fn binding_a_privileged_port_as_a_normal_user_is_eacces() {
    skip_unless!(common::can_run_unprivileged());
    skip_unless!(port_80_is_privileged());
    let run = Sock::stdin_script("socket s tcp\nbind s 127.0.0.1:80\n")
        .unprivileged()
        .stable()
        .run();
    run.assert_status(1).assert_last_line(
        "<stdin>:2: bind: EACCES (Permission denied); hint: ports below 1024 need root or CAP_NET_BIND_SERVICE",
    );
}

/// 192.0.2.1 (TEST-NET-1) is on no interface here; bind sends no packet.
#[test]
fn an_address_not_on_this_machine_is_eaddrnotavail_and_fails_matches_it() {
    let run = Sock::script("socket s tcp\nbind s 192.0.2.1:0\n").run();
    run.assert_status(1).assert_last_line_starts(
        "t.sock:2: bind: EADDRNOTAVAIL (Cannot assign requested address); hint: ",
    );
    let run = Sock::script(
        "socket s tcp\nfails EADDRNOTAVAIL bind s 192.0.2.1:0\nbind s 127.0.0.1:0\nprint still-here\n",
    )
    .run();
    run.assert_status(0).assert_line("still-here");
}

// ---- a peer that resets the connection (RST) ---------------------------------

/// CONNECTED, then `conn` resets: SO_LINGER 0 and close send an RST.
fn reset_by_peer(before_reset: &str, then: &str) -> Run {
    Sock::script(&format!(
        "{CONNECTED}{before_reset}setsockopt conn SO_LINGER 0\nclose conn\n{then}"
    ))
    .stable()
    .timeout("2s")
    .run()
}

#[test]
fn reset_during_recv_is_econnreset_and_status_1() {
    let run = reset_by_peer("", "recv cli\n");
    run.assert_no_panic()
        .assert_status(1)
        .assert_last_line(&format!(
            "t.sock:{}: recv: ECONNRESET (Connection reset by peer)",
            CONNECTED_LINES + 3
        ));
}

#[test]
fn bytes_sent_before_a_reset_are_still_received() {
    let run = reset_by_peer("send conn 'hel'\n", "recv cli\nfails ECONNRESET recv cli\n");
    run.assert_status(0)
        .assert_outcome("recv cli", "b'hel'")
        .assert_last_line("failed as expected: ECONNRESET (Connection reset by peer)");
}

#[test]
fn reset_during_expect_is_econnreset() {
    let run = reset_by_peer("", "expect cli hello\n");
    run.assert_status(1).assert_last_line_starts(&format!(
        "t.sock:{}: expect: ECONNRESET (Connection reset by peer)",
        CONNECTED_LINES + 3
    ));
}

/// `expect` took 3 bytes off the socket before the reset: the failure must
/// show them, as it does for an early end of stream or a timeout.
#[test]
fn reset_half_way_through_expect_shows_what_arrived() {
    let run = reset_by_peer("send conn 'hel'\n", "expect cli hello\n");
    run.assert_status(1).assert_last_line_starts(&format!(
        "t.sock:{}: expect: ECONNRESET (Connection reset by peer)",
        CONNECTED_LINES + 4
    ));
    run.assert_stdout_contains("b'hel'");
}

#[test]
fn reset_during_expect_eof_is_econnreset() {
    let run = reset_by_peer("", "expect_eof cli\n");
    run.assert_status(1).assert_last_line_starts(&format!(
        "t.sock:{}: expect_eof: ECONNRESET (Connection reset by peer)",
        CONNECTED_LINES + 3
    ));
}

/// Bytes for `sendall` held in memory: a DATA word far larger than the
/// socket buffers, so the reset lands while sendall is still sending.
fn big_data_word(len: usize) -> String {
    "x".repeat(len)
}

#[test]
fn reset_in_the_middle_of_sendall_is_econnreset_not_sigpipe() {
    let peer = MisbehavingPeer::start("reset-reading", 65_536, 0.0);
    let script = format!(
        "socket c tcp\nsetsockopt c SO_SNDBUF 4096\nconnect c {}\nsendall c {}\n",
        peer.addr,
        big_data_word(2_000_000)
    );
    let run = Sock::script(&script).timeout("5s").run();
    run.assert_no_panic().assert_status(1);
    let last = run.last_line();
    assert!(
        last.starts_with(
            "t.sock:4: sendall: ECONNRESET (Connection reset by peer); hint: the peer reset the connection; "
        ),
        "{}",
        run.show()
    );
    assert!(
        last.ends_with("of 2000000 bytes were sent first"),
        "the failure does not say how much was sent\n{}",
        run.show()
    );
}

/// The same through `--file` (sendfile(2)). Linux may report the reset as
/// EPIPE on this path; either way the count already sent must be shown.
#[test]
fn reset_in_the_middle_of_sendall_file_says_how_much_was_sent() {
    let peer = MisbehavingPeer::start("reset-reading", 65_536, 0.0);
    let run = Sock::script(&format!(
        "socket c tcp\nsetsockopt c SO_SNDBUF 4096\nconnect c {}\nsendall c --file big.bin\n",
        peer.addr
    ))
    .file("big.bin", &vec![b'z'; 2_000_000])
    .timeout("5s")
    .run();
    run.assert_no_panic().assert_status(1);
    let last = run.last_line();
    assert!(
        last.starts_with("t.sock:4: sendall: ECONNRESET (Connection reset by peer)")
            || last.starts_with("t.sock:4: sendall: EPIPE (Broken pipe)"),
        "{}",
        run.show()
    );
    assert!(
        last.contains("of 2000000 bytes were sent first"),
        "the failure does not say how much was sent\n{}",
        run.show()
    );
}

// ---- sending after the peer closed: EPIPE, never SIGPIPE ---------------------

#[test]
fn send_after_the_tcp_peer_closed_is_epipe_and_the_session_goes_on() {
    // The first send is accepted by the kernel and answered with an RST by
    // the closed peer; the next one fails with EPIPE (and must not raise
    // SIGPIPE, which would kill the process).
    let run = Sock::script(&format!(
        "{CONNECTED}close conn\nexpect_eof cli\nsend cli first\nsleep 100ms\n\
         fails EPIPE send cli second\nfails EPIPE sendall cli third\nprint still-here\n"
    ))
    .timeout("2s")
    .run();
    run.assert_no_panic()
        .assert_status(0)
        .assert_line("still-here");
}

#[test]
fn sendall_of_a_file_after_the_peer_closed_is_epipe_with_status_1() {
    let run = Sock::script("socketpair a b\nclose b\nsendall a --file big.bin\n")
        .file("big.bin", &vec![0u8; 1_000_000])
        .run();
    run.assert_no_panic()
        .assert_status(1)
        .assert_last_line_starts("t.sock:3: sendall: EPIPE (Broken pipe); hint: ");
}

// ---- a peer that closes half way -----------------------------------------------

/// The bytes misbehaving_peer.py sends: 0123456789 repeated.
fn pattern(len: usize) -> Vec<u8> {
    b"0123456789".iter().copied().cycle().take(len).collect()
}

#[test]
fn peer_closing_half_way_through_expect_file_shows_the_counts() {
    let peer = MisbehavingPeer::start("close-after", 100_000, 0.0);
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nexpect c --file want.bin\n",
        peer.addr
    ))
    .file("want.bin", &pattern(200_000))
    .timeout("5s")
    .run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:3: expect: expected ");
    // The counts are of the whole expectation, not of one internal chunk.
    run.assert_stdout_contains("the stream ended after 100000 of 200000 bytes");
}

#[test]
fn peer_closing_half_way_through_recvall_into_leaves_exactly_those_bytes() {
    let peer = MisbehavingPeer::start("close-after", 123_457, 0.0);
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nrecvall c --into got.bin\n",
        peer.addr
    ))
    .timeout("5s")
    .run();
    run.assert_status(0)
        .assert_last_line("received 123457 bytes into got.bin, then end of stream");
    assert_eq!(
        std::fs::read(run.path("got.bin")).unwrap(),
        pattern(123_457)
    );
}

#[test]
fn peer_resetting_half_way_through_recvall_into_keeps_what_arrived() {
    let peer = MisbehavingPeer::start("reset-after", 100_000, 0.0);
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nsleep 300ms\nrecvall c --into got.bin\n",
        peer.addr
    ))
    .timeout("5s")
    .run();
    run.assert_status(1).assert_last_line(
        "t.sock:4: recvall: ECONNRESET (Connection reset by peer); hint: 100000 bytes had arrived and are in got.bin",
    );
    assert_eq!(
        std::fs::read(run.path("got.bin")).unwrap(),
        pattern(100_000)
    );
}

// ---- a peer that trickles one byte a second --------------------------------------

#[test]
fn a_trickling_peer_is_read_as_it_comes() {
    let peer = MisbehavingPeer::start("trickle", 3, 1.0);
    let run = Sock::script(&format!(
        "socket c tcp\nconnect c {}\nrecv c\nexpect c 12\n",
        peer.addr
    ))
    .timeout("5s")
    .run();
    // recv returns the one byte there is; expect waits across several bytes.
    run.assert_status(0)
        .assert_outcome("recv c", "b'0'")
        .assert_last_line("ok: 2 bytes as expected");
}

// ---- no file descriptors left (ulimit -n 32) ---------------------------------------

const FD_LIMIT: u64 = 32;

/// How many `socket` commands succeed under the limit before EMFILE.
fn sockets_until_emfile() -> usize {
    let script: String = (1..=40).map(|i| format!("socket s{i} udp\n")).collect();
    let run = Sock::script(&script).fd_limit(FD_LIMIT).run();
    run.assert_status(1);
    let last = run.last_line();
    let line = last
        .strip_prefix("t.sock:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no failure line\n{}", run.show()));
    assert!(
        last.ends_with("socket: EMFILE (Too many open files); hint: this process has no file descriptors left: close some handles"),
        "{}",
        run.show()
    );
    line - 1
}

#[test]
fn running_out_of_descriptors_is_emfile_and_closing_handles_frees_them() {
    let free = sockets_until_emfile();
    assert!(
        free >= 4,
        "only {free} descriptors free under ulimit -n {FD_LIMIT}"
    );
    // A listener, a client with a pending connection, then fill the rest.
    let mut script = String::from(
        "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\nsocket cli tcp\nconnect cli ${srv.addr}\n",
    );
    for i in 3..=free {
        script.push_str(&format!("socket f{i} udp\n"));
    }
    script.push_str(
        "fails EMFILE socket extra udp\nfails EMFILE accept srv conn\nfails EMFILE socketpair p q\n\
         close f3\naccept srv conn\nfails EMFILE socket extra udp\n\
         close f4\nfails EMFILE socketpair p q\nclose f5\nsocketpair p q\n\
         send p hi\nexpect q hi\nsend cli hello\nexpect conn hello\nprint still-here\n",
    );
    let run = Sock::script(&script).fd_limit(FD_LIMIT).timeout("2s").run();
    run.assert_no_panic()
        .assert_status(0)
        .assert_outcome(
            "fails EMFILE socket extra udp",
            "failed as expected: EMFILE (Too many open files); hint: this process has no file descriptors left: close some handles",
        )
        .assert_outcome("fails EMFILE accept srv conn", "failed as expected: EMFILE (Too many open files)")
        .assert_line("still-here");
}

// ---- no leaks ----------------------------------------------------------------------

#[test]
fn ten_thousand_socket_close_cycles_leave_the_fd_count_unchanged() {
    let mut script = format!("{GATE}recv gate\n");
    for i in 0..10_000 {
        let kind = ["tcp", "udp", "unix", "unix-dgram"][i % 4];
        script.push_str(&format!("socket s {kind}\nclose s\n"));
    }
    script.push_str("print done\nrecv gate\n");
    let started = Instant::now();
    let child = Sock::script(&script).guard(Duration::from_secs(60)).spawn();
    child.wait_for_line("> recv gate", Duration::from_secs(10));
    let before = child.fd_count();
    child.open_gate();
    child.wait_for_line("done", Duration::from_secs(50));
    let after = child.fd_count();
    child.open_gate();
    let run = child.finish();
    run.assert_status(0);
    assert_eq!(before, after, "descriptors leaked\n{}", run.show());
    eprintln!("10,000 socket/close cycles: {:?}", started.elapsed());
}

#[test]
fn bind_close_cycles_of_unix_sockets_leave_no_files_and_no_fds() {
    let mut script = format!("{GATE}recv gate\n");
    for _ in 0..1_000 {
        script.push_str("socket u unix\nbind u ./cycle.sock\nclose u\n");
        script.push_str("socket d unix-dgram\nbind d ${tmp}/d.sock\nclose d\n");
    }
    script.push_str("print done\nrecv gate\n");
    let child = Sock::script(&script).spawn();
    child.wait_for_line("> recv gate", Duration::from_secs(10));
    let before = child.fd_count();
    child.open_gate();
    child.wait_for_line("done", Duration::from_secs(15));
    let after = child.fd_count();
    assert!(!child.path("cycle.sock").exists(), "cycle.sock left behind");
    child.open_gate();
    let run = child.finish();
    run.assert_status(0);
    assert_eq!(before, after, "descriptors leaked\n{}", run.show());
}

/// Names in `dir`, sorted, to compare a directory before and after.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn closing_a_unix_handle_removes_its_path_and_nothing_else() {
    // A name no other test uses: the abstract namespace is shared by every
    // process on the machine, and by every test of this binary.
    let script = format!(
        "{GATE}socket a unix\nbind a ./a.sock\nsocket b unix-dgram\nbind b ./b.sock\n\
         socket c unix\nbind c @sockrepl-close-{}\nsocketpair p q\nprint bound\nrecv gate\n\
         close a\nclose c\nclose p\nprint closed\nrecv gate\n",
        std::process::id()
    );
    let child = Sock::script(&script)
        .file("a.sock.keep", b"not a socket")
        .file("b.keep", b"")
        .spawn();
    child.wait_for_line("bound", Duration::from_secs(10));
    let bound = listing(&child.path("."));
    child.open_gate();
    child.wait_for_line("closed", Duration::from_secs(10));
    let closed = listing(&child.path("."));
    child.open_gate();
    let run = child.finish();
    run.assert_status(0);
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let keep = ["a.sock.keep", "b.keep", "t.sock"];
    assert_eq!(
        bound,
        names(&["a.sock", "a.sock.keep", "b.keep", "b.sock", "t.sock"])
    );
    // Closing `a` removed a.sock and only a.sock; `b` went at the end of the run.
    assert_eq!(
        closed,
        names(&["a.sock.keep", "b.keep", "b.sock", "t.sock"])
    );
    assert_eq!(listing(&run.path(".")), names(&keep), "{}", run.show());
}

/// Another program replaced the socket file sockrepl bound (a student's
/// server that unlinks and rebinds the same path): closing sockrepl's
/// handle must not delete the other program's socket.
#[test]
fn closing_a_unix_handle_leaves_a_path_someone_else_rebound() {
    let child = Sock::script(&format!(
        "{GATE}socket u unix\nbind u ./lab.sock\nprint bound\nrecv gate\nclose u\nprint closed\n\
         recv gate\n"
    ))
    .spawn();
    child.wait_for_line("bound", Duration::from_secs(10));
    let path = child.path("lab.sock");
    std::fs::remove_file(&path).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    child.open_gate();
    child.wait_for_line("closed", Duration::from_secs(10));
    let still_there = path.exists();
    child.open_gate();
    let run = child.finish();
    run.assert_status(0);
    assert!(
        still_there,
        "close removed another program's socket file\n{}",
        run.show()
    );
    drop(other);
}

// ---- Ctrl-C in run mode ---------------------------------------------------------------

/// `run` blocked in `blocking`; SIGINT ends it with 130 and the failure
/// line, and every socket file (in the script's directory and in ${tmp}) is
/// gone afterwards.
fn assert_interrupt_ends_the_run(blocking: &str, message: &str) {
    let script = format!(
        "socket s unix\nbind s ${{tmp}}/lab.sock\nlisten s\nsocket u unix-dgram\nbind u ./here.sock\n\
         socketpair a b\nsettimeout s none\nsettimeout a none\nsettimeout u none\n{blocking}\n"
    );
    let child = Sock::script(&script).spawn();
    child.wait_for_line(&format!("> {blocking}"), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200)); // inside the wait now
    let tmp = tmp_dir_of(&child.stdout_so_far());
    assert!(tmp.join("lab.sock").exists() && child.path("here.sock").exists());
    child.signal(libc::SIGINT);
    let run = child.finish();
    run.assert_status(130)
        .assert_last_line(&format!("t.sock:10: {message}"));
    assert!(!run.path("here.sock").exists(), "here.sock left behind");
    assert!(!tmp.join("lab.sock").exists(), "lab.sock left behind");
    assert!(!tmp.exists(), "{} left behind", tmp.display());
}

/// The private directory from the transcript line `bound to DIR/lab.sock`.
fn tmp_dir_of(transcript: &str) -> std::path::PathBuf {
    let line = transcript
        .lines()
        .find_map(|l| l.strip_prefix("bound to "))
        .expect("a bound line");
    std::path::Path::new(line).parent().unwrap().to_path_buf()
}

#[test]
fn ctrl_c_during_accept_ends_the_run_with_130_and_cleans_up() {
    assert_interrupt_ends_the_run("accept s", "accept: interrupted");
}

#[test]
fn ctrl_c_during_recv_ends_the_run_with_130_and_cleans_up() {
    assert_interrupt_ends_the_run("recv a", "recv: interrupted");
}

#[test]
fn ctrl_c_during_recvfrom_ends_the_run_with_130_and_cleans_up() {
    assert_interrupt_ends_the_run("recvfrom u", "recvfrom: interrupted");
}

#[test]
fn ctrl_c_during_sleep_ends_the_run_with_130_and_cleans_up() {
    assert_interrupt_ends_the_run("sleep 1m", "sleep: interrupted");
}

//! Failures (SPEC §6, §7): errno names and texts with their hints, TIMEOUT,
//! non-blocking EAGAIN and its EWOULDBLOCK alias, `fails`, `connect_ex`,
//! socket options, `poll`, `sockets`, and raw sockets without privilege.

use crate::common::{self, Sock};

const LISTENER: &str = "socket s\nbind s 127.0.0.1:0\nlisten s\n";

#[test]
fn connection_refused_names_the_errno_and_hints() {
    let run = Sock::script("socket c\nconnect c 127.0.0.1:1\n")
        .timeout("2s")
        .run();
    run.assert_status(1).assert_last_line(
        "t.sock:2: connect: ECONNREFUSED (Connection refused); hint: nothing is listening at 127.0.0.1:1",
    );
}

#[test]
fn connect_ex_shows_the_errno_and_never_fails() {
    let script = format!(
        "socket c\nconnect_ex c 127.0.0.1:1\nsocket d\n{LISTENER}connect_ex d ${{s.addr}}\n"
    );
    let run = Sock::script(&script).timeout("2s").run();
    run.assert_status(0).assert_outcome(
        "connect_ex c 127.0.0.1:1",
        "ECONNREFUSED (Connection refused)",
    );
    assert_eq!(run.last_line(), "0", "{}", run.show());
}

#[test]
fn address_in_use_names_the_errno_and_hints() {
    let script = format!("{LISTENER}socket t\nbind t ${{s.addr}}\n");
    let run = Sock::script(&script).run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:5: bind: EADDRINUSE (Address already in use); hint: ");
    run.assert_stdout_contains("SO_REUSEADDR")
        .assert_stdout_contains("another port");
}

#[test]
fn address_in_use_is_stable() {
    let script = format!("{LISTENER}socket t\nbind t ${{s.addr}}\n");
    let run = Sock::script(&script).stable().run();
    run.assert_status(1);
    // the port the kernel chose must not leak through the hint
    let digits_after_colon = run
        .last_line()
        .split("127.0.0.1:")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    assert!(
        !digits_after_colon,
        "a real port in a --stable transcript\n{}",
        run.show()
    );
}

#[test]
fn a_taken_unix_path_is_address_in_use() {
    let run =
        Sock::script("socket a unix\nbind a ./p.sock\nsocket b unix\nbind b ./p.sock\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:4: bind: EADDRINUSE (Address already in use); hint: ");
    run.assert_stdout_contains("./p.sock");
}

#[test]
fn a_taken_tmp_path_is_stable() {
    let run =
        Sock::script("socket a unix\nbind a ${tmp}/p.sock\nsocket b unix\nbind b ${tmp}/p.sock\n")
            .stable()
            .run();
    run.assert_status(1)
        .assert_stdout_lacks("/tmp/sockrepl")
        .assert_stdout_contains("<tmp>/p.sock");
}

#[test]
fn a_missing_unix_socket_file_is_enoent() {
    let run = Sock::script("socket c unix\nconnect c ./nobody-home.sock\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: connect: ENOENT (No such file or directory)");
}

#[test]
fn accept_on_a_socket_that_is_not_listening_is_einval() {
    let run = Sock::script("socket s\naccept s\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: accept: EINVAL (Invalid argument)");
}

#[test]
fn sending_to_a_closed_peer_is_epipe() {
    let run = Sock::script("socketpair a b\nclose b\nsend a x\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:3: send: EPIPE (Broken pipe)");
}

// ---- timeouts ----------------------------------------------------------------

#[test]
fn recv_times_out_with_the_name_timeout() {
    let run = Sock::script("socket u udp\nbind u 127.0.0.1:0\nrecv u\n")
        .timeout("200ms")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recv: TIMEOUT (no data within 200ms)");
}

#[test]
fn accept_times_out() {
    let run = Sock::script(&format!("{LISTENER}accept s\n"))
        .timeout("200ms")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:4: accept: TIMEOUT (no connection within 200ms)");
}

#[test]
fn a_timeout_waits_about_as_long_as_asked() {
    let run = Sock::script("socketpair a b\nfails TIMEOUT recv b\n")
        .timeout("300ms")
        .run();
    run.assert_status(0);
    let ms = run.elapsed.as_millis();
    assert!(
        (250..3000).contains(&ms),
        "waited {ms} ms for a 300ms timeout"
    );
}

#[test]
fn fails_timeout_matches_a_timeout_only() {
    let run = Sock::script("socketpair a b\nfails TIMEOUT recv b\nfails EAGAIN recv b\n")
        .timeout("200ms")
        .run();
    run.assert_status(1).assert_outcome(
        "fails TIMEOUT recv b",
        "failed as expected: TIMEOUT (no data within 200ms)",
    );
    run.assert_last_line(
        "t.sock:3: fails: expected EAGAIN, but it failed with TIMEOUT (no data within 200ms)",
    );
}

#[test]
fn settimeout_none_blocks_until_data() {
    let run = Sock::script("socketpair a b\nsettimeout b none\nsend a x\nrecv b\n")
        .timeout("100ms")
        .run();
    run.assert_status(0).assert_last_line("b'x'");
}

// ---- non-blocking ------------------------------------------------------------

#[test]
fn non_blocking_recv_fails_with_eagain() {
    let run = Sock::script("socketpair a b\nsetblocking b off\nrecv b\n").run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recv: EAGAIN (Resource temporarily unavailable)");
    assert!(
        run.elapsed.as_millis() < 3000,
        "non-blocking recv waited {:?}",
        run.elapsed
    );
}

#[test]
fn non_blocking_accept_fails_with_eagain() {
    let run = Sock::script(&format!("{LISTENER}setblocking s off\naccept s\n")).run();
    run.assert_status(1)
        .assert_last_line("t.sock:5: accept: EAGAIN (Resource temporarily unavailable)");
}

#[test]
fn ewouldblock_and_eagain_match_by_value() {
    let script = "socketpair a b\nsetblocking b 0\nfails EWOULDBLOCK recv b\nfails EAGAIN recv b\nfails recv b\n";
    let run = Sock::script(script).run();
    run.assert_status(0).assert_outcome(
        "fails EWOULDBLOCK recv b",
        "failed as expected: EAGAIN (Resource temporarily unavailable)",
    );
    run.assert_outcome(
        "fails EAGAIN recv b",
        "failed as expected: EAGAIN (Resource temporarily unavailable)",
    );
}

#[test]
fn fails_with_the_wrong_errno_is_a_failure() {
    let run = Sock::script("socketpair a b\nsetblocking b off\nfails ECONNREFUSED recv b\n").run();
    run.assert_status(1).assert_last_line("t.sock:3: fails: expected ECONNREFUSED, but it failed with EAGAIN (Resource temporarily unavailable)");
}

#[test]
fn setblocking_on_restores_waiting() {
    // As Python's setblocking(True), which is settimeout(None): the wait
    // has no limit, so the 200 ms session default does not end it.
    let addr = late_sender(Some(std::time::Duration::from_millis(600)));
    let run =
        Sock::script("socket c\nconnect c ${1}\nsetblocking c off\nsetblocking c on\nrecv c\n")
            .args([addr])
            .timeout("200ms")
            .run();
    run.assert_status(0).assert_last_line("b'x'");
}

#[test]
fn non_blocking_connect_is_in_progress() {
    let run = Sock::script(&format!(
        "{LISTENER}socket c\nsetblocking c off\nfails EINPROGRESS connect c ${{s.addr}}\n"
    ))
    .run();
    run.assert_status(0)
        .assert_stdout_contains("failed as expected: EINPROGRESS");
}

// ---- raw sockets without privilege -------------------------------------------

#[test]
fn raw_sockets_without_privilege_hint_at_cap_net_raw() {
    skip_unless!(common::can_run_unprivileged());
    for line in ["socket r raw", "socket r AF_INET SOCK_RAW IPPROTO_ICMP"] {
        let run = Sock::stdin_script(&format!("{line}\n"))
            .unprivileged()
            .run();
        run.assert_status(1)
            .assert_last_line_starts("<stdin>:1: socket: EPERM (Operation not permitted); hint: ");
        run.assert_stdout_contains("CAP_NET_RAW");
    }
}

#[test]
fn fails_matches_the_raw_permission_error() {
    skip_unless!(common::can_run_unprivileged());
    let run = Sock::stdin_script("fails EPERM socket r raw\nprint go-on\n")
        .unprivileged()
        .run();
    run.assert_status(0).assert_line("go-on");
}

#[test]
fn require_raw_skips_without_privilege() {
    skip_unless!(common::can_run_unprivileged());
    let run = Sock::stdin_script("require raw\nprint never\nexit 1\n")
        .unprivileged()
        .run();
    run.assert_status(0).assert_stdout_lacks("never");
}

// ---- options -------------------------------------------------------------------

#[test]
fn boolean_options_accept_every_spelling() {
    let mut script = String::from("socket t\n");
    for value in ["1", "0", "on", "off", "true", "false"] {
        script.push_str(&format!(
            "setsockopt t SO_KEEPALIVE {value}\ngetsockopt t SO_KEEPALIVE\n"
        ));
    }
    let run = Sock::script(&script).run();
    run.assert_status(0);
    let shown: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("SO_KEEPALIVE = "))
        .collect();
    assert_eq!(shown.len(), 12, "{}", run.show());
    assert_eq!(
        shown.iter().filter(|l| l.ends_with("= 1")).count(),
        6,
        "{}",
        run.show()
    );
}

#[test]
fn options_round_trip() {
    let script = "socket t\nsetsockopt t SO_REUSEADDR 1\ngetsockopt t SO_REUSEADDR\nsetsockopt t TCP_NODELAY on\n\
                  getsockopt t TCP_NODELAY\nsetsockopt t IP_TTL 7\ngetsockopt t IP_TTL\nsetsockopt t SO_LINGER 5\n\
                  getsockopt t SO_LINGER\nsetsockopt t SO_LINGER off\ngetsockopt t SO_LINGER\nsocket u udp\n\
                  setsockopt u SO_BROADCAST 1\ngetsockopt u SO_BROADCAST\nsetsockopt t SO_REUSEPORT 1\n\
                  getsockopt t SO_REUSEPORT\nsocket v tcp6\nsetsockopt v IPV6_V6ONLY 1\ngetsockopt v IPV6_V6ONLY\n\
                  getsockopt t SO_RCVBUF\ngetsockopt t SO_SNDBUF\ngetsockopt u SO_TYPE\ngetsockopt t SO_ERROR\n";
    let run = Sock::script(script).run();
    run.assert_status(0);
    for line in [
        "SO_REUSEADDR = 1",
        "TCP_NODELAY = 1",
        "IP_TTL = 7",
        "SO_LINGER = 5",
        "SO_LINGER = off",
        "SO_BROADCAST = 1",
    ] {
        run.assert_line(line);
    }
    run.assert_outcome("getsockopt t SO_REUSEPORT", "SO_REUSEPORT = 1")
        .assert_outcome("getsockopt v IPV6_V6ONLY", "IPV6_V6ONLY = 1");
    run.assert_outcome("getsockopt u SO_TYPE", "SO_TYPE = 2 (SOCK_DGRAM)")
        .assert_outcome("getsockopt t SO_ERROR", "SO_ERROR = 0");
    assert!(
        run.outcome_of("getsockopt t SO_RCVBUF")
            .starts_with("SO_RCVBUF = "),
        "{}",
        run.show()
    );
}

#[test]
fn read_only_options_cannot_be_set() {
    for option in ["SO_ERROR", "SO_TYPE"] {
        let run = Sock::script(&format!("socket t\nsetsockopt t {option} 1\n")).run();
        run.assert_no_panic().assert_stdout_contains(option);
        assert_ne!(run.status, Some(0), "{}", run.show());
    }
}

#[test]
fn so_reuseaddr_lets_a_server_rebind_a_port_in_time_wait() {
    // the server side closes first, so its port is left in TIME_WAIT; Linux
    // lets a new bind share it only when both sides set SO_REUSEADDR
    let script = "socket s\nsetsockopt s SO_REUSEADDR 1\nbind s 127.0.0.1:0\nlisten s\nsocket c\nconnect c ${s.addr}\naccept s n\n\
                  close n\nexpect_eof c\nprint ${s.port}\n";
    let first = Sock::script(script).timeout("2s").run();
    first.assert_status(0);
    let port: u16 = first.last_line().parse().expect("a port");
    let without = Sock::script(&format!("socket t\nbind t 127.0.0.1:{port}\n")).run();
    without
        .assert_status(1)
        .assert_last_line_starts("t.sock:2: bind: EADDRINUSE");
    let with = Sock::script(&format!(
        "socket t\nsetsockopt t SO_REUSEADDR 1\nbind t 127.0.0.1:{port}\n"
    ))
    .run();
    with.assert_status(0)
        .assert_last_line(&format!("bound to 127.0.0.1:{port}"));
}

// ---- poll and sockets ------------------------------------------------------------

#[test]
fn poll_shows_readiness_per_handle() {
    let run = Sock::script("socketpair a b\nsend a x\npoll b --timeout 200ms\n").run();
    run.assert_status(0).assert_last_line("b  POLLIN|POLLOUT");
}

#[test]
fn poll_shows_hangup() {
    let run = Sock::script("socketpair a b\nclose a\npoll b --timeout 200ms\n").run();
    run.assert_status(0).assert_stdout_contains("POLLHUP");
}

#[test]
fn sockets_shows_kernel_tcp_states() {
    let script = format!(
        "{LISTENER}socket c\nconnect c ${{s.addr}}\naccept s n\nclose c\nexpect_eof n\nsockets\n"
    );
    let run = Sock::script(&script).stable().timeout("2s").run();
    run.assert_status(0);
    let header = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Name"))
        .expect("a table header");
    for column in [
        "Proto",
        "Recv-Q",
        "Send-Q",
        "Local Address",
        "Foreign Address",
        "State",
    ] {
        assert!(
            header.contains(column),
            "header lacks {column}\n{}",
            run.show()
        );
    }
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}\n{}", run.show()))
    };
    assert!(row("s").ends_with("LISTEN"), "{}", run.show());
    assert!(row("n").ends_with("CLOSE_WAIT"), "{}", run.show());
    assert!(row("n").contains("127.0.0.1:<s.port>"), "{}", run.show());
}

#[test]
fn sockets_shows_established_connections() {
    let script = format!("{LISTENER}socket c\nconnect c ${{s.addr}}\naccept s n\nsockets\n");
    let run = Sock::script(&script).stable().timeout("2s").run();
    run.assert_status(0);
    let established = run
        .stdout
        .lines()
        .filter(|l| l.ends_with("ESTABLISHED"))
        .count();
    assert_eq!(established, 2, "{}", run.show());
}

#[test]
fn getsockname_and_getpeername_show_addresses() {
    let script =
        format!("{LISTENER}socket c\nconnect c ${{s.addr}}\ngetsockname s\ngetpeername c\n");
    let run = Sock::script(&script).stable().timeout("2s").run();
    run.assert_status(0)
        .assert_outcome("getsockname s", "127.0.0.1:<s.port>")
        .assert_outcome("getpeername c", "127.0.0.1:<s.port>");
}

#[test]
fn getpeername_of_an_unconnected_socket_is_enotconn() {
    let run = Sock::script("socket t\ngetpeername t\n").run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: getpeername: ENOTCONN");
}

#[test]
fn listen_shows_the_backlog() {
    let run = Sock::script(
        "socket s\nbind s 127.0.0.1:0\nlisten s\nsocket t\nbind t 127.0.0.1:0\nlisten t 5\n",
    )
    .stable()
    .run();
    run.assert_status(0)
        .assert_outcome("listen s", "listening on 127.0.0.1:<s.port> (backlog 128)");
    run.assert_outcome("listen t 5", "listening on 127.0.0.1:<t.port> (backlog 5)");
}

/// A peer on 127.0.0.1 port 0 that accepts one client and, after `delay`,
/// sends it one byte (or nothing when `delay` is `None`); returns its address.
fn late_sender(delay: Option<std::time::Duration>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let hold = delay.unwrap_or(std::time::Duration::from_secs(3));
        std::thread::sleep(hold);
        if delay.is_some() {
            let _ = std::io::Write::write_all(&mut conn, b"x");
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    });
    addr
}

#[test]
fn setblocking_on_after_a_timeout_blocks_without_limit_as_in_python() {
    // s.settimeout(0.2); s.setblocking(False); s.setblocking(True): the
    // socket blocks (timeout None), so recv waits for the late byte.
    let addr = late_sender(Some(std::time::Duration::from_millis(700)));
    let script = "socket c\nconnect c ${1}\nsettimeout c 200ms\nsetblocking c off\nsetblocking c on\nrecv c\n";
    let run = Sock::script(script).args([addr]).timeout("5s").run();
    run.assert_status(0).assert_last_line("b'x'");
    assert!(run.elapsed.as_millis() >= 600, "{:?}", run.elapsed);
}

#[test]
fn settimeout_after_setblocking_off_waits_that_long_as_in_python() {
    // s.setblocking(False); s.settimeout(0.3): blocking again, with a
    // 0.3 s timeout, not EAGAIN at once.
    let addr = late_sender(None);
    let script = "socket c\nconnect c ${1}\nsetblocking c off\nsettimeout c 300ms\nrecv c\n";
    let run = Sock::script(script).args([addr]).timeout("5s").run();
    run.assert_status(1)
        .assert_last_line("t.sock:5: recv: TIMEOUT (no data within 300ms)");
    assert!(run.elapsed.as_millis() >= 300, "{:?}", run.elapsed);
}

#[test]
fn settimeout_zero_is_non_blocking_as_in_python() {
    let run = Sock::script("socketpair a b\nsettimeout b 0s\nrecv b\n")
        .timeout("5s")
        .run();
    run.assert_status(1)
        .assert_last_line("t.sock:3: recv: EAGAIN (Resource temporarily unavailable)");
}

#[test]
fn bare_fails_accepts_any_failure_but_an_unknown_handle() {
    let run = Sock::script(
        "socket a\nsocketpair p q unix-dgram\nfails connect a [::1]:1\nfails recvline p\n\
         fails socket a\nfails recv nobody\nprint not reached\n",
    )
    .run();
    run.assert_status(1)
        .assert_outcome(
            "fails connect a [::1]:1",
            "failed as expected: ::1 is an IPv6 address but the socket is AF_INET (use tcp6 or udp6)",
        )
        .assert_outcome(
            "fails socket a",
            "failed as expected: a handle named a already exists (close it first)",
        )
        .assert_last_line("t.sock:6: fails: no handle named nobody");
}

#[test]
fn bare_fails_does_not_swallow_ctrl_c_or_sigterm() {
    // An interruption (Ctrl-C, or the SIGTERM of the test runner's time
    // limit) is no failure of the command: it ends the run under `fails`
    // as anywhere else.
    for (signal, status, last) in [
        (libc::SIGINT, 130, "t.sock:3: fails: interrupted"),
        (libc::SIGTERM, 143, "t.sock:3: fails: stopped by SIGTERM"),
    ] {
        let child =
            Sock::script("socketpair a b\ntimeout none\nfails recv b\nprint after\n").spawn();
        child.wait_for_line("> fails recv b", std::time::Duration::from_secs(15));
        std::thread::sleep(std::time::Duration::from_millis(100));
        child.signal(signal);
        let run = child.finish();
        run.assert_status(status).assert_last_line(last);
        run.assert_stdout_lacks("after");
    }
}

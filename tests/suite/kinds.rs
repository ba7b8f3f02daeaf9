//! Socket kinds (SPEC §6 `socket`, `socketpair`) and address forms (SPEC §4),
//! each exercised end to end over loopback or Unix sockets.

use crate::common::{self, Sock};

fn created(name: &str, what: &str) -> String {
    format!("created {name}: {what}, fd <{name}.fd>")
}

#[test]
fn tcp_is_the_default_kind() {
    let run = Sock::script("socket a\nsocket b tcp\n").stable().run();
    run.assert_status(0)
        .assert_line(&created("a", "AF_INET SOCK_STREAM"));
    run.assert_line(&created("b", "AF_INET SOCK_STREAM"));
}

#[test]
fn every_named_kind_has_its_family_and_type() {
    let script = "socket a udp\nsocket b tcp6\nsocket c udp6\nsocket d unix\nsocket e unix-dgram\n";
    let run = Sock::script(script).stable().run();
    run.assert_status(0);
    run.assert_line(&created("a", "AF_INET SOCK_DGRAM"));
    run.assert_line(&created("b", "AF_INET6 SOCK_STREAM"));
    run.assert_line(&created("c", "AF_INET6 SOCK_DGRAM"));
    run.assert_line(&created("d", "AF_UNIX SOCK_STREAM"));
    run.assert_line(&created("e", "AF_UNIX SOCK_DGRAM"));
}

#[test]
fn c_names_give_family_type_and_protocol() {
    let script =
        "socket a AF_INET SOCK_DGRAM\nsocket b AF_INET6 SOCK_STREAM\nsocket c AF_UNIX SOCK_DGRAM\n\
                  getsockopt a SO_TYPE\ngetsockopt b SO_TYPE\n";
    let run = Sock::script(script).stable().run();
    run.assert_status(0);
    run.assert_line(&created("a", "AF_INET SOCK_DGRAM"));
    run.assert_line(&created("b", "AF_INET6 SOCK_STREAM"));
    run.assert_line(&created("c", "AF_UNIX SOCK_DGRAM"));
    run.assert_outcome("getsockopt a SO_TYPE", "SO_TYPE = 2 (SOCK_DGRAM)");
    run.assert_outcome("getsockopt b SO_TYPE", "SO_TYPE = 1 (SOCK_STREAM)");
}

#[test]
fn icmp_is_a_ping_socket_or_a_clear_permission_error() {
    let run = Sock::script("socket p icmp\n").stable().run();
    run.assert_no_panic();
    if run.status == Some(0) {
        run.assert_line(&created("p", "AF_INET SOCK_DGRAM IPPROTO_ICMP"));
    } else {
        // ping sockets are off unless the gid is in net.ipv4.ping_group_range
        run.assert_status(1)
            .assert_last_line_starts("t.sock:1: socket: EACCES (Permission denied); hint: ");
        run.assert_stdout_contains("ping_group_range");
    }
}

#[test]
fn raw_is_a_raw_icmp_socket() {
    skip_unless!(common::can_use_root());
    let run = Sock::script("socket r raw\nsocket q AF_INET SOCK_RAW IPPROTO_ICMP\n")
        .stable()
        .run();
    run.assert_status(0)
        .assert_line(&created("r", "AF_INET SOCK_RAW IPPROTO_ICMP"));
    run.assert_line(&created("q", "AF_INET SOCK_RAW IPPROTO_ICMP"));
}

#[test]
fn raw_ignores_the_port_and_sees_an_icmp_echo() {
    skip_unless!(common::can_use_root());
    // an ICMP echo request, checksum included; the kernel answers it too
    let script =
        "socket r raw\nsendto r 127.0.0.1:4242 --hex '08 00 f7 fe 00 01 00 00'\nrecvfrom r --hex\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0).assert_outcome(
        "sendto r 127.0.0.1:4242 --hex '08 00 f7 fe 00 01 00 00'",
        "sent 8 bytes to 127.0.0.1",
    );
    run.assert_stdout_contains(" bytes from 127.0.0.1");
    run.assert_stdout_contains("08 00 f7 fe 00 01 00 00");
}

#[test]
fn require_raw_passes_for_root() {
    skip_unless!(common::can_use_root());
    Sock::script("require raw\nprint after\n")
        .run()
        .assert_status(0)
        .assert_line("after");
}

#[test]
fn tcp_over_ipv4_carries_bytes_both_ways() {
    let script = "socket s\nbind s 127.0.0.1:0\nlisten s\nsocket c\nconnect c ${s.addr}\naccept s conn\n\
                  sendall c ping\nexpect conn ping\nsendall conn pong\nrecv c\nclose conn\nrecv c\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0)
        .assert_line("connected 127.0.0.1:<c.port> -> 127.0.0.1:<s.port>");
    run.assert_line("accepted conn from 127.0.0.1:<c.port>")
        .assert_line("b'pong'");
    run.assert_line("b'' (end of stream: the peer closed its side)");
}

#[test]
fn tcp_over_ipv6_loopback() {
    let script =
        "socket s tcp6\nbind s [::1]:0\nlisten s\nsocket c tcp6\nconnect c ${s.addr}\naccept s\n\
                  send c six\nexpect s-1 six\nprint ${s.host}\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0).assert_line("bound to [::1]:<s.port>");
    run.assert_line("connected [::1]:<c.port> -> [::1]:<s.port>")
        .assert_line("::1");
}

#[test]
fn udp_datagrams_show_their_sender() {
    let script = "socket s udp\nbind s 127.0.0.1:0\nsocket c udp\nbind c 127.0.0.1:0\n\
                  sendto c ${s.addr} hello\nrecvfrom s\nsendto s ${c.addr} back\nrecv c\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0).assert_outcome(
        "sendto c 127.0.0.1:<s.port> hello",
        "sent 5 bytes to 127.0.0.1:<s.port>",
    );
    run.assert_line("b'hello' from 127.0.0.1:<c.port>")
        .assert_line("b'back'");
}

#[test]
fn udp_over_ipv6() {
    let script = "socket s udp6\nbind s [::1]:0\nsocket c udp6\nsendto c ${s.addr} v6\nrecv s\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0).assert_line("b'v6'");
}

#[test]
fn connected_udp_uses_send_and_recv() {
    let script = "socket s udp\nbind s 127.0.0.1:0\nsocket c udp\nconnect c ${s.addr}\nsend c hi\nrecvfrom s\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0)
        .assert_line("b'hi' from 127.0.0.1:<c.port>");
}

#[test]
fn unix_stream_over_a_path() {
    let script = "socket s unix\nbind s ./lab.sock\nlisten s\nsocket c unix\nconnect c ./lab.sock\naccept s\n\
                  send c hi\nexpect s-1 hi\nprint ${s.addr} ${c.peer}\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0)
        .assert_line("bound to ./lab.sock")
        .assert_line("./lab.sock ./lab.sock");
}

#[test]
fn unix_datagrams_over_a_path() {
    let script =
        "socket s unix-dgram\nbind s ${tmp}/d.sock\nsocket c unix-dgram\nbind c ${tmp}/c.sock\n\
                  sendto c ${s.addr} dg\nrecvfrom s\n";
    let run = Sock::script(script).stable().timeout("2s").run();
    run.assert_status(0).assert_line("b'dg' from <tmp>/c.sock");
}

#[test]
fn a_bound_unix_path_is_removed_when_its_handle_closes() {
    let script = "socket s unix\nbind s ./gone.sock\nprint bound\nsleep 1ms\nclose s\nsocket t unix\nbind t ./gone.sock\n";
    let run = Sock::script(script).run();
    run.assert_status(0)
        .assert_outcome("close s", "closed (removed ./gone.sock)");
    run.assert_outcome("bind t ./gone.sock", "bound to ./gone.sock");
}

#[test]
fn bound_unix_paths_are_removed_at_the_end_of_the_run() {
    for ending in ["print done", "exit 0", "close nobody"] {
        let run = Sock::script(&format!("socket s unix\nbind s ./end.sock\n{ending}\n")).run();
        run.assert_no_panic()
            .assert_stdout_contains("bound to ./end.sock");
        assert!(
            !run.path("end.sock").exists(),
            "left behind after {ending:?}\n{}",
            run.show()
        );
    }
}

#[test]
fn abstract_unix_names() {
    let name = format!("@sockrepl-test-{}", std::process::id());
    let script = format!("socket s unix-dgram\nbind s {name}\nsocket c unix-dgram\nsendto c {name} abs\nrecv s\nprint ${{s.addr}}\n");
    let run = Sock::script(&script).timeout("2s").run();
    run.assert_status(0)
        .assert_line(&format!("bound to {name}"))
        .assert_line("b'abs'");
    run.assert_outcome(&format!("print {name}"), &name);
}

#[test]
fn a_chosen_abstract_name_is_shown_as_itself_when_stable() {
    let name = format!("@sockrepl-stable-{}", std::process::id());
    let run = Sock::script(&format!("socket s unix-dgram\nbind s {name}\n"))
        .stable()
        .run();
    // only kernel-chosen values become placeholders; this name was chosen by the script
    run.assert_status(0)
        .assert_line(&format!("bound to {name}"));
}

#[test]
fn socketpair_streams_and_datagrams() {
    let script = "socketpair a b\nsend a x\nrecv b\nsocketpair c d unix-dgram\nsend d y\nrecv c\nsocketpair e f unix\n";
    let run = Sock::script(script).stable().timeout("1s").run();
    run.assert_status(0);
    run.assert_line("created a: AF_UNIX SOCK_STREAM, fd <a.fd>; created b: AF_UNIX SOCK_STREAM, fd <b.fd> (connected to each other)");
    run.assert_line("created c: AF_UNIX SOCK_DGRAM, fd <c.fd>; created d: AF_UNIX SOCK_DGRAM, fd <d.fd> (connected to each other)");
    run.assert_line("b'x'").assert_line("b'y'");
}

// ---- address forms ---------------------------------------------------------

#[test]
fn port_zero_lets_the_kernel_choose() {
    let run = Sock::script("socket a\nbind a 127.0.0.1:0\nprint ${a.port}\n").run();
    run.assert_status(0);
    let port: u16 = run.last_line().parse().expect("a port");
    assert!(port > 0, "{}", run.show());
}

#[test]
fn a_bare_port_means_the_wildcard_address() {
    let run = Sock::script("socket a\nbind a :0\nsocket b udp6\nbind b :0\n")
        .stable()
        .run();
    run.assert_status(0)
        .assert_line("bound to 0.0.0.0:<a.port>")
        .assert_line("bound to [::]:<b.port>");
}

#[test]
fn hostnames_resolve_to_the_sockets_family() {
    let run = Sock::script("socket a\nbind a localhost:0\nsocket s\nbind s 127.0.0.1:0\nlisten s\nsocket c\nconnect c localhost:${s.port}\n")
        .stable()
        .timeout("2s")
        .run();
    run.assert_status(0)
        .assert_line("bound to 127.0.0.1:<a.port>");
    run.assert_line("connected 127.0.0.1:<c.port> -> 127.0.0.1:<s.port>");
}

#[test]
fn an_unresolvable_hostname_fails_naming_it() {
    let run = Sock::script("socket a\nconnect a no-such-host.invalid:80\n")
        .timeout("2s")
        .run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:2: connect: ")
        .assert_stdout_contains("no-such-host.invalid");
}

#[test]
fn a_port_out_of_range_is_a_syntax_error() {
    let run = Sock::script("socket a\nconnect a 127.0.0.1:65536\n").run();
    run.assert_status(2)
        .assert_nothing_ran()
        .assert_stdout_contains("65536");
}

#[test]
fn an_address_without_a_port_fails() {
    let run = Sock::script("socket a\nconnect a localhost\n").run();
    run.assert_no_panic().assert_stdout_contains("localhost");
    assert_ne!(run.status, Some(0), "{}", run.show());
}

#[test]
fn family_mismatches_are_explained() {
    let cases = [
        (
            "socket a tcp6\nconnect a 127.0.0.1:1\n",
            "IPv4 address but the socket is AF_INET6",
        ),
        (
            "socket a\nconnect a [::1]:1\n",
            "IPv6 address but the socket is AF_INET",
        ),
        (
            "socket a\nconnect a ./x.sock\n",
            "Unix address but the socket is AF_INET",
        ),
    ];
    for (script, message) in cases {
        let run = Sock::script(script).run();
        run.assert_status(1)
            .assert_last_line_starts("t.sock:2: connect: ")
            .assert_stdout_contains(message);
    }
}

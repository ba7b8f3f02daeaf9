//! Real protocols: the lessons and worked examples of `scripts/` against
//! real peers that each test starts itself on loopback (port 0, the port
//! read back): Python's `http.server`, a small RESP (Redis) server, the
//! lecture-style Python UDP client and a hand-built DNS client. Nothing
//! here depends on a server that may be missing from the machine.

mod common;

use common::Sock;
use std::time::Duration;

#[test]
fn recvn_takes_its_count_from_a_captured_length() {
    // What an HTTP client does with Content-Length: capture the number,
    // then read exactly that many bytes of body, and not one more.
    let script = "socketpair web browser\n\
                  sendall web 'Content-Length: 5\\r\\n\\r\\nhelloEXTRA'\n\
                  expect browser --re 'Content-Length: (?P<length>\\d+)\\r\\n\\r\\n'\n\
                  recvn browser ${length}\n\
                  recvn browser 5\n";
    let run = Sock::script(script).stable().run();
    run.assert_status(0)
        .assert_outcome("recvn browser <length>", "b'hello'")
        .assert_outcome("recvn browser 5", "b'EXTRA'");
}

#[test]
fn recvn_with_a_length_that_is_not_a_number_fails_when_it_runs() {
    let script = "socketpair a b\nsendall a 'x'\nlet n ten\nrecvn b ${n}\n";
    let run = Sock::script(script).run();
    run.assert_status(1)
        .assert_last_line("t.sock:4: recvn: bad N 'ten': a number of bytes from 1 to 67108864");
}

/// A TCP connection whose server has sent `abc` and then `how` (`close
/// conn` or `shutdown conn write`), and the client `c`.
fn tcp_peer_sent_abc_then(how: &str) -> String {
    format!(
        "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\nsocket c tcp\n\
         connect c ${{srv.addr}}\naccept srv conn\nsendall conn abc\n{how}\n"
    )
}

#[test]
fn a_partial_frame_then_the_peers_fin_ends_a_framed_receive_at_once() {
    // A web server that closes in the middle of its head: the client must
    // be told so when the FIN arrives, not spin (it used to, past every
    // timeout: the end of stream was never seen while bytes were queued).
    for how in ["close conn", "shutdown conn write"] {
        for (line, message) in [
            (
                "recvline c",
                "recvline: the stream ended before the end of a line: 3 bytes had arrived: b'abc'",
            ),
            (
                "recvuntil c '\\r\\n\\r\\n'",
                "recvuntil: the stream ended before b'\\r\\n\\r\\n': 3 bytes had arrived: b'abc'",
            ),
            (
                "recvn c 5",
                "recvn: the stream ended before 5 bytes: 3 bytes had arrived: b'abc'",
            ),
            (
                "expect c --re 'x+y'",
                "expect: the stream ended with no match for \"x+y\": 3 bytes had arrived: b'abc'",
            ),
        ] {
            let script = format!("{}{line}\n", tcp_peer_sent_abc_then(how));
            let run = Sock::script(&script)
                .timeout("30s")
                .guard(Duration::from_secs(10))
                .run();
            run.assert_status(1)
                .assert_last_line(&format!("t.sock:9: {message}"));
            assert!(
                run.elapsed < Duration::from_secs(5),
                "{how}, {line}: took {:?}",
                run.elapsed
            );
        }
    }
}

#[test]
fn a_unix_stream_with_a_partial_line_times_out_on_time() {
    // poll says a Unix stream is readable while any byte is queued, so the
    // wait for MORE bytes must watch the clock itself.
    let script = "socketpair a b\nsendall a abc\nrecvline b\n";
    let run = Sock::script(script)
        .timeout("500ms")
        .guard(Duration::from_secs(10))
        .run();
    run.assert_status(1).assert_last_line(
        "t.sock:3: recvline: TIMEOUT (no end of line within 500ms; 3 bytes had arrived: b'abc')",
    );
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn a_pattern_that_more_bytes_could_lengthen_settles_on_a_unix_stream() {
    // '\d+' matches b'123' but a '4' could still come: the match waits a
    // moment, then stands. On a Unix stream it used to wait for ever.
    for timeout in ["3s", "none"] {
        let script = "socketpair a b\nsendall a 123\nexpect b --re '\\d+'\nsendall a ' apples'\nrecv b\n";
        let run = Sock::script(script)
            .timeout(timeout)
            .guard(Duration::from_secs(10))
            .run();
        run.assert_status(0)
            .assert_outcome("expect b --re '\\d+'", "ok: matched 3 bytes")
            .assert_outcome("recv b", "b' apples'");
        assert!(
            run.elapsed < Duration::from_secs(2),
            "took {:?}",
            run.elapsed
        );
    }
}

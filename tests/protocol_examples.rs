//! Real protocols: the lessons and worked examples of `scripts/` against
//! real peers that each test starts itself on loopback (port 0, the port
//! read back): Python's `http.server`, a small RESP (Redis) server, the
//! lecture-style Python UDP client and a hand-built DNS client. Nothing
//! here depends on a server that may be missing from the machine.

mod common;

use common::Sock;

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

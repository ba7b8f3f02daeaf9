//! Issue 14, no crash and no hang: inputs sized to break a formatter, a
//! parser or poll(2) end with an answer, in time, never status 101.
//!
//! Each test reproduces one item of the issue (docs/testing.md maps them).

use crate::common::Sock;
use std::time::{Duration, Instant};

#[test]
fn issue14_sockets_and_poll_take_a_handle_name_of_65536_characters() {
    let name = "h".repeat(65_536);
    let script = format!("socketpair {name} b\nsend b x\nsockets\npoll {name}\n");
    let run = Sock::script(&script).run();
    run.assert_no_panic().assert_status(0);
    assert!(run.stdout.contains(&format!("{name}  POLLIN|POLLOUT")));
}

#[test]
fn issue14_poll_with_a_million_names_parses_in_linear_time() {
    let script = format!(
        "socketpair a b\nsend b x\npoll{} --timeout 1s\n",
        " a".repeat(1_000_000)
    );
    let started = Instant::now();
    let run = Sock::script(&script).guard(Duration::from_secs(20)).run();
    run.assert_no_panic().assert_status(0);
    // Once, however often it is named.
    run.assert_stdout_contains("\na  POLLIN|POLLOUT\n");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

//! The integration tests of the built binary, as one test binary.
//!
//! One binary instead of one per file: cargo links it once, and libtest
//! runs all its tests in one pool of threads instead of one small pool per
//! file with the next file waiting for the slowest test of the last. The
//! modules are by feature; every child process they start goes through
//! the builder in `tests/common`. The tests that measure time to within
//! tens of milliseconds are not here but in `tests/timing.rs`, which cargo
//! runs after this binary, so this suite's load cannot eat their margin.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod abuse_files;
mod abuse_interrupt;
mod abuse_limits;
mod abuse_loading;
mod abuse_output;
mod abuse_placeholders;
mod abuse_resolver;
mod abuse_sandbox;
mod architecture;
mod cli;
mod data;
mod docs;
mod errors;
mod export;
mod fuzz_props;
mod golden_runner;
mod golden_suite;
mod grading;
mod kinds;
mod peer;
mod programs;
mod protocol_examples;
mod reliability_faults;
mod reliability_input;
mod runner_v2;
mod script;
mod shell_pty;
mod sockets_all;
mod tls_peers;
mod trace;

//! `run --step`: at a terminal, the run stops before each command until
//! Enter is pressed, so a lesson can be followed one system call at a
//! time, with time to read what came back and to predict what is next.

use std::os::fd::AsFd;

use crate::wait::{interrupt_pending, poll_many, Deadline};

/// What the user answered at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Enter: run the command shown.
    Run,
    /// Ctrl-D: run this command and the rest without stopping.
    RunRest,
    /// Ctrl-C: stop the run here.
    Stop,
}

/// How the stops are explained once, before the first.
pub const USAGE: &str =
    "--step: Enter runs the command shown; Ctrl-D runs the rest without stopping; Ctrl-C stops.";

/// Waits for a line on stdin, the terminal: any text typed before Enter
/// is ignored. Ctrl-C wakes the wait through `wait`'s self-pipe.
pub fn wait_for_enter() -> Answer {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut buffer = [0u8; 256];
    // One poll and one read per line: a terminal in canonical mode hands
    // over a whole line at once; a longer one takes a few turns.
    for _ in 0..4096 {
        if poll_many(&[(fd, libc::POLLIN)], Deadline::after(None), "Enter").is_err() {
            return Answer::Stop;
        }
        match nix::unistd::read(fd, &mut buffer) {
            Ok(0) => return Answer::RunRest,
            Ok(n) if buffer[..n].contains(&b'\n') => return Answer::Run,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) if interrupt_pending() => return Answer::Stop,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Answer::RunRest,
        }
    }
    Answer::RunRest
}

//! Ending programs: SIGTERM, a grace period, SIGKILL, reaped.
//!
//! Several programs are ended together, sharing one grace period, so a
//! session that leaves three stubborn servers ends in about one second,
//! not three. The leader is reaped; the rest of its group (reparented to
//! init once the leader is gone) is waited for until no member runs, so
//! "nothing outlives the session" holds when this returns.

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use std::time::{Duration, Instant};

use super::{group, poll_timeout, Program};

/// After SIGKILL, how long to wait for the group to be gone. Only a
/// process stuck in the kernel (state D) takes longer; then we give up
/// rather than hang, and the registry still holds its group.
const KILL_LIMIT: Duration = Duration::from_secs(5);

/// Ends every program given: SIGTERM to each group, up to `grace` for
/// them to go, SIGKILL to what still runs, and every leader reaped.
pub fn terminate_all(programs: &mut [&mut Program], grace: Duration) {
    for program in programs.iter_mut().filter(|p| !p.ended) {
        let _ = killpg(program.pid, Signal::SIGTERM);
    }
    wait_until_quiet(programs, Instant::now() + grace);
    for program in programs.iter_mut().filter(|p| !p.quiet()) {
        let _ = killpg(program.pid, Signal::SIGKILL);
    }
    wait_until_quiet(programs, Instant::now() + KILL_LIMIT);
    for program in programs.iter_mut() {
        if program.quiet() {
            program.ended = true;
            super::registry::unregister(program.pid);
        }
    }
}

/// Reaps leaders as they exit and returns once every group is quiet or
/// the deadline passes.
fn wait_until_quiet(programs: &mut [&mut Program], deadline: Instant) {
    loop {
        for program in programs.iter_mut() {
            let _ = program.try_wait();
        }
        let now = Instant::now();
        if now >= deadline || programs.iter().all(|p| p.quiet()) {
            return;
        }
        sleep_until_an_exit(programs, deadline - now);
    }
}

/// Sleeps until a leader exits or `left` passes; briefly when some group
/// has only non-leader members left (no fd tells when those go).
fn sleep_until_an_exit(programs: &[&mut Program], left: Duration) {
    let leaders: Vec<PollFd> = programs
        .iter()
        .filter_map(|p| p.reaper.fd())
        .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
        .collect();
    let unwatched = programs
        .iter()
        .any(|p| !p.quiet() && p.reaper.fd().is_none());
    let limit = if unwatched {
        left.min(group::RECHECK)
    } else {
        left
    };
    let mut fds = leaders;
    let _ = poll(&mut fds, poll_timeout(Some(limit)));
}

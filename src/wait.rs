//! Waiting for a socket with a deadline, and Ctrl-C.
//!
//! Every socket is non-blocking in the kernel; a "blocking" command tries
//! its call and, on EAGAIN, polls until the socket is ready, the deadline
//! passes (`TIMEOUT`) or Ctrl-C arrives. One mechanism gives exact timeouts
//! for connect, accept, send and receive alike, and lets the shell cancel a
//! wait without losing the handle.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollTimeout;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::errors::Failure;

/// The write end of the self-pipe, as the signal handler needs it (a raw
/// number it can read atomically); -1 until [`catch_interrupts`] runs.
static INTERRUPT_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Both ends of the self-pipe that SIGINT writes to, once made.
static INTERRUPT_PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let fd = INTERRUPT_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

/// Makes Ctrl-C cancel the current wait instead of killing the process.
pub fn catch_interrupts() -> std::io::Result<()> {
    if INTERRUPT_PIPE.get().is_none() {
        let pipe = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let write = pipe.1.as_raw_fd();
        if INTERRUPT_PIPE.set(pipe).is_ok() {
            INTERRUPT_WRITE.store(write, Ordering::SeqCst);
        }
    }
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only touches atomics and write(2).
    unsafe { sigaction(Signal::SIGINT, &action) }?;
    Ok(())
}

/// The read end of the self-pipe, once Ctrl-C is caught.
fn interrupt_pipe() -> Option<BorrowedFd<'static>> {
    INTERRUPT_PIPE.get().map(|(read, _)| read.as_fd())
}

/// Whether Ctrl-C arrived and was not taken yet (the flag stays set).
pub fn interrupt_pending() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether Ctrl-C arrived since the last call; clears the flag.
pub fn take_interrupt() -> bool {
    if let Some(read) = interrupt_pipe() {
        let mut sink = [0u8; 64];
        while nix::unistd::read(read, &mut sink).is_ok_and(|n| n > 0) {}
    }
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

/// When a command must give up; `None` waits forever.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
    timeout: Option<Duration>,
}

impl Deadline {
    pub fn after(timeout: Option<Duration>) -> Self {
        Deadline {
            at: timeout.map(|t| Instant::now() + t),
            timeout,
        }
    }

    /// The time left, for poll(2).
    fn poll_timeout(&self) -> PollTimeout {
        match self.at {
            None => PollTimeout::NONE,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends early.
                let millis = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
                PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    /// Time left before the deadline; `None` when there is no limit.
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// This deadline, or `after` from now if that comes first (a short
    /// wait inside a longer one).
    pub fn earlier(&self, after: Duration) -> Deadline {
        let soon = Instant::now() + after;
        match self.at {
            Some(at) if at <= soon => *self,
            _ => Deadline {
                at: Some(soon),
                timeout: Some(after),
            },
        }
    }

    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// The TIMEOUT failure for this deadline.
    pub fn timeout(&self, what: &str) -> Failure {
        Failure::Timeout {
            what: what.to_string(),
            after: self.timeout.unwrap_or_default(),
            detail: None,
        }
    }
}

/// Polls several descriptors at once; returns each one's revents, or a
/// TIMEOUT naming `what` when none became ready in time.
pub fn poll_many(
    fds: &[(BorrowedFd, i16)],
    deadline: Deadline,
    what: &str,
) -> Result<Vec<i16>, Failure> {
    // libc's pollfd, not nix's PollFd: nix drops the bits it has no name
    // for (POLLRDHUP), in the events asked for and in the revents.
    let pollfd = |fd: RawFd, events: i16| libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| pollfd(fd.as_raw_fd(), events))
        .collect();
    if let Some(interrupt) = interrupt_pipe() {
        pollfds.push(pollfd(interrupt.as_raw_fd(), libc::POLLIN));
    }
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            take_interrupt();
            return Err(Failure::Interrupted);
        }
        let timeout = i32::from(deadline.poll_timeout());
        // SAFETY: a valid array of pollfds, of this length.
        let ready =
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                errno => return Err(Failure::sys(errno)),
            }
        }
        let states: Vec<i16> = pollfds[..fds.len()].iter().map(|p| p.revents).collect();
        if states.iter().any(|&r| r != 0) {
            return Ok(states);
        }
        if ready == 0 && deadline.expired() {
            return Err(deadline.timeout(what));
        }
    }
}

/// Waits until one descriptor is ready for `events`.
pub fn wait_for(
    fd: BorrowedFd,
    events: i16,
    deadline: Deadline,
    what: &str,
) -> Result<(), Failure> {
    poll_many(&[(fd, events)], deadline, what).map(|_| ())
}

/// Sleeps, but wakes for Ctrl-C.
pub fn sleep(duration: Duration) -> Result<(), Failure> {
    match poll_many(&[], Deadline::after(Some(duration)), "the pause") {
        Err(Failure::Timeout { .. }) => Ok(()),
        Err(other) => Err(other),
        Ok(_) => Ok(()),
    }
}

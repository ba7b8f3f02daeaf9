//! Waiting for a socket with a deadline, and Ctrl-C.
//!
//! Every socket is non-blocking in the kernel; a "blocking" command tries
//! its call and, on EAGAIN, polls until the socket is ready, the deadline
//! passes (`TIMEOUT`) or Ctrl-C arrives. One mechanism gives exact timeouts
//! for connect, accept, send and receive alike, and lets the shell cancel a
//! wait without losing the handle.

use nix::errno::Errno;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::errors::Failure;

/// Write end and read end of the self-pipe that SIGINT writes to; -1 until
/// [`catch_interrupts`] runs.
static INTERRUPT_WRITE: AtomicI32 = AtomicI32::new(-1);
static INTERRUPT_READ: AtomicI32 = AtomicI32::new(-1);
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
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    INTERRUPT_READ.store(fds[0], Ordering::SeqCst);
    INTERRUPT_WRITE.store(fds[1], Ordering::SeqCst);
    // SAFETY: the handler only touches atomics and write(2).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether Ctrl-C arrived and was not taken yet (the flag stays set).
pub fn interrupt_pending() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether Ctrl-C arrived since the last call; clears the flag.
pub fn take_interrupt() -> bool {
    let read = INTERRUPT_READ.load(Ordering::SeqCst);
    if read >= 0 {
        let mut sink = [0u8; 64];
        // SAFETY: reading into a local buffer from our own non-blocking pipe.
        while unsafe { libc::read(read, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
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

    /// Milliseconds left for poll(2): -1 for no limit.
    fn poll_millis(&self) -> i32 {
        match self.at {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends early.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        }
    }

    /// Time left before the deadline; `None` when there is no limit.
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
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
    fds: &[(RawFd, i16)],
    deadline: Deadline,
    what: &str,
) -> Result<Vec<i16>, Failure> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    let interrupt = INTERRUPT_READ.load(Ordering::SeqCst);
    if interrupt >= 0 {
        pollfds.push(libc::pollfd {
            fd: interrupt,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            take_interrupt();
            return Err(Failure::Interrupted);
        }
        let millis = deadline.poll_millis();
        // SAFETY: pollfds is a valid, initialised array of its length.
        let ready =
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
        if ready < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                errno => return Err(Failure::sys(errno)),
            }
        }
        let sockets_ready = pollfds[..fds.len()].iter().any(|p| p.revents != 0);
        if sockets_ready {
            return Ok(pollfds[..fds.len()].iter().map(|p| p.revents).collect());
        }
        if ready == 0 && deadline.expired() {
            return Err(deadline.timeout(what));
        }
    }
}

/// Waits until one descriptor is ready for `events`.
pub fn wait_for(fd: RawFd, events: i16, deadline: Deadline, what: &str) -> Result<(), Failure> {
    poll_many(&[(fd, events)], deadline, what).map(|_| ())
}

/// Sleeps, but wakes for Ctrl-C.
pub fn sleep(duration: Duration) -> Result<(), Failure> {
    match poll_many(&[], Deadline::after(Some(duration)), "sleep") {
        Err(Failure::Timeout { .. }) => Ok(()),
        Err(other) => Err(other),
        Ok(_) => Ok(()),
    }
}

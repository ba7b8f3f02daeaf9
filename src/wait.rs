//! Waiting for a socket with a deadline, and Ctrl-C, SIGTERM and SIGHUP.
//!
//! Every socket is non-blocking in the kernel; a "blocking" command tries
//! its call and, on EAGAIN, polls until the socket is ready, the deadline
//! passes (`TIMEOUT`) or Ctrl-C arrives. One mechanism gives exact timeouts
//! for connect, accept, send and receive alike, and lets the shell cancel a
//! wait without losing the handle. In the shell, a wait that lasts says
//! what it waits for (`[waiting for a connection on srv; Ctrl-C cancels]`),
//! so a command that waits does not look hung.
//!
//! SIGTERM and SIGHUP (a test runner's time limit, a closed terminal) use
//! the same self-pipe, but end the session rather than one command: every
//! wait returns at once from then on, and the caller unwinds so that the
//! session's programs, socket files and `${tmp}` are cleaned up and the
//! transcript flushed before the process exits with 128 + the signal.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::cell::{OnceCell, RefCell};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::errors::Failure;

/// The write end of the self-pipe, as the signal handler needs it (a raw
/// number it can read atomically); -1 until [`catch_interrupts`] runs.
static INTERRUPT_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Both ends of the self-pipe that SIGINT writes to, once made.
static INTERRUPT_PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// After how many milliseconds a wait says what it waits for; 0: never
/// (scripts: the transcript stays as it is).
static ANNOUNCE_AFTER_MS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// What the wait under way is for, set by [`waiting_for`].
    static WAIT_LABEL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes waits longer than `after` say what they wait for (the shell).
pub fn announce_long_waits(after: Duration) {
    let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX).max(1);
    ANNOUNCE_AFTER_MS.store(millis, Ordering::Relaxed);
}

/// Names what the waits until the guard is dropped are for ("a
/// connection on srv"); `describe` runs only when waits are announced.
pub fn waiting_for(describe: impl FnOnce() -> String) -> WaitLabel {
    if ANNOUNCE_AFTER_MS.load(Ordering::Relaxed) == 0 {
        return WaitLabel { previous: None };
    }
    let previous = WAIT_LABEL.with(|label| label.replace(Some(describe())));
    WaitLabel {
        previous: Some(previous),
    }
}

/// Restores the label that was there before, when dropped.
pub struct WaitLabel {
    previous: Option<Option<String>>,
}

impl Drop for WaitLabel {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            WAIT_LABEL.with(|label| *label.borrow_mut() = previous);
        }
    }
}

/// When to say what this wait is for, if waits are announced and it has a label.
fn announcement() -> Option<(Instant, String)> {
    let millis = ANNOUNCE_AFTER_MS.load(Ordering::Relaxed);
    if millis == 0 {
        return None;
    }
    let label = WAIT_LABEL.with(|label| label.borrow().clone())?;
    Some((Instant::now() + Duration::from_millis(millis), label))
}

/// `[waiting for LABEL; Ctrl-C cancels]`, on its own line.
fn announce(label: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[waiting for {label}; Ctrl-C cancels]");
    let _ = out.flush();
}
/// The SIGTERM or SIGHUP that ends the session (0: none yet).
static TERMINATION: AtomicI32 = AtomicI32::new(0);
/// At the shell's prompt: a `/dev/null` descriptor that a termination
/// puts on stdin, because the line editor retries a read that a signal
/// cut short; reading end of input, it returns and the shell ends.
static QUIET_STDIN: AtomicI32 = AtomicI32::new(-1);
/// The terminal's settings before the shell changed them, restored by a
/// termination (the shell's own restoring runs on a stdin that is gone).
static TERMINAL: OnceLock<libc::termios> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn on_termination(signal: libc::c_int) {
    let _ = TERMINATION.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    wake();
    let quiet = QUIET_STDIN.load(Ordering::SeqCst);
    if quiet >= 0 {
        if let Some(terminal) = TERMINAL.get() {
            // SAFETY: tcsetattr is async-signal-safe and reads the settings.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, terminal) };
        }
        // SAFETY: dup2 is async-signal-safe; both descriptors are ours.
        unsafe { libc::dup2(quiet, libc::STDIN_FILENO) };
    }
}

/// Makes every poll return: a byte on the self-pipe.
fn wake() {
    let fd = INTERRUPT_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

/// Wakes whatever waits now, from a signal handler (a sandbox limit):
/// the wait then looks at why (async-signal-safe: write(2) only).
pub fn wake_waits() {
    wake();
}

fn make_self_pipe() -> std::io::Result<()> {
    if INTERRUPT_PIPE.get().is_none() {
        let pipe = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let write = pipe.1.as_raw_fd();
        if INTERRUPT_PIPE.set(pipe).is_ok() {
            INTERRUPT_WRITE.store(write, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Makes Ctrl-C cancel the current wait instead of killing the process.
pub fn catch_interrupts() -> std::io::Result<()> {
    make_self_pipe()?;
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only touches atomics and write(2).
    unsafe { sigaction(Signal::SIGINT, &action) }?;
    Ok(())
}

/// Makes SIGTERM and SIGHUP end the session cleanly (see the module
/// docs) instead of killing the process where it stands.
pub fn catch_terminations() -> std::io::Result<()> {
    make_self_pipe()?;
    let action = SigAction::new(
        SigHandler::Handler(on_termination),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only touches atomics, write(2), tcsetattr(3)
        // and dup2(2), all async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// [`catch_terminations`] for the shell: a termination also restores the
/// terminal and ends the line editor's wait for input.
pub fn catch_terminations_at_prompt() -> std::io::Result<()> {
    let quiet = std::fs::File::open("/dev/null")?;
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    let mut terminal: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes one termios; a stdin that is no terminal fails.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut terminal) } == 0 {
        let _ = TERMINAL.set(terminal);
    }
    use std::os::fd::IntoRawFd;
    QUIET_STDIN.store(quiet.into_raw_fd(), Ordering::SeqCst);
    catch_terminations()
}

/// The SIGTERM or SIGHUP that is ending the session, if one arrived.
pub fn termination() -> Option<i32> {
    match TERMINATION.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The read end of the self-pipe, once Ctrl-C is caught.
fn interrupt_pipe() -> Option<BorrowedFd<'static>> {
    INTERRUPT_PIPE.get().map(|(read, _)| read.as_fd())
}

/// Whether Ctrl-C (or a termination) arrived and was not taken yet.
pub fn interrupt_pending() -> bool {
    INTERRUPTED.load(Ordering::SeqCst) || termination().is_some()
}

/// Whether Ctrl-C arrived since the last call; clears the flag. A
/// termination is never cleared: it ends every wait from then on.
pub fn take_interrupt() -> bool {
    // The common case costs one load: the interpreter asks after every line.
    if !INTERRUPTED.load(Ordering::SeqCst) {
        return false;
    }
    if let Some(read) = interrupt_pipe() {
        let mut sink = [0u8; 64];
        while nix::unistd::read(read, &mut sink).is_ok_and(|n| n > 0) {}
    }
    INTERRUPTED.swap(false, Ordering::SeqCst) || termination().is_some()
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
            Some(at) => millis_until(at),
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

/// A command's deadline, started when the command first has to wait: a
/// command whose calls never block never reads the clock. It is neither
/// `Copy` nor `Clone`: a command makes one and lends it to every call that
/// may wait, so the first wait starts it and it bounds all the waits after
/// that, however many calls the command makes (a stream's bytes arriving
/// in pieces, a send the kernel takes in parts).
#[derive(Debug)]
pub struct CommandDeadline {
    timeout: Option<Duration>,
    started: OnceCell<Deadline>,
}

impl CommandDeadline {
    /// A deadline `timeout` after the command's first wait.
    pub fn new(timeout: Option<Duration>) -> Self {
        CommandDeadline {
            timeout,
            started: OnceCell::new(),
        }
    }

    /// The deadline, started now if nothing started it yet.
    pub fn start(&self) -> Deadline {
        *self.started.get_or_init(|| Deadline::after(self.timeout))
    }
}

/// Milliseconds until `at` for poll(2), rounded up so a wait never ends early.
fn millis_until(at: Instant) -> i32 {
    let left = at.saturating_duration_since(Instant::now());
    i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
}

/// Polls several descriptors at once; returns each one's revents, or a
/// TIMEOUT naming `what` when none became ready in time.
pub fn poll_many(
    fds: &[(BorrowedFd, i16)],
    deadline: Deadline,
    what: &str,
) -> Result<Vec<i16>, Failure> {
    // libc's poll rather than nix's: nix's flags know no POLLRDHUP, which
    // tells a peer's end of stream from data still queued.
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    if let Some(interrupt) = interrupt_pipe() {
        pollfds.push(libc::pollfd {
            fd: interrupt.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
    }
    let mut notice = announcement();
    loop {
        if interrupt_pending() {
            take_interrupt();
            return Err(Failure::Interrupted);
        }
        if let Some(over) = crate::sandbox::limits::over_limit() {
            return Err(over);
        }
        let mut millis = deadline.poll_millis();
        if let Some((at, _)) = &notice {
            let until = millis_until(*at);
            if millis < 0 || until < millis {
                millis = until;
            }
        }
        // SAFETY: pollfds is a valid, initialised array of its length, and
        // every descriptor in it is borrowed for the whole call.
        let ready =
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
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
        if let Some((_, label)) = notice.take_if(|(at, _)| Instant::now() >= *at) {
            announce(&label);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_deadline_starts_once_and_keeps_its_instant() {
        let deadline = CommandDeadline::new(Some(Duration::from_millis(50)));
        let first = deadline.start();
        std::thread::sleep(Duration::from_millis(20));
        let second = deadline.start();
        assert_eq!(first.at, second.at, "a later wait must not restart it");
        assert!(first.at.is_some());
    }

    #[test]
    fn a_command_deadline_without_a_timeout_never_expires() {
        let deadline = CommandDeadline::new(None);
        assert!(deadline.start().at.is_none());
        assert!(!deadline.start().expired());
    }
}

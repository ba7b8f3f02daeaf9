//! Learning, without races, when a program's main process exits.
//!
//! A pidfd (Linux 5.3+) becomes readable when the process exits, so the
//! session can poll it next to sockets and its Ctrl-C pipe, with no
//! SIGCHLD handler and no risk of waiting for a recycled pid. Where the
//! kernel (or a seccomp filter) refuses `pidfd_open`, there is no fd to
//! poll and callers look again every [`FALLBACK_TICK`] with `waitpid`.
//!
//! Reaping needs `waitpid` either way. Nothing else in the process may
//! call `waitpid(-1, ...)` or set SIGCHLD to SIG_IGN, or our children
//! would be reaped behind our back (`waitpid` then fails with ECHILD).

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::error::ProgramError;
use super::status::ExitStatus;

/// How often to look again when there is no pidfd to poll.
pub const FALLBACK_TICK: Duration = Duration::from_millis(10);

/// Set once `pidfd_open` is known not to work here, to stop trying.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// The main process of one program, until reaped.
#[derive(Debug)]
pub(crate) struct Reaper {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Reaper {
    /// `pid` must be our own unreaped child (so it cannot be recycled yet).
    pub(crate) fn new(pid: Pid) -> Self {
        Reaper {
            pid,
            pidfd: open_pidfd(pid),
            status: None,
        }
    }

    /// Readable once the process has exited; `None` without pidfd support
    /// or once reaped.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// Behaves as on a kernel without pidfds (to test the fallback).
    #[cfg(test)]
    pub(crate) fn forget_pidfd(&mut self) {
        self.pidfd = None;
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Reaps the process if it has exited; never blocks.
    pub(crate) fn try_wait(&mut self) -> Result<Option<ExitStatus>, ProgramError> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(found) => {
                    self.status = ExitStatus::from_wait(found);
                    if self.status.is_some() {
                        self.pidfd = None;
                    }
                    return Ok(self.status);
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(ProgramError::sys("waitpid", errno)),
            }
        }
    }
}

/// A pidfd for our child, or `None` where the kernel has none.
fn open_pidfd(pid: Pid) -> Option<OwnedFd> {
    if NO_PIDFD.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (always close-on-exec) or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        if matches!(Errno::last(), Errno::ENOSYS | Errno::EPERM) {
            NO_PIDFD.store(true, Ordering::Relaxed);
        }
        return None;
    }
    // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

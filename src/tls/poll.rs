//! Waiting for sockets until a deadline, for callers without a wait of
//! their own (the tests, a tool). The handle layer passes its own wait,
//! which also wakes for Ctrl-C, to the `*_wait` methods instead.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use super::conn::Interest;
use super::error::TlsError;

/// Waits until one of `sockets` is ready for its interest; fails with
/// [`TlsError::Timeout`] at `deadline`.
pub fn poll_until(
    sockets: &[(BorrowedFd<'_>, Interest)],
    deadline: Instant,
) -> Result<(), TlsError> {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|(fd, interest)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: interest.poll_events(),
            revents: 0,
        })
        .collect();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TlsError::Timeout);
        }
        // Rounded up, so the wait never ends before the deadline.
        let millis = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is an initialised array of its length, alive for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        match ready {
            n if n > 0 => return Ok(()),
            0 => continue,
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(TlsError::Io(error));
                }
            }
        }
    }
}

/// A wait for one socket, for [`super::TlsConn::handshake`] and the other `*_wait` methods.
pub fn wait_until(
    fd: BorrowedFd<'_>,
    deadline: Instant,
) -> impl FnMut(Interest) -> Result<(), TlsError> + '_ {
    move |interest| poll_until(&[(fd, interest)], deadline)
}

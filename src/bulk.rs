//! Bulk transfers (`sendall --file`, `recvall`): the socket blocks in the
//! kernel for the length of the command, with SO_SNDTIMEO/SO_RCVTIMEO set
//! to the time left, so a gigabyte costs its reads and writes alone and
//! not a poll(2) every time a buffer runs dry. Timeouts and Ctrl-C behave
//! as in [`Session::retry`], which a non-blocking handle keeps using, and
//! so does a TLS handle, whose reads and writes go through user space.

use std::io;
use std::time::Duration;

use crate::errors::Failure;
use crate::handle::Handle;
use crate::session::Session;
use crate::wait::{interrupt_pending, take_interrupt, CommandDeadline};

/// Which way the bytes go, and so which socket timeout bounds a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Send,
    Receive,
}

pub struct Bulk<'a> {
    session: &'a Session,
    handle: &'a Handle,
    deadline: &'a CommandDeadline,
    direction: Direction,
    what: &'a str,
    /// Whether the socket was switched to blocking for this transfer.
    in_kernel: bool,
}

impl<'a> Bulk<'a> {
    pub fn new(
        session: &'a Session,
        handle: &'a Handle,
        deadline: &'a CommandDeadline,
        direction: Direction,
        what: &'a str,
    ) -> Self {
        // Only a kernel socket can block with a timeout of its own, and
        // only one whose bytes are the handle's (not under TLS).
        let in_kernel = handle.blocking()
            && handle.io.passes_through()
            && handle
                .socket()
                .is_ok_and(|socket| socket.set_nonblocking(false).is_ok());
        // The transfer may block in the kernel from its first call: its
        // deadline runs from now.
        deadline.start();
        // Nothing shown may wait behind a transfer that may block.
        session.out.flush();
        Bulk {
            session,
            handle,
            deadline,
            direction,
            what,
            in_kernel,
        }
    }

    /// One system call of the transfer, bounded by the deadline.
    pub fn call<T>(&self, mut call: impl FnMut(&Handle) -> io::Result<T>) -> Result<T, Failure> {
        if !self.in_kernel {
            let events = match self.direction {
                Direction::Send => libc::POLLOUT,
                Direction::Receive => libc::POLLIN,
            };
            return self
                .session
                .retry(self.handle, events, self.deadline, self.what, call);
        }
        let socket = self.handle.socket()?;
        loop {
            // A Ctrl-C that came just before a blocking call would otherwise
            // wait for the socket timeout (or forever).
            if interrupt_pending() {
                take_interrupt();
                return Err(Failure::Interrupted);
            }
            let deadline = self.deadline.start();
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                return Err(deadline.timeout(self.what));
            }
            // A zero socket timeout means "forever": never set one below 1 ms.
            let limit = left.map(|d| d.max(Duration::from_millis(1)));
            match self.direction {
                Direction::Send => socket.set_write_timeout(limit)?,
                Direction::Receive => socket.set_read_timeout(limit)?,
            }
            match call(self.handle) {
                Ok(value) => return Ok(value),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if take_interrupt() {
                        return Err(Failure::Interrupted);
                    }
                }
                // The socket timeout ran out: the deadline has passed.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(deadline.timeout(self.what))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Bulk<'_> {
    fn drop(&mut self) {
        if let (true, Ok(socket)) = (self.in_kernel, self.handle.socket()) {
            let _ = socket.set_write_timeout(None);
            let _ = socket.set_read_timeout(None);
            let _ = socket.set_nonblocking(true);
        }
    }
}

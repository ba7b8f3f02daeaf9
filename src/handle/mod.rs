//! A handle: one named thing a script reads from and writes to, and what
//! sockrepl remembers about it.
//!
//! Most handles are kernel sockets, but not all: v2 adds running programs
//! (their pipes) and TLS on a stream. What a handle is lives behind the
//! [`Io`] trait, one file per kind (`socket.rs`, …), and receive, send,
//! poll and close go through it, so `recv`, `expect` and the framed
//! receives are written once for every kind. Commands that only make sense
//! on a socket (`bind`, `setsockopt`...) ask for it with
//! [`Handle::socket`], which names the handle when it is something else.

mod program;
mod socket;
mod tls;

use socket2::SockAddr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use crate::errors::Failure;
use crate::kind::Kind;
use crate::tls::StreamEnd;
use crate::wait::Deadline;

pub use program::{program_failure, ProgramIo};
pub use socket::{BoundFile, SocketIo};
pub use tls::TlsIo;

pub struct Handle {
    pub name: String,
    /// Creation order, so `sockets` lists handles as they were made.
    pub serial: u64,
    /// Set by both `settimeout` and `setblocking`, as Python keeps one
    /// timeout per socket that both methods set.
    pub timeout: HandleTimeout,
    pub io: Box<dyn Io>,
}

/// How a command on one handle waits: Python's single timeout state of a
/// socket (`None` blocks, `0.0` never waits, more is a limit), plus "not
/// set yet", which follows the session's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleTimeout {
    /// The session's default (`timeout`, `--timeout`).
    SessionDefault,
    /// `settimeout NAME none`, `setblocking NAME on`: Python's `None`.
    Never,
    /// `settimeout NAME DUR` with DUR above zero.
    After(Duration),
    /// `setblocking NAME off`, `settimeout NAME 0s`: Python's `0.0`; calls
    /// that would wait fail with EAGAIN.
    NonBlocking,
}

impl HandleTimeout {
    /// The state Python's `s.settimeout(value)` gives (`None` for `none`).
    pub fn from_settimeout(value: Option<Duration>) -> Self {
        match value {
            None => HandleTimeout::Never,
            Some(duration) if duration.is_zero() => HandleTimeout::NonBlocking,
            Some(duration) => HandleTimeout::After(duration),
        }
    }

    /// The state Python's `s.setblocking(flag)` gives.
    pub fn from_setblocking(blocking: bool) -> Self {
        if blocking {
            HandleTimeout::Never
        } else {
            HandleTimeout::NonBlocking
        }
    }

    /// The wait this gives, `None` for no limit.
    pub fn resolve(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            HandleTimeout::SessionDefault => default,
            HandleTimeout::Never => None,
            HandleTimeout::After(duration) => Some(duration),
            HandleTimeout::NonBlocking => Some(Duration::ZERO),
        }
    }
}

/// What is behind a handle's name: a socket, a program, TLS on a stream.
///
/// Every call is non-blocking: "would block" is `io::ErrorKind::WouldBlock`,
/// and the session waits (`Session::retry`, `framing`) with deadlines and
/// Ctrl-C. State that changes while reading (buffers, the view of a
/// queue) sits behind interior mutability, so commands can hold the
/// session's handle table and the transcript at once. `Any`, so that `tls`
/// can take the socket out of a socket handle to wrap it.
pub trait Io: std::any::Any {
    /// What the handle is, for messages: "a socket", "a program".
    fn what(&self) -> &'static str;

    /// The kernel socket, for handles that are one (or wrap one).
    fn as_socket(&self) -> Option<&SocketIo> {
        None
    }

    fn as_socket_mut(&mut self) -> Option<&mut SocketIo> {
        None
    }

    /// The running program, for program handles (`wait`, `signal`...).
    fn as_program(&self) -> Option<&ProgramIo> {
        None
    }

    fn as_program_mut(&mut self) -> Option<&mut ProgramIo> {
        None
    }

    /// The descriptor to poll for `events` (`POLLIN` to read, `POLLOUT` to
    /// write: a program reads and writes through different pipes).
    fn poll_fd(&self, events: i16) -> BorrowedFd<'_>;

    /// Bytes that can be read without asking the kernel (a user-space
    /// buffer): a poll or a wait should not sleep then.
    fn readable_now(&self) -> bool {
        false
    }

    /// Whether each receive takes one whole message (datagrams).
    fn keeps_boundaries(&self) -> bool;

    /// Whether a receive of 0 bytes means the peer closed (streams).
    fn has_end_of_stream(&self) -> bool {
        !self.keeps_boundaries()
    }

    /// One receive; on datagram sockets MSG_TRUNC reports a cut
    /// datagram's real size.
    fn receive(
        &self,
        buffer: &mut [u8],
        mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)>;

    /// One receive of bytes alone, with no sender to report: what a
    /// receive in the default [`ReceiveMode`] gives, without carrying an
    /// empty address back through every caller.
    fn receive_bytes(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.receive(buffer, ReceiveMode::default()).map(|(n, _)| n)
    }

    /// The bytes that arrived and were not taken, up to `max`, without
    /// taking them; `fresh` asks the kernel again.
    fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>>;

    /// Takes the first `count` bytes, which [`Io::look`] has shown.
    fn take(&self, count: usize) -> io::Result<Vec<u8>>;

    /// One send.
    fn send(&self, bytes: &[u8]) -> io::Result<usize>;

    /// Waits until more than the `queued` unread bytes a framed receive
    /// has looked at are there, or the end; `Stalled` when nothing more
    /// will come until those are read.
    fn wait_for_more(
        &self,
        _queued: usize,
        deadline: Deadline,
        what: &str,
    ) -> Result<More, Failure> {
        // A buffered kind's look sees its end itself.
        self.wait_readable(deadline, what).map(|()| More::Arrived)
    }

    /// Waits until there is something to read (bytes, or the end).
    fn wait_readable(&self, deadline: Deadline, what: &str) -> Result<(), Failure> {
        if self.readable_now() {
            return Ok(());
        }
        crate::wait::wait_for(
            self.poll_fd(libc::POLLIN),
            libc::POLLIN | libc::POLLRDHUP,
            deadline,
            what,
        )
    }

    /// Whether the bytes of the descriptor are the handle's bytes, so a
    /// bulk transfer may use it directly (sendfile, a read that blocks in
    /// the kernel); not so under TLS, whose bytes are encrypted records.
    fn passes_through(&self) -> bool {
        true
    }

    /// Sends what an earlier send left held in user space (TLS records
    /// not yet in the kernel); `WouldBlock` until all of it went.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Sends what must go before the descriptor is closed (TLS's
    /// `close_notify`); `WouldBlock` until it went.
    fn finish(&self) -> io::Result<()> {
        Ok(())
    }

    /// The protocol layered on the socket (`tls`), for `sockets`.
    fn layer(&self) -> Option<&'static str> {
        None
    }

    /// How a TLS stream ended, once a receive saw it end (a clean
    /// `close_notify`, or a truncation); `None` for every other kind.
    fn tls_end(&self) -> Option<StreamEnd> {
        None
    }

    /// Waits until a call for `events` may go on (`POLLIN` to read,
    /// `POLLOUT` to write): a program drains its output while its stdin is
    /// full, so neither side stalls.
    fn wait_ready(&self, events: i16, deadline: Deadline, what: &str) -> Result<(), Failure> {
        crate::wait::wait_for(self.poll_fd(events), events, deadline, what)
    }

    /// A hint for a failed call with this errno that only this kind can
    /// give (a program's EPIPE: it exited).
    fn failure_hint(&self, _errno: nix::errno::Errno) -> Option<String> {
        None
    }

    /// Closes it; a socket also removes the Unix socket file its bind
    /// made, returning that path.
    fn close(self: Box<Self>) -> Option<PathBuf>;
}

/// What [`Io::wait_for_more`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum More {
    /// More bytes: look again.
    Arrived,
    /// The peer closed: what was looked at is all there will be.
    Ended,
    /// The kernel sends nothing more until the bytes looked at are read.
    Stalled,
}

/// What [`Io::look`] saw.
pub struct View<'a> {
    /// The unread bytes, up to the size asked for.
    pub bytes: std::cell::Ref<'a, [u8]>,
    /// Whether the kernel was asked just now.
    pub fresh: bool,
    /// The stream ended: the peer closed and nothing is left to read.
    pub ended: bool,
}

/// How one receive call reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveMode {
    /// Report a datagram's real size when it does not fit (MSG_TRUNC).
    pub datagram: bool,
    /// Also return the sender's address.
    pub want_from: bool,
}

impl Handle {
    pub fn new(name: String, io: Box<dyn Io>, serial: u64) -> Self {
        Handle {
            name,
            serial,
            timeout: HandleTimeout::SessionDefault,
            io,
        }
    }

    /// Whether a call that would block waits (up to the timeout) rather
    /// than failing with EAGAIN.
    pub fn blocking(&self) -> bool {
        self.timeout != HandleTimeout::NonBlocking
    }

    /// The socket behind the handle, or a failure naming what it is instead.
    pub fn socket(&self) -> Result<&SocketIo, Failure> {
        self.io.as_socket().ok_or_else(|| self.not_a_socket())
    }

    pub fn socket_mut(&mut self) -> Result<&mut SocketIo, Failure> {
        let what = self.io.what();
        let name = self.name.clone();
        self.io
            .as_socket_mut()
            .ok_or_else(|| not_a_socket(&name, what))
    }

    /// The program behind the handle, or a failure naming what it is instead.
    pub fn program(&self) -> Result<&ProgramIo, Failure> {
        self.io.as_program().ok_or_else(|| {
            Failure::usage(format!(
                "{} is {}, not a program",
                self.name,
                self.io.what()
            ))
        })
    }

    pub fn program_mut(&mut self) -> Result<&mut ProgramIo, Failure> {
        let what = self.io.what();
        let name = self.name.clone();
        self.io
            .as_program_mut()
            .ok_or_else(|| Failure::usage(format!("{name} is {what}, not a program")))
    }

    fn not_a_socket(&self) -> Failure {
        not_a_socket(&self.name, self.io.what())
    }

    /// The socket kind, for handles that are sockets.
    pub fn kind(&self) -> Option<Kind> {
        self.io.as_socket().map(|socket| socket.kind)
    }

    /// The descriptor to poll for reading.
    pub fn fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }

    /// The descriptor to poll for reading, borrowed.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.poll_fd(libc::POLLIN)
    }

    pub fn keeps_boundaries(&self) -> bool {
        self.io.keeps_boundaries()
    }

    pub fn has_end_of_stream(&self) -> bool {
        self.io.has_end_of_stream()
    }

    /// Whether the handle is a socket with nothing layered on it yet.
    pub fn is_plain_socket(&self) -> bool {
        let io: &dyn std::any::Any = &*self.io;
        io.is::<SocketIo>()
    }

    /// Layers TLS on a plain socket handle whose handshake `conn` has
    /// done; the handle keeps its name, settings and socket. A handle that
    /// is not a plain socket comes back unchanged, as the error.
    pub fn start_tls(mut self, conn: crate::tls::TlsConn) -> Result<Handle, Handle> {
        if !self.is_plain_socket() {
            return Err(self);
        }
        let io: Box<dyn std::any::Any> = self.io;
        let socket = io
            .downcast::<SocketIo>()
            .expect("is_plain_socket checked the kind");
        self.io = Box::new(TlsIo::new(*socket, conn));
        Ok(self)
    }

    /// Whether the socket listens, as the kernel says (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        self.io
            .as_socket()
            .is_some_and(|socket| socket.is_listener().unwrap_or(false))
    }

    pub fn local_addr(&self) -> Option<SockAddr> {
        self.io.as_socket()?.local_addr().ok()
    }

    pub fn peer_addr(&self) -> Option<SockAddr> {
        self.io.as_socket()?.peer_addr().ok()
    }

    pub fn receive(
        &self,
        buffer: &mut [u8],
        mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)> {
        self.io.receive(buffer, mode)
    }

    pub fn receive_bytes(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.io.receive_bytes(buffer)
    }

    pub fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>> {
        self.io.look(max, fresh)
    }

    pub fn take(&self, count: usize) -> io::Result<Vec<u8>> {
        self.io.take(count)
    }

    pub fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        self.io.send(bytes)
    }

    pub fn wait_readable(&self, deadline: Deadline, what: &str) -> Result<(), Failure> {
        self.io.wait_readable(deadline, what)
    }

    pub fn wait_for_more(
        &self,
        queued: usize,
        deadline: Deadline,
        what: &str,
    ) -> Result<More, Failure> {
        self.io.wait_for_more(queued, deadline, what)
    }

    pub fn close(self) -> Option<PathBuf> {
        self.io.close()
    }
}

fn not_a_socket(name: &str, what: &str) -> Failure {
    Failure::usage(format!("{name} is {what}, not a socket"))
}

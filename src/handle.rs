//! A handle: one named thing a script reads from and writes to, and what
//! sockrepl remembers about it.
//!
//! Most handles are kernel sockets, but not all: v2 adds running programs
//! (their pipes) and TLS on a stream. Receive, send, poll and close go
//! through [`Handle`]'s methods, which dispatch on the [`Io`] behind the
//! name, so `recv`, `expect` and the framed receives are written once for
//! every kind. Commands that only make sense on a socket (`bind`,
//! `setsockopt`...) ask for it with [`Handle::socket`], which names the
//! handle when it is something else.

use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use socket2::{SockAddr, Socket};
use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::errors::Failure;
use crate::kind::Kind;

pub struct Handle {
    pub name: String,
    /// Creation order, so `sockets` lists handles as they were made.
    pub serial: u64,
    pub timeout: HandleTimeout,
    /// `setblocking off` makes calls that would block fail with EAGAIN.
    pub blocking: bool,
    pub io: Io,
}

/// How long a blocking command on one handle waits (`settimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleTimeout {
    /// The session's default (`timeout`, `--timeout`).
    SessionDefault,
    /// `settimeout NAME none`.
    Never,
    After(Duration),
}

impl HandleTimeout {
    /// The wait this gives, `None` for no limit.
    pub fn resolve(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            HandleTimeout::SessionDefault => default,
            HandleTimeout::Never => None,
            HandleTimeout::After(duration) => Some(duration),
        }
    }
}

/// What is behind a handle's name.
pub enum Io {
    Socket(SocketIo),
}

/// A kernel socket and what its commands left behind on it.
pub struct SocketIo {
    pub socket: Socket,
    pub kind: Kind,
    /// A Unix socket file this handle's `bind` created, removed on close.
    pub bound_path: Option<BoundFile>,
    /// Whether the script chose the local port itself (so it is shown as is).
    pub port_chosen: bool,
    /// `shutdown read|both` ran: an end of stream now is ours, not the peer's.
    pub reading_shut: bool,
    /// How many connections `accept` has taken, for the default names `srv-1`, `srv-2`...
    pub accepted: u32,
    /// The sender of the last datagram received (`${H.from}`).
    last_from: RefCell<Option<SockAddr>>,
    /// The first bytes of the kernel's receive queue, as the last peek saw
    /// them: a framed receive finds its delimiter here without another
    /// system call. Only this process reads the socket, and every read
    /// goes through the handle, so the copy stays true.
    peeked: RefCell<Vec<u8>>,
}

impl Deref for SocketIo {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.socket
    }
}

/// What [`Handle::look`] saw.
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
    pub fn new_socket(name: String, socket: Socket, kind: Kind, serial: u64) -> Self {
        Handle {
            name,
            serial,
            timeout: HandleTimeout::SessionDefault,
            blocking: true,
            io: Io::Socket(SocketIo {
                socket,
                kind,
                bound_path: None,
                port_chosen: false,
                reading_shut: false,
                accepted: 0,
                last_from: RefCell::new(None),
                peeked: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The socket behind the handle, or a failure naming what it is instead.
    pub fn socket(&self) -> Result<&SocketIo, Failure> {
        match &self.io {
            Io::Socket(socket) => Ok(socket),
        }
    }

    pub fn socket_mut(&mut self) -> Result<&mut SocketIo, Failure> {
        match &mut self.io {
            Io::Socket(socket) => Ok(socket),
        }
    }

    /// The socket kind, for handles that are sockets.
    pub fn kind(&self) -> Option<Kind> {
        match &self.io {
            Io::Socket(socket) => Some(socket.kind),
        }
    }

    /// The descriptor to poll for reading (and, for sockets, writing).
    pub fn fd(&self) -> RawFd {
        match &self.io {
            Io::Socket(socket) => socket.as_raw_fd(),
        }
    }

    /// The same descriptor, borrowed, for calls that take one (sendfile).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.io {
            Io::Socket(socket) => socket.as_fd(),
        }
    }

    /// Whether each receive takes one whole message (datagrams).
    pub fn keeps_boundaries(&self) -> bool {
        match &self.io {
            Io::Socket(socket) => socket.kind.keeps_boundaries(),
        }
    }

    /// Whether a receive of 0 bytes means the peer closed (streams).
    pub fn has_end_of_stream(&self) -> bool {
        match &self.io {
            Io::Socket(socket) => socket.kind.has_end_of_stream(),
        }
    }

    /// Whether the socket listens, as the kernel says (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        match &self.io {
            Io::Socket(socket) => socket.is_listener().unwrap_or(false),
        }
    }

    pub fn local_addr(&self) -> Option<SockAddr> {
        match &self.io {
            Io::Socket(socket) => socket.local_addr().ok(),
        }
    }

    pub fn peer_addr(&self) -> Option<SockAddr> {
        match &self.io {
            Io::Socket(socket) => socket.peer_addr().ok(),
        }
    }

    /// One non-blocking receive. On datagram sockets MSG_TRUNC makes the
    /// kernel report the datagram's real size, so a cut one can be shown.
    pub fn receive(
        &self,
        buffer: &mut [u8],
        mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)> {
        match &self.io {
            Io::Socket(socket) => {
                socket.peeked.borrow_mut().clear();
                let received = receive_from_socket(socket, buffer, mode, 0)?;
                if let (true, Some(from)) = (mode.datagram, &received.1) {
                    *socket.last_from.borrow_mut() = Some(from.clone());
                }
                Ok(received)
            }
        }
    }

    /// The bytes that have arrived and not been taken, up to `max`,
    /// without taking them. `fresh` asks the kernel again; otherwise what
    /// the last look saw will do, when it saw anything.
    pub fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>> {
        match &self.io {
            Io::Socket(socket) => {
                let asked = fresh || socket.peeked.borrow().is_empty();
                let ended = asked && socket.peek_queue(max)?;
                Ok(View {
                    bytes: std::cell::Ref::map(socket.peeked.borrow(), |v| &v[..v.len().min(max)]),
                    fresh: asked,
                    ended,
                })
            }
        }
    }

    /// Takes the first `count` bytes, which [`Handle::look`] has shown.
    pub fn take(&self, count: usize) -> io::Result<Vec<u8>> {
        match &self.io {
            Io::Socket(socket) => socket.take_peeked(count),
        }
    }

    /// Waits until more than `seen` bytes have arrived, or the peer closed
    /// (`Ok(false)`: nothing more will come), within `deadline`.
    pub fn wait_for_more(
        &self,
        seen: usize,
        deadline: crate::wait::Deadline,
        what: &str,
    ) -> Result<bool, Failure> {
        match &self.io {
            Io::Socket(socket) => socket.wait_for_more(seen, deadline, what),
        }
    }

    /// One non-blocking send.
    pub fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        match &self.io {
            Io::Socket(socket) => socket.send(bytes),
        }
    }

    /// Closes the handle: for a socket, also removes the Unix socket file
    /// its bind created, returning that path.
    pub fn close(self) -> Option<PathBuf> {
        match self.io {
            Io::Socket(socket) => socket.close(),
        }
    }
}

impl SocketIo {
    /// The sender of the last datagram received (`${H.from}`).
    pub fn last_from(&self) -> Option<SockAddr> {
        self.last_from.borrow().clone()
    }

    /// Peeks at up to `max` bytes of the receive queue into the view;
    /// `true` when the stream has ended (the peer closed, nothing queued).
    fn peek_queue(&self, max: usize) -> io::Result<bool> {
        let mut view = self.peeked.borrow_mut();
        view.resize(max, 0);
        let result = receive_from_socket(
            &self.socket,
            &mut view,
            ReceiveMode::default(),
            libc::MSG_PEEK,
        );
        match result {
            Ok((n, _)) => {
                view.truncate(n);
                Ok(n == 0 && max > 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                view.clear();
                Ok(false)
            }
            Err(e) => {
                view.clear();
                Err(e)
            }
        }
    }

    /// Takes `count` bytes off the queue, returning them from the view.
    fn take_peeked(&self, count: usize) -> io::Result<Vec<u8>> {
        let mut view = self.peeked.borrow_mut();
        debug_assert!(count <= view.len(), "only bytes already seen are taken");
        let mut taken = vec![0u8; count];
        let mut got = 0;
        while got < count {
            let (n, _) =
                receive_from_socket(&self.socket, &mut taken[got..], ReceiveMode::default(), 0)?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            got += n;
        }
        // The kernel gave the bytes the view showed; keep the rest of the view.
        view.drain(..count);
        Ok(taken)
    }

    fn is_tcp(&self) -> bool {
        self.kind.is_stream() && self.kind.family != crate::kind::Family::Unix
    }

    /// See [`Handle::wait_for_more`]. TCP wakes poll(2) only once more
    /// than `seen` bytes are queued (SO_RCVLOWAT); other streams are
    /// readable as long as anything is queued, so they are looked at again
    /// after a short pause.
    fn wait_for_more(
        &self,
        seen: usize,
        deadline: crate::wait::Deadline,
        what: &str,
    ) -> Result<bool, Failure> {
        let events = libc::POLLIN | libc::POLLRDHUP;
        if self.is_tcp() {
            let lowat = i32::try_from(seen + 1).unwrap_or(i32::MAX);
            let _ = nix::sys::socket::setsockopt(&self.socket, RcvLowat, &lowat);
            let ready = crate::wait::poll_many(&[(self.as_fd(), events)], deadline, what);
            let _ = nix::sys::socket::setsockopt(&self.socket, RcvLowat, &1);
            return Ok(ready?[0] & (libc::POLLRDHUP | libc::POLLHUP) == 0 && !self.peer_shut_down());
        }
        // A Unix stream ignores SO_RCVLOWAT in poll: it is readable while
        // the bytes already seen are queued. Wait until the queue holds
        // more than them, looking every few milliseconds, within `deadline`.
        loop {
            let ready = crate::wait::poll_many(&[(self.as_fd(), events)], deadline, what)?;
            if ready[0] & (libc::POLLRDHUP | libc::POLLHUP) != 0 || self.peer_shut_down() {
                return Ok(false);
            }
            if seen == 0 || self.queued().is_none_or(|queued| queued > seen) {
                return Ok(true);
            }
            let pause = Duration::from_millis(2);
            crate::wait::sleep(deadline.remaining().map_or(pause, |left| left.min(pause)))?;
            if deadline.expired() {
                return Err(deadline.timeout(what));
            }
        }
    }

    /// How many bytes wait in the receive queue (FIONREAD), when the
    /// kernel says.
    fn queued(&self) -> Option<usize> {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer given.
        let result = unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::FIONREAD, &mut queued) };
        (result == 0).then(|| usize::try_from(queued).unwrap_or(0))
    }

    /// Whether the peer has shut down its sending side, so that nothing
    /// more will arrive after what is queued: POLLRDHUP, asked by a poll of
    /// its own. `poll_many` goes through nix's `PollFlags`, which has no
    /// POLLRDHUP and drops it, so a peer that sent a partial frame and then
    /// closed (FIN, or `shutdown write`) looked readable for ever: a framed
    /// receive spun past its timeout instead of failing at the end of stream.
    fn peer_shut_down(&self) -> bool {
        let mut probe = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one pollfd for the descriptor this handle owns, no wait.
        let ready = unsafe { libc::poll(&mut probe, 1, 0) };
        ready > 0 && probe.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0
    }

    /// Closes the socket and removes the Unix socket file it bound, if that
    /// file is still the one it bound: another program may have replaced it.
    pub fn close(self) -> Option<PathBuf> {
        drop(self.socket);
        let bound = self.bound_path?;
        if !bound.is_still_there() {
            return None;
        }
        std::fs::remove_file(&bound.path).ok().map(|_| bound.path)
    }
}

sockopt_impl!(
    /// SO_RCVLOWAT: how many bytes must be queued before poll says readable.
    RcvLowat,
    Both,
    libc::SOL_SOCKET,
    libc::SO_RCVLOWAT,
    i32
);

/// One recv(2) or recvfrom(2) with extra `flags`.
fn receive_from_socket(
    socket: &Socket,
    buffer: &mut [u8],
    mode: ReceiveMode,
    flags: libc::c_int,
) -> io::Result<(usize, Option<SockAddr>)> {
    let flags = flags | if mode.datagram { libc::MSG_TRUNC } else { 0 };
    let buffer = as_uninit(buffer);
    if mode.want_from {
        let (n, from) = socket.recv_from_with_flags(buffer, flags)?;
        Ok((n, Some(from)))
    } else {
        Ok((socket.recv_with_flags(buffer, flags)?, None))
    }
}

fn as_uninit(buffer: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: initialised bytes are valid MaybeUninit<u8>, and the kernel
    // only ever writes initialised bytes into the slice.
    unsafe { &mut *(buffer as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// The socket file a `bind` created, and which file it was (device and
/// inode), so that closing never removes somebody else's socket.
#[derive(Debug, Clone)]
pub struct BoundFile {
    pub path: PathBuf,
    identity: (u64, u64),
}

impl BoundFile {
    /// Remembers the file just created at `path`.
    pub fn new(path: PathBuf) -> Option<Self> {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        Some(BoundFile {
            path,
            identity: (meta.dev(), meta.ino()),
        })
    }

    fn is_still_there(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity)
    }
}

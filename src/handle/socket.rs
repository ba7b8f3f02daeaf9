//! A socket handle: a kernel socket, non-blocking, with what its commands
//! left behind on it (the Unix file its bind made, the sender of the last
//! datagram, the view of its receive queue a framed receive peeked at).

use socket2::{SockAddr, Socket};
use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::sys::socket::setsockopt;
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use std::time::Duration;

use super::{Io, More, ReceiveMode, View};
use crate::errors::Failure;
use crate::kind::Kind;
use crate::netstat::inq;
use crate::wait::Deadline;

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
    /// The sender of the last datagram received (`${H.from}`).
    last_from: RefCell<Option<SockAddr>>,
    /// The first bytes of the kernel's receive queue, as the last peek saw
    /// them: a framed receive finds its delimiter here without another
    /// system call. Only this process reads the socket, and every read
    /// goes through the handle, so the copy stays true.
    peeked: RefCell<Peeked>,
}

/// What a peek saw of the receive queue, less what was taken since: the
/// view is `bytes[start..]`. Taking a line moves `start`, so a run of
/// `recvline`s over one peek costs each line its own length, not a move
/// of everything behind it.
#[derive(Default)]
struct Peeked {
    bytes: Vec<u8>,
    start: usize,
}

impl Peeked {
    fn view(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
    }

    fn is_empty(&self) -> bool {
        self.start == self.bytes.len()
    }

    /// The first `count` bytes of the view were taken.
    fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.bytes.len());
        if self.is_empty() {
            self.clear();
        }
    }
}

impl Deref for SocketIo {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.socket
    }
}

impl SocketIo {
    /// A new socket handle's state.
    pub fn new(socket: Socket, kind: Kind) -> Self {
        SocketIo {
            socket,
            kind,
            bound_path: None,
            port_chosen: false,
            reading_shut: false,
            last_from: RefCell::new(None),
            peeked: RefCell::new(Peeked::default()),
        }
    }

    /// The sender of the last datagram received (`${H.from}`).
    pub fn last_from(&self) -> Option<SockAddr> {
        self.last_from.borrow().clone()
    }

    /// Peeks at up to `max` bytes of the receive queue into the view;
    /// `true` when the stream has ended (the peer closed, nothing queued).
    fn peek_queue(&self, max: usize) -> io::Result<bool> {
        let mut peeked = self.peeked.borrow_mut();
        peeked.clear();
        let view = &mut peeked.bytes;
        view.resize(max, 0);
        let result =
            receive_from_socket(&self.socket, view, ReceiveMode::default(), libc::MSG_PEEK);
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

    fn is_tcp(&self) -> bool {
        self.kind.is_stream() && self.kind.family != crate::kind::Family::Unix
    }

    /// Takes `count` bytes off the queue, returning them from the view.
    fn take_peeked(&self, count: usize) -> io::Result<Vec<u8>> {
        let mut peeked = self.peeked.borrow_mut();
        debug_assert!(
            count <= peeked.view().len(),
            "only bytes already seen are taken"
        );
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
        peeked.consume(count);
        Ok(taken)
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

impl Io for SocketIo {
    fn what(&self) -> &'static str {
        "a socket"
    }

    fn as_socket(&self) -> Option<&SocketIo> {
        Some(self)
    }

    fn as_socket_mut(&mut self) -> Option<&mut SocketIo> {
        Some(self)
    }

    fn poll_fd(&self, _events: i16) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn keeps_boundaries(&self) -> bool {
        self.kind.keeps_boundaries()
    }

    fn has_end_of_stream(&self) -> bool {
        self.kind.has_end_of_stream()
    }

    fn receive(
        &self,
        buffer: &mut [u8],
        mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)> {
        self.peeked.borrow_mut().clear();
        let received = receive_from_socket(&self.socket, buffer, mode, 0)?;
        if let (true, Some(from)) = (mode.datagram, &received.1) {
            *self.last_from.borrow_mut() = Some(from.clone());
        }
        Ok(received)
    }

    fn receive_bytes(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.peeked.borrow_mut().clear();
        self.socket.recv_with_flags(as_uninit(buffer), 0)
    }

    fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>> {
        let asked = fresh || self.peeked.borrow().is_empty();
        let ended = asked && self.peek_queue(max)?;
        Ok(View {
            bytes: std::cell::Ref::map(self.peeked.borrow(), |p| {
                let view = p.view();
                &view[..view.len().min(max)]
            }),
            fresh: asked,
            ended,
        })
    }

    fn take(&self, count: usize) -> io::Result<Vec<u8>> {
        self.take_peeked(count)
    }

    fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        self.socket.send(bytes)
    }

    /// TCP: poll wakes only once more than `queued` bytes are there
    /// (SO_RCVLOWAT), or when the kernel will send nothing more until
    /// they are read (then it says readable with no more queued). Other
    /// streams are readable while anything is queued, so they are looked
    /// at again after short pauses until more came or the deadline passed.
    fn wait_for_more(
        &self,
        queued: usize,
        deadline: Deadline,
        what: &str,
    ) -> Result<More, Failure> {
        let events = libc::POLLIN | libc::POLLRDHUP;
        let fd = self.socket.as_fd();
        let ended = |revents: i16| revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0;
        let grew = || inq(fd.as_raw_fd()) > queued as u64;
        if self.is_tcp() {
            let lowat = i32::try_from(queued + 1).unwrap_or(i32::MAX);
            let _ = setsockopt(&self.socket, RcvLowat, &lowat);
            let ready = crate::wait::poll_many(&[(fd, events)], deadline, what);
            let _ = setsockopt(&self.socket, RcvLowat, &1);
            let revents = ready?[0];
            return Ok(match (grew(), ended(revents)) {
                (true, _) => More::Arrived,
                (false, true) => More::Ended,
                (false, false) => More::Stalled,
            });
        }
        loop {
            let revents = crate::wait::poll_many(&[(fd, events)], deadline, what)?[0];
            if grew() {
                return Ok(More::Arrived);
            }
            if ended(revents) {
                return Ok(More::Ended);
            }
            if deadline.expired() {
                return Err(deadline.timeout(what));
            }
            let pause = Duration::from_millis(2);
            crate::wait::sleep(deadline.remaining().map_or(pause, |left| left.min(pause)))?;
        }
    }

    fn close(self: Box<Self>) -> Option<PathBuf> {
        SocketIo::close(*self)
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

//! A TLS handle: TLS on top of a connected stream socket, once `tls` has
//! run its handshake.
//!
//! It keeps the socket handle's own [`SocketIo`], so every command that
//! asks for the socket (`getsockname`, `setsockopt`, `sockets`) still finds
//! it, and puts a [`TlsConn`] in front of its bytes: receives, looks and
//! sends go through TLS. Plaintext that arrived and was not taken waits in
//! the connection's buffer, which `poll` and every wait count as readable,
//! and which a framed receive searches the way it peeks at a socket.

use socket2::SockAddr;
use std::cell::{Ref, RefCell, RefMut};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use super::{Io, ReceiveMode, SocketIo, View};
use crate::tls::{Fill, Received, Step, StreamEnd, TlsConn, TlsError};

/// How many decrypting reads one receive or look makes at most before it
/// answers with what it has: a peer that never stops sending cannot keep
/// a command from its deadline.
const MAX_FILLS: usize = 16;

/// A TLS connection over a socket handle's socket.
pub struct TlsIo {
    socket: SocketIo,
    conn: RefCell<TlsConn>,
}

impl TlsIo {
    /// `conn` has finished its handshake over `socket`.
    pub fn new(socket: SocketIo, conn: TlsConn) -> Self {
        TlsIo {
            socket,
            conn: RefCell::new(conn),
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.socket.as_fd()
    }

    fn conn(&self) -> RefMut<'_, TlsConn> {
        self.conn.borrow_mut()
    }

    /// Decrypts what the socket has until `enough` plaintext is buffered,
    /// the socket has nothing more now, or the stream ended.
    fn fill_up_to(&self, enough: usize) -> io::Result<()> {
        let mut conn = self.conn();
        for _ in 0..MAX_FILLS {
            if conn.buffered().len() >= enough {
                return Ok(());
            }
            match conn.fill(self.fd()).map_err(into_io)? {
                Fill::Added(_) => continue,
                Fill::Blocked | Fill::Ended(_) => return Ok(()),
            }
        }
        Ok(())
    }
}

impl Io for TlsIo {
    fn what(&self) -> &'static str {
        "a TLS connection"
    }

    fn as_socket(&self) -> Option<&SocketIo> {
        Some(&self.socket)
    }

    fn as_socket_mut(&mut self) -> Option<&mut SocketIo> {
        Some(&mut self.socket)
    }

    fn poll_fd(&self, _events: i16) -> BorrowedFd<'_> {
        self.fd()
    }

    fn readable_now(&self) -> bool {
        self.conn.borrow().readable_without_kernel()
    }

    fn keeps_boundaries(&self) -> bool {
        false
    }

    fn has_end_of_stream(&self) -> bool {
        true
    }

    fn receive(
        &self,
        buffer: &mut [u8],
        _mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)> {
        if self.conn.borrow().buffered().is_empty() {
            // As many records as the kernel has, up to the buffer: a bulk
            // receive then writes large pieces.
            self.fill_up_to(buffer.len())?;
        }
        match self.conn().read(self.fd(), buffer).map_err(into_io)? {
            Received::Bytes(count) => Ok((count, None)),
            Received::Ended(_) => Ok((0, None)),
            Received::Blocked => Err(would_block()),
        }
    }

    fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>> {
        let asked = fresh || self.conn.borrow().buffered().is_empty();
        if asked {
            self.fill_up_to(max)?;
        }
        let conn = self.conn.borrow();
        // Once the stream ended, what is buffered is all there will be.
        let ended = conn.end().is_some();
        Ok(View {
            bytes: Ref::map(conn, |conn| {
                let buffered = conn.buffered();
                &buffered[..buffered.len().min(max)]
            }),
            fresh: asked,
            ended,
        })
    }

    fn take(&self, count: usize) -> io::Result<Vec<u8>> {
        let mut conn = self.conn();
        debug_assert!(count <= conn.buffered().len(), "only bytes seen are taken");
        let count = count.min(conn.buffered().len());
        let taken = conn.buffered()[..count].to_vec();
        conn.consume(count);
        Ok(taken)
    }

    fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        // Encrypts what rustls' bounded buffer takes, writing records to
        // the kernel as it goes; what is left there waits for `flush`.
        match self.conn().write(self.fd(), bytes).map_err(into_io)? {
            0 if !bytes.is_empty() => Err(would_block()),
            taken => Ok(taken),
        }
    }

    fn passes_through(&self) -> bool {
        false
    }

    fn flush(&self) -> io::Result<()> {
        match self.conn().flush(self.fd()).map_err(into_io)? {
            Step::Done => Ok(()),
            Step::Blocked(_) => Err(would_block()),
        }
    }

    fn finish(&self) -> io::Result<()> {
        match self.conn().close_notify(self.fd()).map_err(into_io)? {
            Step::Done => Ok(()),
            Step::Blocked(_) => Err(would_block()),
        }
    }

    fn layer(&self) -> Option<&'static str> {
        Some("tls")
    }

    fn tls_end(&self) -> Option<StreamEnd> {
        self.conn.borrow().end()
    }

    fn close(self: Box<Self>) -> Option<PathBuf> {
        // Best effort, without waiting: `close` has already sent it, and a
        // session that ends closes what is left as it can.
        let _ = self.finish();
        self.socket.close()
    }
}

/// A TLS failure as an `io::Error`: a system error keeps its errno (so
/// `fails ECONNRESET` matches it); any other carries the [`TlsError`],
/// which becomes a TLS failure with its hint.
fn into_io(error: TlsError) -> io::Error {
    match error {
        TlsError::Io(error) => error,
        other => io::Error::other(other),
    }
}

/// "Nothing now", as the kernel says it (EAGAIN), so a non-blocking handle
/// fails with the errno `fails EAGAIN` matches.
fn would_block() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

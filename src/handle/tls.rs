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
        Some(crate::tls::NAME)
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use socket2::{Domain, Socket, Type};

    use super::*;
    use crate::kind::Kind;
    use crate::tls::{
        handshake_pair, poll_until, ClientOptions, ServerOptions, SessionCert, Trust,
    };

    /// Both ends of a socketpair, with TLS between them (and the directory
    /// that holds the certificate, alive as long as they are).
    fn pair() -> (TlsIo, TlsIo, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let cert = SessionCert::create(dir.path()).unwrap();
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let trust = Trust::Verify {
            ca: Some(cert.path().to_path_buf()),
        };
        let options = ClientOptions {
            trust,
            ..ClientOptions::default()
        };
        let mut client = TlsConn::client(&options, None).unwrap();
        let server_options = ServerOptions {
            identity: cert.identity(),
            alpn: Vec::new(),
        };
        let mut server = TlsConn::server(&server_options).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        handshake_pair(&mut client, a.as_fd(), &mut server, b.as_fd(), |blocked| {
            poll_until(blocked, deadline)
        })
        .unwrap();
        let unix = Kind::from_short("unix").unwrap();
        let ends = (
            TlsIo::new(SocketIo::new(a, unix), client),
            TlsIo::new(SocketIo::new(b, unix), server),
        );
        (ends.0, ends.1, dir)
    }

    fn send_all(io: &TlsIo, bytes: &[u8]) {
        assert_eq!(io.send(bytes).unwrap(), bytes.len());
        io.flush().unwrap();
    }

    #[test]
    fn a_look_takes_nothing_and_a_take_takes_exactly_what_it_asks() {
        let (client, server, _dir) = pair();
        send_all(&server, b"one\ntwo\n");
        let view = client.look(64, true).unwrap();
        assert_eq!(&*view.bytes, b"one\ntwo\n");
        assert!(!view.ended);
        drop(view);
        assert_eq!(client.take(4).unwrap(), b"one\n");
        assert!(client.readable_now(), "the rest waits in user space");
        let mut buffer = [0u8; 64];
        let (count, _) = client.receive(&mut buffer, ReceiveMode::default()).unwrap();
        assert_eq!(&buffer[..count], b"two\n");
        assert!(!client.readable_now());
    }

    #[test]
    fn nothing_decrypted_yet_is_eagain() {
        let (client, _server, _dir) = pair();
        let mut buffer = [0u8; 16];
        let error = client
            .receive(&mut buffer, ReceiveMode::default())
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EAGAIN));
    }

    #[test]
    fn finish_sends_close_notify_and_the_peer_sees_a_clean_end() {
        let (client, server, _dir) = pair();
        send_all(&server, b"bye");
        server.finish().unwrap();
        let mut buffer = [0u8; 16];
        let (count, _) = client.receive(&mut buffer, ReceiveMode::default()).unwrap();
        assert_eq!(&buffer[..count], b"bye");
        let (count, _) = client.receive(&mut buffer, ReceiveMode::default()).unwrap();
        assert_eq!(count, 0);
        assert_eq!(client.tls_end(), Some(StreamEnd::CloseNotify));
    }

    #[test]
    fn a_socket_closed_without_close_notify_is_a_truncation() {
        let (client, server, _dir) = pair();
        send_all(&server, b"cut");
        drop(server); // the socket closes; no close_notify was sent
        let mut buffer = [0u8; 16];
        let (count, _) = client.receive(&mut buffer, ReceiveMode::default()).unwrap();
        assert_eq!(&buffer[..count], b"cut");
        let (count, _) = client.receive(&mut buffer, ReceiveMode::default()).unwrap();
        assert_eq!(count, 0);
        assert_eq!(client.tls_end(), Some(StreamEnd::Truncated));
    }
}

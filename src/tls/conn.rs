//! One TLS connection over a non-blocking kernel socket that the caller
//! owns and waits on.
//!
//! The handle layer keeps its socket, its deadlines, its Ctrl-C and its
//! `poll`; a [`TlsConn`] only does the I/O that a step needs and says what
//! it is waiting for ([`Interest`]). Each call takes the socket as a
//! borrowed descriptor, so the connection can live beside the socket in a
//! handle without owning it.
//!
//! Plaintext that arrived but was not yet taken stays in a user-space
//! buffer ([`TlsConn::buffered`]) that a framed receive can search and take
//! from exactly ([`TlsConn::consume`]), the TLS counterpart of `MSG_PEEK`.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use rustls::{ClientConnection, Connection, ServerConnection};
use socket2::{SockRef, Socket};

use super::buffer::ByteQueue;
use super::classify::{classify, could_be_tls, Evidence};
use super::config::{client_setup, server_config, ClientOptions, ServerOptions, SEND_BUFFER_LIMIT};
use super::error::TlsError;
use super::info::{version_name, CertificateInfo, HandshakeInfo};
use super::verify::RecordingVerifier;

/// Room asked for before each `recv`: a bulk transfer reads several
/// 16 KiB records per system call.
const RECV_SIZE: usize = 64 * 1024;

/// Room asked for before taking plaintext out of rustls, which holds at
/// most 16 KiB of it at a time.
const PLAINTEXT_CHUNK: usize = 32 * 1024;

/// How many of the peer's first bytes are kept to tell plain text from TLS.
const FIRST_BYTES: usize = 64;

/// Socket calls one step makes at most before handing back to the caller,
/// so that a peer that never stops sending cannot keep a step from its deadline.
const MAX_CALLS_PER_STEP: usize = 64;

/// What the socket must become ready for before the connection can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

impl Interest {
    /// The poll(2) event to wait for: `POLLIN` or `POLLOUT`.
    pub fn poll_events(self) -> i16 {
        match self {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        }
    }
}

/// How far a handshake or a flush got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Finished: the handshake is complete, or every record is in the kernel.
    Done,
    /// Call again once the socket is ready for this.
    Blocked(Interest),
}

/// How a TLS stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The peer sent `close_notify`: a clean end.
    CloseNotify,
    /// TCP ended without `close_notify`: the data may have been cut short.
    Truncated,
}

/// What [`TlsConn::fill`] added to the plaintext buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This many new plaintext bytes are now [`TlsConn::buffered`].
    Added(usize),
    /// Nothing new yet: wait for the socket to be readable.
    Blocked,
    /// Nothing new, and nothing more will come.
    Ended(StreamEnd),
}

/// What [`TlsConn::read`] did, the TLS counterpart of one `recv()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// This many bytes were copied into the buffer.
    Bytes(usize),
    /// Nothing yet: wait for the socket to be readable.
    Blocked,
    /// The stream ended, and all that came before was read.
    Ended(StreamEnd),
}

/// A TLS client or server connection on a socket owned by someone else.
pub struct TlsConn {
    conn: Connection,
    /// Ciphertext read from the kernel, not yet taken by rustls.
    incoming: ByteQueue,
    /// Plaintext decrypted, not yet consumed.
    plaintext: ByteQueue,
    /// Set once the stream ended; reads report it when `plaintext` is empty.
    end: Option<StreamEnd>,
    /// The peer's first bytes, to tell a plain-text peer from a TLS one.
    first_bytes: Vec<u8>,
    /// Client side: the verifier, which recorded the server's certificate.
    verifier: Option<Arc<RecordingVerifier>>,
    /// Client side: the name verified, for messages and [`HandshakeInfo`].
    expected_name: Option<String>,
    sent_close_notify: bool,
}

impl TlsConn {
    /// A client for a socket connected to `peer` (`None`: not an IP
    /// socket). Nothing is sent until the first [`TlsConn::handshake_step`].
    pub fn client(options: &ClientOptions, peer: Option<IpAddr>) -> Result<Self, TlsError> {
        let setup = client_setup(options, peer)?;
        let expected_name = setup.name.to_str().into_owned();
        let conn = ClientConnection::new(setup.config, setup.name)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        let mut tls = Self::over(conn.into());
        tls.verifier = Some(setup.verifier);
        tls.expected_name = Some(expected_name);
        Ok(tls)
    }

    /// A server for an accepted socket; it waits for the ClientHello.
    pub fn server(options: &ServerOptions) -> Result<Self, TlsError> {
        let conn = ServerConnection::new(server_config(options)?)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        Ok(Self::over(conn.into()))
    }

    fn over(mut conn: Connection) -> Self {
        conn.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
        TlsConn {
            conn,
            incoming: ByteQueue::default(),
            plaintext: ByteQueue::default(),
            end: None,
            first_bytes: Vec::new(),
            verifier: None,
            expected_name: None,
            sent_close_notify: false,
        }
    }

    pub fn is_client(&self) -> bool {
        matches!(self.conn, Connection::Client(_))
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Advances the handshake as far as the socket allows without blocking.
    pub fn handshake_step(&mut self, fd: BorrowedFd<'_>) -> Result<Step, TlsError> {
        for _ in 0..MAX_CALLS_PER_STEP {
            if self.flush(fd)? != Step::Done {
                return Ok(Step::Blocked(Interest::Write));
            }
            if !self.conn.is_handshaking() {
                return Ok(Step::Done);
            }
            match self.receive(fd)? {
                Got::Bytes => continue,
                Got::Blocked => {
                    self.refuse_plain_text()?;
                    return Ok(Step::Blocked(Interest::Read));
                }
                Got::Eof => return Err(self.closed_during_handshake()),
            }
        }
        Ok(Step::Blocked(Interest::Read))
    }

    /// Runs the handshake to its end; `wait` returns once the socket is
    /// ready for the interest given, or fails (at the caller's deadline).
    pub fn handshake<E: From<TlsError>>(
        &mut self,
        fd: BorrowedFd<'_>,
        mut wait: impl FnMut(Interest) -> Result<(), E>,
    ) -> Result<HandshakeInfo, E> {
        loop {
            match self.handshake_step(fd)? {
                Step::Done => return Ok(self.info().expect("the handshake is complete")),
                Step::Blocked(interest) => wait(interest)?,
            }
        }
    }

    /// Version, cipher suite, ALPN and peer certificate, once the handshake is complete.
    pub fn info(&self) -> Option<HandshakeInfo> {
        if self.conn.is_handshaking() {
            return None;
        }
        let suite = self.conn.negotiated_cipher_suite()?.suite();
        Some(HandshakeInfo {
            version: version_name(self.conn.protocol_version()?),
            cipher_suite: suite
                .as_str()
                .map_or_else(|| format!("{suite:?}"), str::to_string),
            key_exchange: self
                .conn
                .negotiated_key_exchange_group()
                .map(|group| format!("{:?}", group.name())),
            alpn: self
                .conn
                .alpn_protocol()
                .map(|alpn| String::from_utf8_lossy(alpn).into_owned()),
            server_name: self.server_name(),
            peer_certificate: self
                .conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| CertificateInfo::from_der(cert).ok()),
        })
    }

    fn server_name(&self) -> Option<String> {
        match &self.conn {
            Connection::Client(_) => self.expected_name.clone(),
            Connection::Server(server) => server.server_name().map(str::to_string),
        }
    }

    /// Plaintext that arrived and was not consumed yet, oldest first.
    pub fn buffered(&self) -> &[u8] {
        self.plaintext.data()
    }

    /// Takes `count` bytes from the front of [`TlsConn::buffered`].
    pub fn consume(&mut self, count: usize) {
        self.plaintext.consume(count);
    }

    /// Whether a receive would return at once without the kernel: plaintext
    /// is buffered, or the end of the stream was seen. `poll` shows
    /// `POLLIN` for the handle when this holds.
    pub fn readable_without_kernel(&self) -> bool {
        !self.plaintext.is_empty() || self.end.is_some()
    }

    /// How the stream ended, once it has (buffered bytes may remain).
    pub fn end(&self) -> Option<StreamEnd> {
        self.end
    }

    /// Reads and decrypts what the socket has, without blocking, and adds
    /// the plaintext to [`TlsConn::buffered`].
    pub fn fill(&mut self, fd: BorrowedFd<'_>) -> Result<Fill, TlsError> {
        if self.conn.is_handshaking() {
            return Err(TlsError::Protocol("the handshake has not finished".into()));
        }
        let before = self.plaintext.len();
        if self.end.is_none() {
            self.process(fd)?;
            if self.plaintext.len() == before && self.end.is_none() {
                self.receive(fd)?;
            }
            // A key update or an alert rustls queued while reading.
            self.flush(fd)?;
        }
        let added = self.plaintext.len() - before;
        Ok(match (added, self.end) {
            (0, Some(end)) => Fill::Ended(end),
            (0, None) => Fill::Blocked,
            (added, _) => Fill::Added(added),
        })
    }

    /// Like [`TlsConn::fill`], but waits until something was added or the stream ended.
    pub fn fill_wait<E: From<TlsError>>(
        &mut self,
        fd: BorrowedFd<'_>,
        mut wait: impl FnMut(Interest) -> Result<(), E>,
    ) -> Result<Fill, E> {
        loop {
            match self.fill(fd)? {
                Fill::Blocked => wait(Interest::Read)?,
                done => return Ok(done),
            }
        }
    }

    /// One receive: buffered plaintext first, else what the socket has.
    pub fn read(&mut self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Received, TlsError> {
        if self.plaintext.is_empty() {
            match self.fill(fd)? {
                Fill::Blocked => return Ok(Received::Blocked),
                Fill::Ended(end) => return Ok(Received::Ended(end)),
                Fill::Added(_) => {}
            }
        }
        let count = buf.len().min(self.plaintext.len());
        buf[..count].copy_from_slice(&self.plaintext.data()[..count]);
        self.plaintext.consume(count);
        Ok(Received::Bytes(count))
    }

    /// Encrypts as much of `data` as the send buffer takes and writes
    /// records to the socket until it would block. Returns the plaintext
    /// bytes taken: 0 means the buffer is full, so wait for `POLLOUT`.
    /// Records may stay queued; [`TlsConn::wants_write`] says so.
    pub fn write(&mut self, fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, TlsError> {
        self.flush(fd)?;
        let taken = self.conn.writer().write(data)?;
        self.flush(fd)?;
        Ok(taken)
    }

    /// Writes all of `data` and flushes it into the kernel, waiting as needed.
    pub fn write_all<E: From<TlsError>>(
        &mut self,
        fd: BorrowedFd<'_>,
        mut data: &[u8],
        mut wait: impl FnMut(Interest) -> Result<(), E>,
    ) -> Result<(), E> {
        while !data.is_empty() {
            match self.write(fd, data)? {
                0 => wait(Interest::Write)?,
                taken => data = &data[taken..],
            }
        }
        self.flush_wait(fd, wait)
    }

    /// Whether encrypted records wait to be written to the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes queued records until done or the socket would block.
    pub fn flush(&mut self, fd: BorrowedFd<'_>) -> Result<Step, TlsError> {
        let socket = SockRef::from(&fd);
        let mut out: &Socket = &socket;
        for _ in 0..MAX_CALLS_PER_STEP {
            if !self.conn.wants_write() {
                return Ok(Step::Done);
            }
            match self.conn.write_tls(&mut out) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(TlsError::Io(e)),
            }
        }
        Ok(match self.conn.wants_write() {
            true => Step::Blocked(Interest::Write),
            false => Step::Done,
        })
    }

    /// Flushes, waiting as needed.
    pub fn flush_wait<E: From<TlsError>>(
        &mut self,
        fd: BorrowedFd<'_>,
        mut wait: impl FnMut(Interest) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Step::Blocked(interest) = self.flush(fd)? {
            wait(interest)?;
        }
        Ok(())
    }

    /// Queues `close_notify` (once) and flushes; `Blocked(Write)` means
    /// call [`TlsConn::flush`] again before closing the socket.
    pub fn close_notify(&mut self, fd: BorrowedFd<'_>) -> Result<Step, TlsError> {
        if !self.sent_close_notify {
            self.conn.send_close_notify();
            self.sent_close_notify = true;
        }
        self.flush(fd)
    }

    /// One `recv` into the ciphertext buffer, then whatever rustls makes of it.
    fn receive(&mut self, fd: BorrowedFd<'_>) -> Result<Got, TlsError> {
        let socket = SockRef::from(&fd);
        let mut input: &Socket = &socket;
        let count = match input.read(self.incoming.spare(RECV_SIZE)) {
            Ok(count) => count,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Got::Blocked),
            Err(e) => return Err(TlsError::Io(e)),
        };
        self.incoming.commit(count);
        self.keep_first_bytes(count);
        self.process(fd)?;
        if count > 0 {
            return Ok(Got::Bytes);
        }
        // The kernel's end of stream: rustls learns it from a read of 0,
        // and its reader then tells a clean end from a truncation.
        self.conn.read_tls(&mut io::empty())?;
        self.process(fd)?;
        Ok(Got::Eof)
    }

    /// Feeds the buffered ciphertext to rustls, and takes out the plaintext.
    fn process(&mut self, fd: BorrowedFd<'_>) -> Result<(), TlsError> {
        loop {
            let taken = match self.incoming.is_empty() {
                true => 0,
                false => self.conn.read_tls(&mut self.incoming.data())?,
            };
            self.incoming.consume(taken);
            if let Err(error) = self.conn.process_new_packets() {
                return Err(self.fail(fd, error));
            }
            self.take_plaintext()?;
            if taken == 0 || self.incoming.is_empty() {
                return Ok(());
            }
        }
    }

    /// Moves what rustls decrypted into [`TlsConn::buffered`], and notes
    /// the end of the stream when rustls reports it.
    fn take_plaintext(&mut self) -> Result<(), TlsError> {
        loop {
            match self
                .conn
                .reader()
                .read(self.plaintext.spare(PLAINTEXT_CHUNK))
            {
                Ok(0) => {
                    self.end = Some(StreamEnd::CloseNotify);
                    return Ok(());
                }
                Ok(count) => self.plaintext.commit(count),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.end = Some(StreamEnd::Truncated);
                    return Ok(());
                }
                Err(e) => return Err(TlsError::Io(e)),
            }
        }
    }

    /// Sends the alert rustls queued for the peer (best effort: the
    /// connection is failing anyway), then names the failure.
    fn fail(&mut self, fd: BorrowedFd<'_>, error: rustls::Error) -> TlsError {
        let _ = self.flush(fd);
        classify(error, self.evidence())
    }

    fn evidence(&self) -> Evidence<'_> {
        Evidence {
            first_bytes: &self.first_bytes,
            certificate: self.verifier.as_ref().and_then(|v| v.seen()),
            expected_name: self.expected_name.as_deref(),
        }
    }

    /// Keeps the start of what the peer sent while the handshake runs;
    /// `count` bytes were just queued.
    fn keep_first_bytes(&mut self, count: usize) {
        let room = FIRST_BYTES - self.first_bytes.len();
        if self.conn.is_handshaking() && room > 0 {
            let queued = self.incoming.data();
            let new = &queued[queued.len() - count..];
            self.first_bytes.extend_from_slice(&new[..count.min(room)]);
        }
    }

    /// A peer whose first bytes cannot start a TLS record is answering in
    /// plain text; waiting for more of it would only time out.
    fn refuse_plain_text(&self) -> Result<(), TlsError> {
        match could_be_tls(&self.first_bytes) {
            true => Ok(()),
            false => Err(TlsError::NotTls {
                sent: self.first_bytes.clone(),
            }),
        }
    }

    fn closed_during_handshake(&self) -> TlsError {
        self.refuse_plain_text()
            .err()
            .unwrap_or(TlsError::ClosedDuringHandshake)
    }
}

/// What one `recv` brought.
enum Got {
    Bytes,
    Blocked,
    Eof,
}

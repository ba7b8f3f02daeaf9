//! What a command did, as data: the interpreter renders it (`render.rs`),
//! the shell can react to it, and `fails` can describe an unexpected success.

use nix::errno::Errno;
use socket2::SockAddr;
use std::path::PathBuf;

use crate::errors::Failure;
use crate::kind::Kind;
use crate::netstat::SocketRow;
use crate::tls::{HandshakeInfo, StreamEnd};

/// An address with the kind of socket it belongs to, so that TCP port
/// 5000 and UDP port 5000 get their own `--stable` placeholders.
///
/// The address is boxed: a `SockAddr` is 132 bytes, and every outcome,
/// most of them a count, would otherwise be moved at that size.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: Box<SockAddr>,
    pub kind: Kind,
    /// The connection it was seen on (local address, peer), which says
    /// whose port it is when two handles got the same one.
    pub seen_on: Option<Box<(SockAddr, Option<SockAddr>)>>,
}

impl Endpoint {
    pub fn new(addr: SockAddr, kind: Kind) -> Self {
        Endpoint {
            addr: Box::new(addr),
            kind,
            seen_on: None,
        }
    }

    /// An address of the connection (`local`, `peer`), or one seen on it.
    pub fn on(addr: SockAddr, kind: Kind, local: SockAddr, peer: Option<SockAddr>) -> Self {
        Endpoint {
            addr: Box::new(addr),
            kind,
            seen_on: Some(Box::new((local, peer))),
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// Nothing worth a line (`sleep`).
    Nothing,
    /// A plain line of text (`print`, `help`, option values...).
    Text(String),
    Created {
        handle: String,
    },
    Pair {
        first: String,
        second: String,
    },
    Bound(Endpoint),
    Listening {
        local: Endpoint,
        backlog: i32,
    },
    Connected {
        local: Endpoint,
        peer: Endpoint,
    },
    /// `connect_ex`: `None` for 0.
    ConnectResult(Option<Errno>),
    Accepted {
        handle: String,
        peer: Endpoint,
    },
    /// `spawn`: the program as the script wrote it, and its process id
    /// (`<NAME.pid>` under `--stable`).
    Spawned {
        handle: String,
        command: String,
        pid: u32,
    },
    Sent {
        sent: u64,
        of: u64,
        /// A captured value is part of the data: under `--stable` the
        /// counts are `<N>`, the same whatever bytes it held.
        captured: bool,
    },
    SentTo {
        sent: u64,
        to: Endpoint,
        captured: bool,
    },
    Received(Received),
    Saved {
        count: u64,
        path: PathBuf,
        /// How a TLS stream ended (`None`: not TLS).
        tls_end: Option<StreamEnd>,
    },
    Closed {
        removed: Option<PathBuf>,
    },
    Address(Endpoint),
    Polled(Vec<(String, i16)>),
    /// `sockets`: every handle in the order made, then the kernel's rows
    /// that `--all` adds.
    Table(Vec<TableRow>),
    Expected {
        count: u64,
        /// A captured value was part of what was expected.
        captured: bool,
    },
    /// `expect --re`: the match, and the named groups it stored.
    Matched {
        count: u64,
        /// Every match of the pattern has this length: shown even under
        /// `--stable`.
        fixed_length: bool,
        groups: Vec<String>,
    },
    /// `let`: the variable and its value.
    Assigned {
        name: String,
        bytes: Vec<u8>,
        /// Made from a captured value: `<NAME>` under `--stable`.
        captured: bool,
    },
    EndOfStreamExpected,
    /// `expect_eof` on a TLS handle: the peer sent `close_notify`.
    CloseNotifyExpected,
    /// `tls`: the handshake done.
    Tls(Box<TlsDone>),
    FailedAsExpected(Failure),
    /// `require` found something missing: the rest of the script is skipped.
    Skip(String),
    Exit(i32),
}

/// What one receive brought, in the four ways the spec tells apart (the
/// fourth, a timeout, is a [`Failure`]).
#[derive(Debug)]
pub struct Received {
    pub what: ReceiveKind,
    pub from: Option<Endpoint>,
    pub hex: bool,
    /// `--as NAME`: the bytes were captured, shown as `<NAME>` under `--stable`.
    pub captured_as: Option<String>,
}

#[derive(Debug)]
pub enum ReceiveKind {
    Bytes {
        bytes: Vec<u8>,
        /// The datagram's real size when it did not fit in MAX.
        truncated_from: Option<usize>,
    },
    /// `recvall`: everything up to the end of the stream.
    All(Vec<u8>),
    /// `recvall` on a TLS handle: everything, and how the stream ended.
    AllTls(Vec<u8>, StreamEnd),
    EndOfStream,
    /// The end of a TLS stream: `close_notify`, or a truncation.
    TlsEnd(StreamEnd),
    EmptyDatagram,
}

/// What `tls` did: which side this handle took, and the handshake as that
/// side saw it.
#[derive(Debug)]
pub struct TlsDone {
    pub handle: String,
    pub side: TlsSide,
    pub info: HandshakeInfo,
}

#[derive(Debug)]
pub enum TlsSide {
    /// The client: the certificate shown is the server's, verified for
    /// `verified_for` (`None`: `--insecure`, not verified).
    Client { verified_for: Option<String> },
    /// The server, presenting this certificate.
    Server {
        presented: crate::tls::CertificateInfo,
    },
    /// `--with PEER`: this handle the client, PEER the server presenting
    /// the session's certificate, verified for `verified_for`.
    Pair { peer: String, verified_for: String },
}

/// One line of the `sockets` table.
#[derive(Debug)]
pub enum TableRow {
    /// Boxed: a socket's row (two addresses) is much larger than a program's.
    Socket(Box<SocketRow>),
    Program(ProgramRow),
}

/// A program handle in the `sockets` table: `prog`, the unread output and
/// the input it has not read, its pid and what runs, and its state.
#[derive(Debug)]
pub struct ProgramRow {
    pub name: String,
    pub recv_q: u64,
    pub send_q: u64,
    pub pid: u32,
    pub program: String,
    /// `running`, `exited 3`, `killed SIGTERM`.
    pub state: String,
}

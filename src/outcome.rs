//! What a command did, as data: the interpreter renders it (`render.rs`),
//! the shell can react to it, and `fails` can describe an unexpected success.

use nix::errno::Errno;
use socket2::SockAddr;
use std::path::PathBuf;

use crate::errors::Failure;
use crate::netstat::SocketRow;

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
    Bound(SockAddr),
    Listening {
        local: SockAddr,
        backlog: i32,
    },
    Connected {
        local: SockAddr,
        peer: SockAddr,
    },
    /// `connect_ex`: `None` for 0.
    ConnectResult(Option<Errno>),
    Accepted {
        handle: String,
        peer: SockAddr,
    },
    Sent {
        sent: u64,
        of: u64,
    },
    SentTo {
        sent: u64,
        to: SockAddr,
    },
    Received(Received),
    Saved {
        count: u64,
        path: PathBuf,
    },
    Closed {
        removed: Option<PathBuf>,
    },
    Address(SockAddr),
    Polled(Vec<(String, i16)>),
    Table(Vec<SocketRow>),
    Expected {
        count: u64,
    },
    EndOfStreamExpected,
    FailedAsExpected(Failure),
    Available(String),
    /// `require` found something missing: the rest of the script is skipped.
    Skip(String),
    Exit(i32),
}

/// What one receive brought, in the four ways the spec tells apart (the
/// fourth, a timeout, is a [`Failure`]).
#[derive(Debug)]
pub struct Received {
    pub what: ReceiveKind,
    pub from: Option<SockAddr>,
    pub hex: bool,
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
    EndOfStream,
    EmptyDatagram,
}

//! `tls NAME --with PEER`: both ends of one connection belong to this
//! session, so one thread runs both handshakes, stepping each side in turn.
//!
//! Every byte still goes through the two kernel sockets (a packet trace
//! shows the real records); the alternation only replaces the second
//! thread or process a real client and server would have.

use std::fmt;
use std::os::fd::BorrowedFd;

use super::conn::{Interest, Step, TlsConn};
use super::error::TlsError;
use super::info::HandshakeInfo;

/// Each side's view of the finished handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairInfo {
    pub client: HandshakeInfo,
    pub server: HandshakeInfo,
}

/// Which side failed, or the caller's wait (its deadline, Ctrl-C).
#[derive(Debug)]
pub enum PairFailure<E> {
    Client(TlsError),
    Server(TlsError),
    Wait(E),
}

impl<E: fmt::Display> fmt::Display for PairFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairFailure::Client(error) => write!(f, "client: {error}"),
            PairFailure::Server(error) => write!(f, "server: {error}"),
            PairFailure::Wait(error) => write!(f, "{error}"),
        }
    }
}

/// Runs the handshake between `client` on `client_fd` and `server` on
/// `server_fd` (the two ends of one TCP connection). `wait` is called with
/// the sockets that are blocked and returns once one of them is ready;
/// its failure (a deadline) ends the handshake.
pub fn handshake_pair<E>(
    client: &mut TlsConn,
    client_fd: BorrowedFd<'_>,
    server: &mut TlsConn,
    server_fd: BorrowedFd<'_>,
    mut wait: impl FnMut(&[(BorrowedFd<'_>, Interest)]) -> Result<(), E>,
) -> Result<PairInfo, PairFailure<E>> {
    loop {
        let client_step = client
            .handshake_step(client_fd)
            .map_err(PairFailure::Client)?;
        let server_step = server
            .handshake_step(server_fd)
            .map_err(PairFailure::Server)?;
        let blocked: Vec<(BorrowedFd<'_>, Interest)> =
            [(client_fd, client_step), (server_fd, server_step)]
                .into_iter()
                .filter_map(|(fd, step)| match step {
                    Step::Blocked(interest) => Some((fd, interest)),
                    Step::Done => None,
                })
                .collect();
        if blocked.is_empty() {
            return Ok(PairInfo {
                client: client.info().expect("the client's handshake is complete"),
                server: server.info().expect("the server's handshake is complete"),
            });
        }
        wait(&blocked).map_err(PairFailure::Wait)?;
    }
}

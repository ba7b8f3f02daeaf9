//! What the session's closed sockets leave behind in the kernel.
//!
//! After `close`, a TCP connection lives on without a handle: its FIN
//! exchange finishes, then the side that closed first waits in TIME_WAIT.
//! `sockets --all` lists those kernel sockets and `trace` still shows their
//! packets, so both need to know which addresses the session once held,
//! and with which peer. A connection's peer is noted when it is made
//! (`connect`, `accept`): once it has ended, the kernel no longer tells.

use rustc_hash::FxHashMap;
use socket2::SockAddr;
use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::capture::unmapped;
use crate::handle::Handle;
use crate::kind::{Family, SockType};

/// The most closed sockets remembered: a long script forgets the oldest,
/// whose TIME_WAIT (60 s) is long over.
const KEPT: usize = 512;

/// An internet socket the script closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// A stream socket (TCP), else a datagram one.
    pub stream: bool,
    /// Its local address, IPv4-mapped addresses written as IPv4.
    pub local: SocketAddr,
    /// Its peer when it was closed, if it had one.
    pub peer: Option<SocketAddr>,
}

/// The closed sockets, oldest first, and the peers of the live ones.
#[derive(Debug, Default)]
pub struct History {
    closed: VecDeque<Closed>,
    /// The peer each live TCP handle connected to or accepted, by serial:
    /// the kernel forgets it when the connection ends, while the handle,
    /// and the connection's TIME_WAIT, are still there.
    peers: FxHashMap<u64, SocketAddr>,
}

impl History {
    /// Remembers the peer of the TCP handle with this serial.
    pub fn note_peer(&mut self, serial: u64, peer: &SockAddr) {
        if let Some(peer) = peer.as_socket() {
            self.peers.insert(serial, unmapped(peer));
        }
    }

    /// The peer the TCP handle with this serial last had.
    pub fn peer_of(&self, serial: u64) -> Option<SocketAddr> {
        self.peers.get(&serial).copied()
    }

    /// Remembers `handle`'s addresses as it is closed (internet sockets
    /// with a port only: nothing of a Unix socket outlives its close).
    pub fn note_closed(&mut self, handle: &Handle) {
        let remembered = self.peers.remove(&handle.serial);
        let Some(kind) = handle.kind() else {
            return;
        };
        let inet = matches!(kind.family, Family::Inet | Family::Inet6);
        let ported = matches!(kind.socktype, SockType::Stream | SockType::Dgram);
        if !inet || !ported || kind.ignores_ports() {
            return;
        }
        let Some(local) = handle.local_addr().and_then(|a| a.as_socket()) else {
            return;
        };
        if local.port() == 0 {
            return;
        }
        self.remember(Closed {
            stream: kind.socktype == SockType::Stream,
            local: unmapped(local),
            peer: handle
                .peer_addr()
                .and_then(|a| a.as_socket())
                .map(unmapped)
                .or(remembered),
        });
    }

    /// Adds a closed socket, forgetting the oldest past [`KEPT`].
    pub fn remember(&mut self, closed: Closed) {
        if self.closed.len() == KEPT {
            self.closed.pop_front();
        }
        self.closed.push_back(closed);
    }

    /// The closed sockets, newest first.
    pub fn closed(&self) -> impl Iterator<Item = &Closed> {
        self.closed.iter().rev()
    }

    /// Whether a kernel TCP socket from `local` to `remote` is what one of
    /// the closed TCP sockets left behind. Only a connection outlives its
    /// socket: a socket closed unconnected leaves nothing, and its port may
    /// be another program's by now.
    pub fn left_behind(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        let (local, remote) = (unmapped(local), unmapped(remote));
        self.closed
            .iter()
            .any(|closed| closed.stream && closed.local == local && closed.peer == Some(remote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::{Handle, SocketIo};
    use crate::kind::Kind;
    use std::net::{TcpListener, TcpStream};

    fn handle(socket: socket2::Socket, kind: &str) -> Handle {
        let kind = Kind::from_short(kind).unwrap();
        Handle::new("h".into(), Box::new(SocketIo::new(socket, kind)), 1)
    }

    #[test]
    fn a_closed_connection_is_remembered_with_its_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (local, peer) = (stream.local_addr().unwrap(), stream.peer_addr().unwrap());
        let mut history = History::default();
        history.note_closed(&handle(stream.into(), "tcp"));
        assert_eq!(
            history.closed().next(),
            Some(&Closed {
                stream: true,
                local,
                peer: Some(peer)
            })
        );
        assert!(history.left_behind(local, peer));
        let elsewhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(!history.left_behind(local, elsewhere));
        history.remember(Closed {
            stream: true,
            local: elsewhere,
            peer: None,
        });
        assert!(
            !history.left_behind(elsewhere, local),
            "an unconnected socket leaves nothing behind"
        );
    }

    #[test]
    fn a_peer_noted_at_connect_outlives_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let stream = TcpStream::connect(server).unwrap();
        let local = stream.local_addr().unwrap();
        let mut history = History::default();
        history.note_peer(1, &server.into());
        // The peer resets the connection: the kernel forgets the peer.
        let (accepted, _) = listener.accept().unwrap();
        socket2::SockRef::from(&accepted)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(accepted);
        let handle = handle(stream.into(), "tcp");
        for _ in 0..1000 {
            if handle.peer_addr().is_none() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(handle.peer_addr().map(|a| a.as_socket()), None);
        history.note_closed(&handle);
        assert!(history.left_behind(local, server));
        assert_eq!(history.peer_of(1), None, "forgotten with the handle");
    }

    #[test]
    fn unbound_and_unix_sockets_leave_nothing() {
        let mut history = History::default();
        let unbound = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None);
        history.note_closed(&handle(unbound.unwrap(), "tcp"));
        let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
        history.note_closed(&handle(unix.into(), "unix"));
        assert_eq!(history.closed().count(), 0);
    }
}

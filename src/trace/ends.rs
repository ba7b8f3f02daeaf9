//! Who holds each end of a packet: the session's internet sockets as the
//! trace sees them, so `cli > srv` names handles, not addresses.
//!
//! A packet is named by the handles that held its ends when it passed. The
//! trace reads the table after a command that may change it (one that
//! binds, connects, accepts or closes) and keeps the table from before the
//! command too: packets of `close conn` are still `conn`'s, while those of
//! `connect cli` name `cli` by the port the connect gave it. The old table
//! is searched first, so a connection is its listener's until the `accept`
//! that gives it a handle of its own has returned.

use rustc_hash::FxHashSet;
use std::net::SocketAddr;

use crate::capture::unmapped;
use crate::handle::Handle;
use crate::kind::{Family, SockType};
use crate::session::Session;

/// Which numbering an end's port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Tcp,
    Udp,
    /// A ping socket, whose "port" is its echo identifier.
    Icmp,
}

/// One handle's socket, as far as packets can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct End {
    serial: u64,
    name: String,
    space: Space,
    /// A raw ICMP socket: it has no port (nor echo identifier) of its own,
    /// and every ICMP packet of its address is its (it sends what the
    /// script wrote and receives a copy of every ICMP packet that arrives).
    raw: bool,
    /// IPv4-mapped addresses written as IPv4, as the packets carry them.
    local: SocketAddr,
    /// Kept after a reset or a close took it from the kernel: the handle
    /// still holds that end of that connection.
    peer: Option<SocketAddr>,
}

/// The table before the current command and, when it changed, after it.
#[derive(Debug, Default)]
pub struct Ends {
    before: Vec<End>,
    after: Option<Vec<End>>,
    /// TCP connections whose handle was closed (ends in a fixed order):
    /// no listener's any more, until a new SYN opens the same addresses.
    closed: FxHashSet<(SocketAddr, SocketAddr)>,
}

impl Ends {
    /// The table as the session holds it now, and the connections it
    /// closed before.
    pub fn read(session: &Session) -> Ends {
        let closed = session
            .history
            .closed()
            .filter(|closed| closed.stream)
            .filter_map(|closed| Some(pair(closed.local, closed.peer?)))
            .collect();
        Ends {
            before: read_table(session, &[]),
            after: None,
            closed,
        }
    }

    /// Reads the table again after a command that may have changed it.
    pub fn refresh(&mut self, session: &Session) {
        let fresh = read_table(session, &self.before);
        for old in &self.before {
            let still_there = fresh.iter().any(|new| new.serial == old.serial);
            if let (Space::Tcp, Some(peer), false) = (old.space, old.peer, still_there) {
                self.closed.insert(pair(old.local, peer));
            }
        }
        self.after = (fresh != self.before).then_some(fresh);
    }

    /// A SYN between `a` and `b`: a new connection, whoever held the old one.
    pub fn reopened(&mut self, a: SocketAddr, b: SocketAddr) {
        self.closed.remove(&pair(a, b));
    }

    /// The command's packets are shown: from now on its table is the one
    /// packets are named by.
    pub fn commit(&mut self) {
        if let Some(after) = self.after.take() {
            self.before = after;
        }
    }

    /// The handle holding `end` of a packet whose other end is `other`.
    /// A TCP connection whose handle was closed is no listener's any more:
    /// no handle holds that end.
    pub fn name(&self, end: SocketAddr, other: SocketAddr, space: Space) -> Option<&str> {
        let tables = std::iter::once(&self.before[..]).chain(self.after.as_deref());
        for table in tables {
            if let Some(found) = connection(table, end, other, space) {
                return Some(&found.name);
            }
            if space == Space::Tcp && self.closed.contains(&pair(end, other)) {
                return None;
            }
            if let Some(found) = unconnected(table, end, space) {
                return Some(&found.name);
            }
        }
        None
    }

    /// The local TCP and UDP ports of the handles, in both tables.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.before
            .iter()
            .chain(self.after.iter().flatten())
            .filter(|end| end.space != Space::Icmp)
            .map(|end| end.local.port())
    }
}

/// Two ends in a fixed order, the same from either side.
pub fn pair(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    (a.min(b), a.max(b))
}

/// The handle of the connection itself; for a raw socket connected to a
/// peer, the addresses without ports.
fn connection(table: &[End], end: SocketAddr, other: SocketAddr, space: Space) -> Option<&End> {
    let exact = |e: &&End| !e.raw && e.local == end && e.peer == Some(other);
    let raw = |e: &&End| {
        e.raw && e.local.ip() == end.ip() && e.peer.is_some_and(|p| p.ip() == other.ip())
    };
    let of_space = || table.iter().filter(move |e| e.space == space);
    of_space().find(exact).or_else(|| of_space().find(raw))
}

/// An unconnected socket bound there: a listener, whose connections are
/// its own until accepted, or a UDP, ping or bound-only TCP socket; else
/// a raw ICMP socket bound to the address (or to none), whatever the
/// packet's echo identifier, so a ping socket's own packets stay its own.
fn unconnected(table: &[End], end: SocketAddr, space: Space) -> Option<&End> {
    let free = || {
        table
            .iter()
            .filter(move |e| e.space == space && e.peer.is_none())
    };
    free()
        .find(|e| !e.raw && covers(e.local, end))
        .or_else(|| free().find(|e| e.raw && covers_ip(e.local, end)))
}

/// Whether a socket bound to `local` receives at `end` (a wildcard address
/// covers every address of the port).
fn covers(local: SocketAddr, end: SocketAddr) -> bool {
    local.port() == end.port() && covers_ip(local, end)
}

/// Whether a socket bound to `local` receives at `end`'s address, whatever
/// the port.
fn covers_ip(local: SocketAddr, end: SocketAddr) -> bool {
    local.ip() == end.ip() || local.ip().is_unspecified()
}

/// Every internet socket with a port, in the order the handles were made;
/// a peer the kernel no longer reports is taken from `previous`.
fn read_table(session: &Session, previous: &[End]) -> Vec<End> {
    session
        .handles()
        .into_iter()
        .filter_map(|handle| {
            let mut end = read_end(handle)?;
            if end.peer.is_none() {
                end.peer = previous
                    .iter()
                    .find(|old| old.serial == end.serial && old.local == end.local)
                    .and_then(|old| old.peer);
            }
            Some(end)
        })
        .collect()
}

fn read_end(handle: &Handle) -> Option<End> {
    let kind = handle.kind()?;
    if !matches!(kind.family, Family::Inet | Family::Inet6) {
        return None;
    }
    let icmp = [libc::IPPROTO_ICMP, libc::IPPROTO_ICMPV6].contains(&kind.protocol);
    let space = match kind.socktype {
        SockType::Stream => Space::Tcp,
        SockType::Dgram if kind.ignores_ports() => Space::Icmp,
        SockType::Dgram => Space::Udp,
        // A raw ICMP socket holds the ICMP packets of its address.
        SockType::Raw if icmp => Space::Icmp,
        // Another raw socket's packets are not parsed (nor captured).
        SockType::Raw | SockType::SeqPacket => return None,
    };
    let raw = kind.socktype == SockType::Raw;
    let local = unmapped(handle.local_addr()?.as_socket()?);
    if local.port() == 0 && !raw {
        return None;
    }
    Some(End {
        serial: handle.serial,
        name: handle.name.clone(),
        space,
        raw,
        local,
        peer: handle.peer_addr().and_then(|a| a.as_socket()).map(unmapped),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(name: &str, space: Space, local: &str, peer: Option<&str>) -> End {
        End {
            serial: 0,
            name: name.into(),
            space,
            raw: false,
            local: local.parse().unwrap(),
            peer: peer.map(|p| p.parse().unwrap()),
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A listener on 5000, a connection accepted from 40000 and a UDP
    /// socket on the same port number.
    fn table() -> Vec<End> {
        vec![
            end("srv", Space::Tcp, "0.0.0.0:5000", None),
            end(
                "conn",
                Space::Tcp,
                "127.0.0.1:5000",
                Some("127.0.0.1:40000"),
            ),
            end("cli", Space::Tcp, "127.0.0.1:40000", Some("127.0.0.1:5000")),
            end("u", Space::Udp, "127.0.0.1:5000", None),
        ]
    }

    fn named(ends: &Ends, end: &str, other: &str, space: Space) -> Option<String> {
        ends.name(addr(end), addr(other), space).map(String::from)
    }

    fn ends(before: Vec<End>, after: Option<Vec<End>>) -> Ends {
        Ends {
            before,
            after,
            closed: FxHashSet::default(),
        }
    }

    #[test]
    fn a_connection_is_its_handle_s_and_others_on_the_port_the_listener_s() {
        let ends = ends(table(), None);
        let name = |end, other, space| named(&ends, end, other, space);
        assert_eq!(
            name("127.0.0.1:5000", "127.0.0.1:40000", Space::Tcp).as_deref(),
            Some("conn")
        );
        assert_eq!(
            name("127.0.0.1:40000", "127.0.0.1:5000", Space::Tcp).as_deref(),
            Some("cli")
        );
        assert_eq!(
            name("127.0.0.1:5000", "127.0.0.1:40001", Space::Tcp).as_deref(),
            Some("srv")
        );
        assert_eq!(
            name("127.0.0.1:5000", "127.0.0.1:9", Space::Udp).as_deref(),
            Some("u")
        );
        assert_eq!(name("127.0.0.1:40001", "127.0.0.1:5000", Space::Tcp), None);
        assert_eq!(name("127.0.0.1:5000", "127.0.0.1:9", Space::Icmp), None);
    }

    #[test]
    fn a_raw_icmp_socket_holds_every_icmp_end_of_its_address_after_ping_sockets() {
        let raw = |name: &str, local: &str| End {
            raw: true,
            ..end(name, Space::Icmp, local, None)
        };
        let all = ends(
            vec![
                raw("r", "0.0.0.0:1"),
                end("ping", Space::Icmp, "127.0.0.1:7", None),
                raw("only12", "127.0.0.12:1"),
            ],
            None,
        );
        let name = |end, other| named(&all, end, other, Space::Icmp);
        // Any echo identifier (the port of an ICMP end) is the raw socket's...
        assert_eq!(name("127.0.0.1:0", "127.0.0.1:0").as_deref(), Some("r"));
        assert_eq!(name("127.0.0.1:9", "127.0.0.1:0").as_deref(), Some("r"));
        // ...but a ping socket's own identifier stays the ping socket's.
        assert_eq!(name("127.0.0.1:7", "127.0.0.1:0").as_deref(), Some("ping"));
        assert_eq!(name("127.0.0.12:5", "127.0.0.1:0").as_deref(), Some("r"));
        assert_eq!(named(&all, "127.0.0.1:0", "127.0.0.1:0", Space::Udp), None);
        let bound = ends(vec![raw("only12", "127.0.0.12:1")], None);
        assert_eq!(
            named(&bound, "127.0.0.12:3", "127.0.0.1:0", Space::Icmp).as_deref(),
            Some("only12")
        );
        assert_eq!(
            named(&bound, "127.0.0.1:3", "127.0.0.12:0", Space::Icmp),
            None
        );
    }

    #[test]
    fn the_table_before_the_command_names_first() {
        let mut after = table();
        after.push(end(
            "new",
            Space::Tcp,
            "127.0.0.1:5000",
            Some("127.0.0.1:40002"),
        ));
        after.push(end("late", Space::Tcp, "127.0.0.1:40003", None));
        let ends = ends(table(), Some(after));
        // Accepted during the command: still the listener's.
        assert_eq!(
            named(&ends, "127.0.0.1:5000", "127.0.0.1:40002", Space::Tcp).as_deref(),
            Some("srv")
        );
        // Bound during the command: known only afterwards.
        assert_eq!(
            named(&ends, "127.0.0.1:40003", "127.0.0.1:1", Space::Tcp).as_deref(),
            Some("late")
        );
        let mut ports: Vec<u16> = ends.ports().collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports, [5000, 40000, 40003]);
    }

    #[test]
    fn a_connection_whose_handle_closed_is_no_listener_s_until_reopened() {
        let mut ends = ends(table(), None);
        let (srv, old) = (addr("127.0.0.1:5000"), addr("127.0.0.1:40009"));
        ends.closed.insert(pair(srv, old));
        assert_eq!(ends.name(srv, old, Space::Tcp), None);
        assert_eq!(
            ends.name(srv, addr("127.0.0.1:40000"), Space::Tcp),
            Some("conn")
        );
        assert_eq!(
            ends.name(srv, addr("127.0.0.1:40001"), Space::Tcp),
            Some("srv")
        );
        ends.reopened(old, srv);
        assert_eq!(ends.name(srv, old, Space::Tcp), Some("srv"));
    }

    #[test]
    fn commit_makes_the_new_table_the_one_that_names() {
        let mut ends = ends(
            table(),
            Some(vec![end(
                "conn",
                Space::Tcp,
                "127.0.0.1:5000",
                Some("127.0.0.1:40000"),
            )]),
        );
        ends.commit();
        assert_eq!(
            named(&ends, "127.0.0.1:5000", "127.0.0.1:40001", Space::Tcp),
            None,
            "the listener was closed"
        );
    }
}

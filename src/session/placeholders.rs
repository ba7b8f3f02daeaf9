//! `--stable` placeholders: values the kernel chose, shown by who holds them.
//!
//! A transcript must be byte-for-byte the same on every run, yet ports and
//! autobound Unix names change every time. Each one the kernel hands to a
//! handle is remembered with a placeholder named after that handle
//! (`<srv.port>`, `@<u.autobind>`), and every address shown afterwards goes
//! through [`Placeholders::show_addr`]. Ports are kept per port space, so a
//! TCP port 5000 and a UDP port 5000 keep their own names; a number with
//! no owner in its own space but one in the other (the script bound a UDP
//! socket to `${t.port}`) is still the kernel's choice, and shows the
//! other space's placeholder. Port 0 is never a placeholder.

use rustc_hash::FxHashMap;
use socket2::SockAddr;
use std::net::{IpAddr, SocketAddr};

use crate::kind::Kind;

/// The connection an address is shown for: the local address and peer of
/// the socket whose outcome, expansion or table row shows it. The kernel
/// may give one ephemeral port to two clients of different servers, so a
/// port alone does not say whose it is; the connection does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen<'a> {
    pub local: Option<&'a SockAddr>,
    pub peer: Option<&'a SockAddr>,
}

/// A port of a handle: where it is bound, and to whom it is connected.
#[derive(Debug, Clone)]
struct Owner {
    placeholder: String,
    ip: IpAddr,
    peer: Option<SocketAddr>,
}

/// The placeholders of one session.
#[derive(Debug, Default)]
pub struct Placeholders {
    /// `tcp:41234` → every handle that held that port, oldest first.
    ports: FxHashMap<String, Vec<Owner>>,
    /// `abstract:NAME` → `@<u.autobind>`.
    names: FxHashMap<String, String>,
}

impl Placeholders {
    /// Remembers the local address the kernel chose for handle `name`, and
    /// its peer when connected. The same port on another connection is
    /// another owner; on the same connection (a port handed out again),
    /// it belongs to its new owner.
    pub fn note_local(
        &mut self,
        name: &str,
        kind: Kind,
        local: &SockAddr,
        peer: Option<&SockAddr>,
    ) {
        if let Some(inet) = local.as_socket().filter(|inet| inet.port() != 0) {
            let owner = Owner {
                placeholder: format!("<{name}.port>"),
                ip: inet.ip().to_canonical(),
                peer: peer.and_then(inet_of),
            };
            let owners = self.ports.entry(port_key(kind, inet.port())).or_default();
            owners.retain(|old| {
                old.placeholder != owner.placeholder && (old.ip, old.peer) != (owner.ip, owner.peer)
            });
            owners.push(owner);
        } else if let Some(abstract_name) = local.as_abstract_namespace() {
            self.names
                .insert(abstract_key(abstract_name), format!("@<{name}.autobind>"));
        }
    }

    /// Gives a peer's port a placeholder when no handle of this session
    /// holds that end of this connection (the peer is another program):
    /// `<conn.peer.port>`. `local` is this end, the peer's peer.
    pub fn note_peer(&mut self, name: &str, kind: Kind, peer: &SockAddr, local: Option<&SockAddr>) {
        let (Some(inet), Some(local)) = (inet_of(peer), local.and_then(inet_of)) else {
            return self.note_outside(format!("<{name}.peer.port>"), kind, peer);
        };
        let owners = self.ports.entry(port_key(kind, inet.port())).or_default();
        let ours = owners
            .iter()
            .any(|o| o.ip == inet.ip() && o.peer == Some(local));
        if !ours && owners.iter().all(|o| o.peer.is_some()) {
            owners.push(Owner {
                placeholder: format!("<{name}.peer.port>"),
                ip: inet.ip(),
                peer: Some(local),
            });
        }
    }

    /// Gives the sender of a datagram a placeholder when no handle of this
    /// session chose its port: `<u.from.port>`.
    pub fn note_sender(&mut self, name: &str, kind: Kind, from: &SockAddr) {
        self.note_outside(format!("<{name}.from.port>"), kind, from);
    }

    fn note_outside(&mut self, placeholder: String, kind: Kind, addr: &SockAddr) {
        let Some(inet) = inet_of(addr) else {
            return;
        };
        let owners = self.ports.entry(port_key(kind, inet.port())).or_default();
        if owners.is_empty() {
            owners.push(Owner {
                placeholder,
                ip: inet.ip(),
                peer: None,
            });
        }
    }

    /// An address with any placeholder it has (`127.0.0.1:<srv.port>`).
    pub fn show_addr(&self, kind: Kind, addr: &SockAddr, seen: Seen) -> Option<String> {
        if let Some(inet) = addr.as_socket() {
            return Some(self.show_inet(kind, inet, seen));
        }
        let name = addr.as_abstract_namespace()?;
        self.names.get(&abstract_key(name)).cloned()
    }

    fn show_inet(&self, kind: Kind, inet: SocketAddr, seen: Seen) -> String {
        match self.owner(kind, inet, seen) {
            Some(port) if inet.is_ipv4() => format!("{}:{port}", inet.ip()),
            Some(port) => format!("[{}]:{port}", inet.ip()),
            None => inet.to_string(),
        }
    }

    /// The placeholder of a port, if it has one.
    pub fn port(&self, kind: Kind, port: u16, seen: Seen) -> Option<&str> {
        let Some(owners) = self.owners(kind, port) else {
            return self.other_space(kind, port);
        };
        let ip = seen
            .local
            .and_then(inet_of)
            .filter(|local| local.port() == port)
            .map(|local| local.ip());
        match ip {
            Some(ip) => self.owner(kind, SocketAddr::new(ip, port), seen),
            None => pick(owners, None, seen),
        }
    }

    /// Whose port this address is: the owner on this very connection when
    /// the address is one end of it, else the one bound with no peer, else
    /// the first. Never "whoever got the number last", which would make
    /// the transcript depend on the kernel's choices.
    fn owner(&self, kind: Kind, inet: SocketAddr, seen: Seen) -> Option<&str> {
        match self.owners(kind, inet.port()) {
            Some(owners) => pick(owners, Some(canonical(inet)), seen),
            None => self.other_space(kind, inet.port()),
        }
    }

    /// The handles that held `port` in `kind`'s port space. Port 0 is
    /// never a kernel's choice: it is shown as 0.
    fn owners(&self, kind: Kind, port: u16) -> Option<&[Owner]> {
        let owners = self.ports.get(&port_key(kind, port))?;
        (port != 0 && !owners.is_empty()).then_some(owners.as_slice())
    }

    /// A port no handle holds in its own space, whose number the kernel
    /// gave a handle in the other (a UDP socket bound to `${t.port}` of a
    /// TCP listener): the number is still the kernel's choice, so it is
    /// shown by that handle's placeholder rather than as a number that
    /// differs on every run. A port with an owner in its own space is
    /// never named after the other space.
    fn other_space(&self, kind: Kind, port: u16) -> Option<&str> {
        let other = match kind.port_space() {
            "tcp" => "udp",
            "udp" => "tcp",
            _ => return None,
        };
        let owners = self.ports.get(&format!("{other}:{port}"))?;
        match port {
            0 => None,
            _ => pick(owners, None, Seen::default()),
        }
    }
}

fn pick<'a>(owners: &'a [Owner], inet: Option<SocketAddr>, seen: Seen) -> Option<&'a str> {
    let same = |a: Option<&SockAddr>, b: SocketAddr| a.and_then(inet_of) == Some(b);
    let fits = |owner: &&Owner| {
        inet.is_none_or(|inet| {
            owner.ip == inet.ip() || owner.ip.is_unspecified() || inet.ip().is_unspecified()
        })
    };
    let candidates: Vec<&Owner> = owners.iter().filter(fits).collect();
    let other_end = inet.and_then(|inet| {
        if same(seen.local, inet) {
            seen.peer.and_then(inet_of)
        } else if same(seen.peer, inet) {
            seen.local.and_then(inet_of)
        } else {
            None
        }
    });
    let chosen = other_end
        .and_then(|end| candidates.iter().find(|o| o.peer == Some(end)))
        .or_else(|| candidates.iter().find(|o| o.peer.is_none()))
        .or_else(|| candidates.first())?;
    Some(chosen.placeholder.as_str())
}

/// An IP address and port, an IPv4-mapped IPv6 address as IPv4: the two
/// ends of one connection may see it either way.
fn inet_of(addr: &SockAddr) -> Option<SocketAddr> {
    addr.as_socket().map(canonical)
}

fn canonical(inet: SocketAddr) -> SocketAddr {
    SocketAddr::new(inet.ip().to_canonical(), inet.port())
}

fn port_key(kind: Kind, port: u16) -> String {
    format!("{}:{port}", kind.port_space())
}

fn abstract_key(name: &[u8]) -> String {
    format!("abstract:{}", String::from_utf8_lossy(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    fn tcp() -> Kind {
        Kind::from_short("tcp").unwrap()
    }

    fn udp() -> Kind {
        Kind::from_short("udp").unwrap()
    }

    fn v4(port: u16) -> SockAddr {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into()
    }

    #[test]
    fn a_chosen_port_is_shown_by_its_handle() {
        let mut places = Placeholders::default();
        places.note_local("srv", tcp(), &v4(41234), None);
        assert_eq!(
            places
                .show_addr(tcp(), &v4(41234), Seen::default())
                .unwrap(),
            "127.0.0.1:<srv.port>"
        );
        assert_eq!(
            places.show_addr(tcp(), &v4(9), Seen::default()).unwrap(),
            "127.0.0.1:9"
        );
    }

    #[test]
    fn ipv6_addresses_keep_their_brackets() {
        let mut places = Placeholders::default();
        let addr: SockAddr = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5000, 0, 0).into();
        places.note_local("c", Kind::from_short("tcp6").unwrap(), &addr, None);
        assert_eq!(
            places
                .show_addr(Kind::from_short("tcp6").unwrap(), &addr, Seen::default())
                .unwrap(),
            "[::1]:<c.port>"
        );
    }

    #[test]
    fn port_spaces_are_kept_apart() {
        let mut places = Placeholders::default();
        places.note_local("u", udp(), &v4(5000), None);
        places.note_local("t", tcp(), &v4(5000), None);
        assert_eq!(places.port(udp(), 5000, Seen::default()), Some("<u.port>"));
        assert_eq!(places.port(tcp(), 5000, Seen::default()), Some("<t.port>"));
    }

    /// A number the kernel chose in one space and the script reused in
    /// the other is still hidden, yet each space keeps its own owners.
    #[test]
    fn a_port_reused_in_the_other_space_keeps_its_placeholder() {
        let mut places = Placeholders::default();
        places.note_local("t", tcp(), &v4(41000), None);
        let shown = places.show_addr(udp(), &v4(41000), Seen::default());
        assert_eq!(shown.unwrap(), "127.0.0.1:<t.port>");
        places.note_local("u", udp(), &v4(41000), None);
        assert_eq!(places.port(udp(), 41000, Seen::default()), Some("<u.port>"));
        assert_eq!(places.port(tcp(), 41000, Seen::default()), Some("<t.port>"));
    }

    #[test]
    fn port_zero_is_never_a_placeholder() {
        let mut places = Placeholders::default();
        places.note_sender("u", udp(), &v4(0));
        places.note_peer("c", tcp(), &v4(0), None);
        assert_eq!(places.port(udp(), 0, Seen::default()), None);
        assert_eq!(places.port(tcp(), 0, Seen::default()), None);
        let shown = places.show_addr(udp(), &v4(0), Seen::default());
        assert_eq!(shown.unwrap(), "127.0.0.1:0");
    }

    #[test]
    fn a_port_handed_out_again_belongs_to_its_new_owner() {
        let mut places = Placeholders::default();
        places.note_local("first", tcp(), &v4(40000), None);
        places.note_local("second", tcp(), &v4(40000), None);
        assert_eq!(
            places.port(tcp(), 40000, Seen::default()),
            Some("<second.port>")
        );
    }

    #[test]
    fn a_peer_port_never_renames_a_port_of_the_session() {
        let mut places = Placeholders::default();
        places.note_local("cli", tcp(), &v4(40000), None);
        places.note_peer("conn", tcp(), &v4(40000), None);
        assert_eq!(
            places.port(tcp(), 40000, Seen::default()),
            Some("<cli.port>")
        );
        places.note_peer("conn", tcp(), &v4(40001), None);
        assert_eq!(
            places.port(tcp(), 40001, Seen::default()),
            Some("<conn.peer.port>")
        );
    }

    /// Two clients of different servers with one ephemeral port: each
    /// end of each connection keeps its own name.
    #[test]
    fn a_port_shared_by_two_connections_is_named_by_the_connection() {
        let mut places = Placeholders::default();
        let (srv1, srv2, port) = (v4(5001), v4(5002), v4(40000));
        places.note_local("c4", tcp(), &port, Some(&srv1));
        places.note_local("c165", tcp(), &port, Some(&srv2));
        let show = |local, peer| {
            let seen = Seen {
                local: Some(local),
                peer: Some(peer),
            };
            places.show_addr(tcp(), &port, seen).unwrap()
        };
        assert_eq!(show(&port, &srv1), "127.0.0.1:<c4.port>");
        assert_eq!(show(&port, &srv2), "127.0.0.1:<c165.port>");
        // As the servers' accepted sockets see them.
        assert_eq!(show(&srv1, &port), "127.0.0.1:<c4.port>");
        assert_eq!(show(&srv2, &port), "127.0.0.1:<c165.port>");
        // Whoever was noted last, the first stays the default.
        let alone = places.show_addr(tcp(), &port, Seen::default());
        assert_eq!(alone.unwrap(), "127.0.0.1:<c4.port>");
    }

    #[test]
    fn autobound_names_get_a_placeholder() {
        let mut places = Placeholders::default();
        let addr = SockAddr::unix("@x").unwrap();
        let abstract_addr = match SockAddr::unix("\0abc") {
            Ok(a) if a.as_abstract_namespace().is_some() => a,
            _ => return, // no abstract namespace support in this socket2 build
        };
        places.note_local("u", Kind::from_short("unix").unwrap(), &abstract_addr, None);
        assert_eq!(
            places
                .show_addr(
                    Kind::from_short("unix").unwrap(),
                    &abstract_addr,
                    Seen::default()
                )
                .unwrap(),
            "@<u.autobind>"
        );
        assert_eq!(
            places.show_addr(Kind::from_short("unix").unwrap(), &addr, Seen::default()),
            None
        );
    }
}

//! `--stable` placeholders: values the kernel chose, shown by who holds them.
//!
//! A transcript must be byte-for-byte the same on every run, yet ports and
//! autobound Unix names change every time. Each one the kernel hands to a
//! handle is remembered with a placeholder named after that handle
//! (`<srv.port>`, `@<u.autobind>`), and every address shown afterwards goes
//! through [`Placeholders::show_addr`]. Ports are kept per port space, so a
//! TCP port 5000 and a UDP port 5000 keep their own names.

use rustc_hash::FxHashMap;
use socket2::SockAddr;
use std::net::SocketAddr;

use crate::kind::Kind;

/// The placeholders of one session.
#[derive(Debug, Default)]
pub struct Placeholders {
    /// `tcp:41234` → `<srv.port>`; `abstract:NAME` → `@<u.autobind>`.
    names: FxHashMap<String, String>,
}

impl Placeholders {
    /// Remembers the local address the kernel chose for handle `name`: a
    /// port it hands out again later belongs to its new owner.
    pub fn note_local(&mut self, name: &str, kind: Kind, local: &SockAddr) {
        if let Some(inet) = local.as_socket().filter(|inet| inet.port() != 0) {
            self.names
                .insert(port_key(kind, inet.port()), format!("<{name}.port>"));
        } else if let Some(abstract_name) = local.as_abstract_namespace() {
            self.names
                .insert(abstract_key(abstract_name), format!("@<{name}.autobind>"));
        }
    }

    /// Gives a peer's port a placeholder when no handle of this session
    /// chose it (the peer is another program): `<conn.peer.port>`.
    pub fn note_peer(&mut self, name: &str, kind: Kind, peer: &SockAddr) {
        let Some(inet) = peer.as_socket() else {
            return;
        };
        self.names
            .entry(port_key(kind, inet.port()))
            .or_insert_with(|| format!("<{name}.peer.port>"));
    }

    /// Gives the sender of a datagram a placeholder when no handle of this
    /// session chose its port: `<u.from.port>`.
    pub fn note_sender(&mut self, name: &str, kind: Kind, from: &SockAddr) {
        let Some(inet) = from.as_socket() else {
            return;
        };
        self.names
            .entry(port_key(kind, inet.port()))
            .or_insert_with(|| format!("<{name}.from.port>"));
    }

    /// An address with any placeholder it has (`127.0.0.1:<srv.port>`).
    pub fn show_addr(&self, kind: Kind, addr: &SockAddr) -> Option<String> {
        if let Some(inet) = addr.as_socket() {
            return Some(self.show_inet(kind, inet));
        }
        let name = addr.as_abstract_namespace()?;
        self.names.get(&abstract_key(name)).cloned()
    }

    fn show_inet(&self, kind: Kind, inet: SocketAddr) -> String {
        match self.port(kind, inet.port()) {
            Some(port) if inet.is_ipv4() => format!("{}:{port}", inet.ip()),
            Some(port) => format!("[{}]:{port}", inet.ip()),
            None => inet.to_string(),
        }
    }

    /// The placeholder of a port, if it has one.
    pub fn port(&self, kind: Kind, port: u16) -> Option<&str> {
        self.names.get(&port_key(kind, port)).map(String::as_str)
    }
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
        places.note_local("srv", tcp(), &v4(41234));
        assert_eq!(
            places.show_addr(tcp(), &v4(41234)).unwrap(),
            "127.0.0.1:<srv.port>"
        );
        assert_eq!(places.show_addr(tcp(), &v4(9)).unwrap(), "127.0.0.1:9");
    }

    #[test]
    fn ipv6_addresses_keep_their_brackets() {
        let mut places = Placeholders::default();
        let addr: SockAddr = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5000, 0, 0).into();
        places.note_local("c", Kind::from_short("tcp6").unwrap(), &addr);
        assert_eq!(
            places
                .show_addr(Kind::from_short("tcp6").unwrap(), &addr)
                .unwrap(),
            "[::1]:<c.port>"
        );
    }

    #[test]
    fn port_spaces_are_kept_apart() {
        let mut places = Placeholders::default();
        places.note_local("u", udp(), &v4(5000));
        places.note_local("t", tcp(), &v4(5000));
        assert_eq!(places.port(udp(), 5000), Some("<u.port>"));
        assert_eq!(places.port(tcp(), 5000), Some("<t.port>"));
    }

    #[test]
    fn a_port_handed_out_again_belongs_to_its_new_owner() {
        let mut places = Placeholders::default();
        places.note_local("first", tcp(), &v4(40000));
        places.note_local("second", tcp(), &v4(40000));
        assert_eq!(places.port(tcp(), 40000), Some("<second.port>"));
    }

    #[test]
    fn a_peer_port_never_renames_a_port_of_the_session() {
        let mut places = Placeholders::default();
        places.note_local("cli", tcp(), &v4(40000));
        places.note_peer("conn", tcp(), &v4(40000));
        assert_eq!(places.port(tcp(), 40000), Some("<cli.port>"));
        places.note_peer("conn", tcp(), &v4(40001));
        assert_eq!(places.port(tcp(), 40001), Some("<conn.peer.port>"));
    }

    #[test]
    fn autobound_names_get_a_placeholder() {
        let mut places = Placeholders::default();
        let addr = SockAddr::unix("@x").unwrap();
        let abstract_addr = match SockAddr::unix("\0abc") {
            Ok(a) if a.as_abstract_namespace().is_some() => a,
            _ => return, // no abstract namespace support in this socket2 build
        };
        places.note_local("u", Kind::from_short("unix").unwrap(), &abstract_addr);
        assert_eq!(
            places
                .show_addr(Kind::from_short("unix").unwrap(), &abstract_addr)
                .unwrap(),
            "@<u.autobind>"
        );
        assert_eq!(
            places.show_addr(Kind::from_short("unix").unwrap(), &addr),
            None
        );
    }
}

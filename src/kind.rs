//! Socket kinds: the short names (`tcp`, `udp6`, `unix-dgram`, ...) and the
//! long `FAMILY TYPE [PROTO]` form with the C names.

use socket2::{Domain, Protocol, Type};
use std::fmt;

/// What `socket()` is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub family: Family,
    pub socktype: SockType,
    /// The protocol number; 0 lets the kernel pick.
    pub protocol: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Inet6,
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Stream,
    Dgram,
    Raw,
    SeqPacket,
}

/// The short kind names the `socket` command takes.
pub const KIND_NAMES: &[&str] = &[
    "tcp",
    "udp",
    "tcp6",
    "udp6",
    "unix",
    "unix-dgram",
    "icmp",
    "raw",
];

const FAMILIES: &[(&str, Family)] = &[
    ("AF_INET", Family::Inet),
    ("AF_INET6", Family::Inet6),
    ("AF_UNIX", Family::Unix),
    ("AF_LOCAL", Family::Unix),
];

const TYPES: &[(&str, SockType)] = &[
    ("SOCK_STREAM", SockType::Stream),
    ("SOCK_DGRAM", SockType::Dgram),
    ("SOCK_RAW", SockType::Raw),
    ("SOCK_SEQPACKET", SockType::SeqPacket),
];

const PROTOCOLS: &[(&str, i32)] = &[
    ("IPPROTO_IP", 0),
    ("IPPROTO_ICMP", libc::IPPROTO_ICMP),
    ("IPPROTO_TCP", libc::IPPROTO_TCP),
    ("IPPROTO_UDP", libc::IPPROTO_UDP),
    ("IPPROTO_ICMPV6", libc::IPPROTO_ICMPV6),
    ("IPPROTO_RAW", libc::IPPROTO_RAW),
];

impl Kind {
    const fn new(family: Family, socktype: SockType, protocol: i32) -> Self {
        Kind {
            family,
            socktype,
            protocol,
        }
    }

    /// Parses a short name such as `udp6`.
    pub fn from_short(name: &str) -> Option<Self> {
        use Family::*;
        use SockType::*;
        Some(match name {
            "tcp" => Kind::new(Inet, Stream, 0),
            "udp" => Kind::new(Inet, Dgram, 0),
            "tcp6" => Kind::new(Inet6, Stream, 0),
            "udp6" => Kind::new(Inet6, Dgram, 0),
            "unix" => Kind::new(Unix, Stream, 0),
            "unix-dgram" => Kind::new(Unix, Dgram, 0),
            "icmp" => Kind::new(Inet, Dgram, libc::IPPROTO_ICMP),
            "raw" => Kind::new(Inet, Raw, libc::IPPROTO_ICMP),
            _ => return None,
        })
    }

    /// Parses `AF_INET SOCK_STREAM [IPPROTO_TCP|number]`.
    pub fn from_c_names(
        family: &str,
        socktype: &str,
        protocol: Option<&str>,
    ) -> Result<Self, String> {
        let family = lookup(FAMILIES, family)
            .ok_or_else(|| format!("unknown family '{family}' (AF_INET, AF_INET6 or AF_UNIX)"))?;
        let socktype = lookup(TYPES, socktype).ok_or_else(|| {
            format!(
                "unknown type '{socktype}' (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW or SOCK_SEQPACKET)"
            )
        })?;
        let protocol = match protocol {
            None => 0,
            Some(name) => lookup(PROTOCOLS, name)
                .or_else(|| name.parse().ok())
                .ok_or_else(|| format!("unknown protocol '{name}' (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ... or a number)"))?,
        };
        Ok(Kind::new(family, socktype, protocol))
    }

    pub fn is_stream(self) -> bool {
        self.socktype == SockType::Stream
    }

    /// Sockets that keep message boundaries: one receive, one message.
    pub fn keeps_boundaries(self) -> bool {
        !self.is_stream()
    }

    /// Connected sockets whose peer can close: there a receive of 0 bytes
    /// is the end of the stream, elsewhere it is an empty datagram.
    pub fn has_end_of_stream(self) -> bool {
        matches!(self.socktype, SockType::Stream | SockType::SeqPacket)
    }

    /// Ping and raw sockets have no ports: the port of an address is ignored.
    pub fn ignores_ports(self) -> bool {
        let ping = [libc::IPPROTO_ICMP, libc::IPPROTO_ICMPV6].contains(&self.protocol);
        self.socktype == SockType::Raw || (self.socktype == SockType::Dgram && ping)
    }

    pub fn domain(self) -> Domain {
        match self.family {
            Family::Inet => Domain::IPV4,
            Family::Inet6 => Domain::IPV6,
            Family::Unix => Domain::UNIX,
        }
    }

    pub fn sock_type(self) -> Type {
        match self.socktype {
            SockType::Stream => Type::STREAM,
            SockType::Dgram => Type::DGRAM,
            SockType::Raw => Type::RAW,
            SockType::SeqPacket => Type::SEQPACKET,
        }
    }

    pub fn protocol(self) -> Option<Protocol> {
        (self.protocol != 0).then(|| Protocol::from(self.protocol))
    }

    /// The name `sockets` shows in its Proto column, like netstat.
    pub fn proto_name(self) -> &'static str {
        use Family::*;
        use SockType::*;
        match (self.family, self.socktype) {
            (Inet, Stream) => "tcp",
            (Inet6, Stream) => "tcp6",
            (Inet, Dgram) if self.protocol == libc::IPPROTO_ICMP => "icmp",
            (Inet, Dgram) => "udp",
            (Inet6, Dgram) if self.protocol == libc::IPPROTO_ICMPV6 => "icmp6",
            (Inet6, Dgram) => "udp6",
            (Inet, Raw) => "raw",
            (Inet6, Raw) => "raw6",
            (Unix, Stream) => "unix",
            (Unix, Dgram) => "unix-dgram",
            (Unix, SeqPacket) => "unix-seqpacket",
            (_, SeqPacket) => "seqpacket",
            (Unix, Raw) => "unix-raw",
        }
    }

    /// Which numbering a port belongs to: TCP and UDP ports are separate
    /// spaces, and a ping socket's "port" is its ICMP identifier.
    pub fn port_space(self) -> &'static str {
        match self.socktype {
            SockType::Stream => "tcp",
            SockType::Dgram if self.ignores_ports() => "icmp",
            SockType::Dgram => "udp",
            SockType::Raw => "raw",
            SockType::SeqPacket => "seqpacket",
        }
    }

    pub fn family_name(self) -> &'static str {
        match self.family {
            Family::Inet => "AF_INET",
            Family::Inet6 => "AF_INET6",
            Family::Unix => "AF_UNIX",
        }
    }

    pub fn type_name(self) -> &'static str {
        type_c_name(self.sock_type())
    }
}

/// The C name of a socket type, e.g. `SOCK_STREAM`.
pub fn type_c_name(socktype: Type) -> &'static str {
    match socktype {
        Type::STREAM => "SOCK_STREAM",
        Type::DGRAM => "SOCK_DGRAM",
        Type::RAW => "SOCK_RAW",
        Type::SEQPACKET => "SOCK_SEQPACKET",
        _ => "SOCK_?",
    }
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.family_name(), self.type_name())?;
        if let Some((name, _)) = PROTOCOLS
            .iter()
            .find(|(_, p)| *p == self.protocol && *p != 0)
        {
            write!(f, " {name}")?;
        } else if self.protocol != 0 {
            write!(f, " {}", self.protocol)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_agree() {
        assert_eq!(
            Kind::from_short("tcp"),
            Kind::from_c_names("AF_INET", "SOCK_STREAM", None).ok()
        );
        assert_eq!(
            Kind::from_short("icmp"),
            Kind::from_c_names("AF_INET", "SOCK_DGRAM", Some("IPPROTO_ICMP")).ok()
        );
        assert_eq!(
            Kind::from_short("raw").unwrap().to_string(),
            "AF_INET SOCK_RAW IPPROTO_ICMP"
        );
        assert!(Kind::from_c_names("AF_FOO", "SOCK_STREAM", None).is_err());
    }
}

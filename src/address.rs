//! ADDR words: `A.B.C.D:PORT`, `[IPV6]:PORT`, `HOSTNAME:PORT`, `:PORT`, a
//! bare `PORT` (this machine, as the lecture's client takes it), Unix
//! paths and `@abstract` names; parsed when the script is checked, resolved
//! against the socket's family when the command runs.

use socket2::SockAddr;
use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::errors::Failure;
use crate::kind::{Family, Kind};
use crate::wait::Deadline;

/// An address as written in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A literal IP address; the port may be left out for ping and raw sockets.
    Ip { ip: IpAddr, port: Option<u16> },
    /// A host name for the system resolver.
    Host { name: String, port: Option<u16> },
    /// `:PORT`: the family's wildcard address.
    Wildcard { port: u16 },
    /// `PORT` alone: the family's loopback address, 127.0.0.1 or ::1, as
    /// `python3 echo-client.py PORT` means it.
    Loopback { port: u16 },
    /// A Unix socket path (contains `/`).
    UnixPath(PathBuf),
    /// `@name` in Linux's abstract namespace; `@` alone asks the kernel to
    /// choose a name (autobind).
    Abstract(Vec<u8>),
}

impl Address {
    /// Parses an ADDR word.
    pub fn parse(word: &str) -> Result<Self, String> {
        if let Some(name) = word.strip_prefix('@') {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if word.contains('/') {
            return Ok(Address::UnixPath(PathBuf::from(word)));
        }
        if let Some(rest) = word.strip_prefix('[') {
            return parse_bracketed(word, rest);
        }
        if word.matches(':').count() > 1 {
            return Err(format!(
                "bad address '{word}': write an IPv6 address in brackets, as in [::1]:8080"
            ));
        }
        if let Some(port) = word.strip_prefix(':') {
            return Ok(Address::Wildcard {
                port: parse_port(word, port)?,
            });
        }
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Address::Loopback {
                port: parse_port(word, word)?,
            });
        }
        let (host, port) = match word.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(word, port)?)),
            None => (word, None),
        };
        parse_host(word, host, port)
    }

    /// The socket address to hand to the kernel for a socket of this kind;
    /// a host name's lookup gives up at `deadline` (or Ctrl-C).
    pub fn resolve(&self, kind: Kind, deadline: Deadline) -> Result<SockAddr, Failure> {
        match (self, kind.family) {
            (Address::UnixPath(path), Family::Unix) => {
                unix_addr(path.as_os_str().as_bytes(), false)
            }
            (Address::Abstract(name), Family::Unix) => unix_addr(name, true),
            (_, Family::Unix) => Err(Failure::usage(format!(
                "a Unix socket takes a path containing '/' (./lab.sock) or an @name, not {}",
                self
            ))),
            (Address::UnixPath(_) | Address::Abstract(_), _) => Err(Failure::usage(format!(
                "{self} is a Unix address but the socket is {}",
                kind.family_name()
            ))),
            (Address::Wildcard { port }, family) => Ok(inet(wildcard(family), *port)),
            (Address::Loopback { port }, family) => Ok(inet(loopback(family), *port)),
            (Address::Ip { ip, port }, family) => {
                check_ip_family(*ip, family)?;
                Ok(inet(*ip, port_for(self, *port, kind)?))
            }
            (Address::Host { name, port }, family) => {
                let port = port_for(self, *port, kind)?;
                resolve_host(name, port, family, deadline).map(|ip| inet(ip, port))
            }
        }
    }
}

fn parse_bracketed(word: &str, rest: &str) -> Result<Address, String> {
    let (ip, after) = rest
        .split_once(']')
        .ok_or_else(|| format!("bad address '{word}': '[' without its ']'"))?;
    let ip: Ipv6Addr = ip
        .parse()
        .map_err(|_| format!("bad address '{word}': '{ip}' is not an IPv6 address"))?;
    let port = match after {
        "" => None,
        _ => match after.strip_prefix(':') {
            Some(port) => Some(parse_port(word, port)?),
            None => return Err(format!("bad address '{word}': expected ':PORT' after ']'")),
        },
    };
    Ok(Address::Ip {
        ip: IpAddr::V6(ip),
        port,
    })
}

fn parse_host(word: &str, host: &str, port: Option<u16>) -> Result<Address, String> {
    if host.is_empty() {
        return Err(format!("bad address '{word}': no host"));
    }
    if host.contains(':') {
        return Err(format!(
            "bad address '{word}': write an IPv6 address in brackets, as in [::1]:8080"
        ));
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let ip: Ipv4Addr = host.parse().map_err(|_| {
            format!("bad address '{word}': '{host}' is not an IPv4 address (A.B.C.D)")
        })?;
        return Ok(Address::Ip {
            ip: IpAddr::V4(ip),
            port,
        });
    }
    let valid_name = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid_name {
        return Err(format!("bad address '{word}': '{host}' is not a host name"));
    }
    Ok(Address::Host {
        name: host.to_string(),
        port,
    })
}

fn parse_port(word: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u32>() {
        Ok(n) if n <= 65535 && !port.starts_with('+') => Ok(n as u16),
        _ => Err(format!(
            "bad port in '{word}': '{port}' is not a number from 0 to 65535"
        )),
    }
}

fn port_for(address: &Address, port: Option<u16>, kind: Kind) -> Result<u16, Failure> {
    match port {
        Some(port) => Ok(port),
        None if kind.ignores_ports() => Ok(0),
        None => Err(Failure::usage(format!(
            "{address} has no port: write HOST:PORT"
        ))),
    }
}

fn check_ip_family(ip: IpAddr, family: Family) -> Result<(), Failure> {
    match (ip, family) {
        (IpAddr::V4(_), Family::Inet) | (IpAddr::V6(_), Family::Inet6) => Ok(()),
        (IpAddr::V4(_), _) => Err(Failure::usage(format!(
            "{ip} is an IPv4 address but the socket is AF_INET6 (use a tcp or udp socket, or the mapped address [::ffff:{ip}]:PORT)"
        ))),
        (IpAddr::V6(_), _) => Err(Failure::usage(format!(
            "{ip} is an IPv6 address but the socket is AF_INET (use tcp6 or udp6)"
        ))),
    }
}

fn wildcard(family: Family) -> IpAddr {
    match family {
        Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

fn loopback(family: Family) -> IpAddr {
    match family {
        Family::Inet6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

fn inet(ip: IpAddr, port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::new(ip, port))
}

fn resolve_host(
    name: &str,
    port: u16,
    family: Family,
    deadline: Deadline,
) -> Result<IpAddr, Failure> {
    let candidates = lookup(name, port, deadline)?;
    candidates
        .into_iter()
        .map(|addr| addr.ip())
        .find(|ip| ip.is_ipv4() == (family == Family::Inet))
        .ok_or_else(|| {
            let wanted = if family == Family::Inet {
                "IPv4"
            } else {
                "IPv6"
            };
            Failure::Resolve(format!("{name}: it has no {wanted} address"))
        })
}

/// How often a waiting lookup looks for Ctrl-C.
const LOOKUP_SLICE: std::time::Duration = std::time::Duration::from_millis(20);
/// Lookups abandoned but still running, at most: each holds a thread until
/// the system resolver gives up on its own.
const MAX_LOOKUPS: usize = 16;
static LOOKUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// getaddrinfo(3) on a thread of its own: it takes no timeout and does not
/// stop for a signal, so the command waits for its answer only until the
/// deadline or Ctrl-C, and then leaves the thread to finish alone.
fn lookup(name: &str, port: u16, deadline: Deadline) -> Result<Vec<SocketAddr>, Failure> {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc::RecvTimeoutError;
    if LOOKUPS.fetch_add(1, Ordering::SeqCst) >= MAX_LOOKUPS {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(Failure::Resolve(format!(
            "{name}: {MAX_LOOKUPS} earlier lookups are still waiting for the resolver"
        )));
    }
    let (answer, answered) = std::sync::mpsc::channel();
    let host = name.to_string();
    let spawned = std::thread::Builder::new()
        .name("resolver".into())
        .spawn(move || {
            let found = (host.as_str(), port).to_socket_addrs();
            let _ = answer.send(found.map(Iterator::collect::<Vec<_>>));
            LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(error) = spawned {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(error.into());
    }
    loop {
        if crate::wait::take_interrupt() {
            return Err(Failure::Interrupted);
        }
        let slice = deadline
            .remaining()
            .map_or(LOOKUP_SLICE, |left| left.min(LOOKUP_SLICE));
        match answered.recv_timeout(slice) {
            Ok(found) => return found.map_err(|e| Failure::Resolve(format!("{name}: {e}"))),
            Err(RecvTimeoutError::Timeout) if deadline.expired() => {
                return Err(deadline.timeout(&format!("no address for {name}")))
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::Resolve(format!(
                    "{name}: the lookup ended with no answer"
                )))
            }
        }
    }
}

fn unix_addr(name: &[u8], abstract_name: bool) -> Result<SockAddr, Failure> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    if abstract_name && !name.is_empty() {
        bytes.push(0);
    }
    bytes.extend_from_slice(name);
    SockAddr::unix(OsStr::from_bytes(&bytes))
        .map_err(|_| Failure::usage("Unix socket path too long (the limit is 107 bytes)"))
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let port = |p: &Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        match self {
            // Brackets always: a bare `::1` would not parse back.
            Address::Ip {
                ip: IpAddr::V6(ip),
                port: p,
            } => write!(f, "[{ip}]{}", port(p)),
            Address::Ip { ip, port: p } => write!(f, "{ip}{}", port(p)),
            Address::Host { name, port: p } => write!(f, "{name}{}", port(p)),
            Address::Wildcard { port } => write!(f, ":{port}"),
            Address::Loopback { port } => write!(f, "{port}"),
            Address::UnixPath(path) => write!(f, "{}", path.display()),
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// A kernel address as sockrepl shows it, without placeholders:
/// `127.0.0.1:41234`, `[::1]:41234`, `./lab.sock`, `@name`, `(unnamed)`.
pub fn format_sockaddr(addr: &SockAddr) -> String {
    if let Some(inet) = addr.as_socket() {
        return inet.to_string();
    }
    if let Some(path) = addr.as_pathname() {
        return path.display().to_string();
    }
    if let Some(name) = addr.as_abstract_namespace() {
        let mut shown = String::from("@");
        crate::data::push_escaped(&mut shown, name);
        return shown;
    }
    "(unnamed)".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Address::parse("127.0.0.1:80").unwrap(),
            Address::Ip {
                ip: "127.0.0.1".parse().unwrap(),
                port: Some(80)
            }
        );
        assert_eq!(
            Address::parse("[::1]:80").unwrap(),
            Address::Ip {
                ip: "::1".parse().unwrap(),
                port: Some(80)
            }
        );
        assert_eq!(Address::parse(":0").unwrap(), Address::Wildcard { port: 0 });
        assert_eq!(
            Address::parse("65432").unwrap(),
            Address::Loopback { port: 65432 }
        );
        assert_eq!(
            Address::parse("localhost:22").unwrap(),
            Address::Host {
                name: "localhost".into(),
                port: Some(22)
            }
        );
        assert_eq!(
            Address::parse("./lab.sock").unwrap(),
            Address::UnixPath("./lab.sock".into())
        );
        assert_eq!(
            Address::parse("@lab").unwrap(),
            Address::Abstract(b"lab".to_vec())
        );
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "1.2.3:80",
            "[::1",
            "host:99999",
            "[::1]80",
            "::1:80",
            ":",
            "a b:1",
            "h:-1",
            "[zz]:1",
            "65536",
            "+80",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn resolves_against_the_family() {
        let tcp = Kind::from_short("tcp").unwrap();
        let tcp6 = Kind::from_short("tcp6").unwrap();
        let addr = Address::parse(":0").unwrap();
        assert_eq!(
            format_sockaddr(&addr.resolve(tcp, Deadline::after(None)).unwrap()),
            "0.0.0.0:0"
        );
        assert_eq!(
            format_sockaddr(&addr.resolve(tcp6, Deadline::after(None)).unwrap()),
            "[::]:0"
        );
        assert!(Address::parse("127.0.0.1:1")
            .unwrap()
            .resolve(tcp6, Deadline::after(None))
            .is_err());
        assert!(Address::parse("127.0.0.1")
            .unwrap()
            .resolve(tcp, Deadline::after(None))
            .is_err());
        let port = Address::parse("65432").unwrap();
        assert_eq!(
            format_sockaddr(&port.resolve(tcp, Deadline::after(None)).unwrap()),
            "127.0.0.1:65432"
        );
        assert_eq!(
            format_sockaddr(&port.resolve(tcp6, Deadline::after(None)).unwrap()),
            "[::1]:65432"
        );
        let icmp = Kind::from_short("icmp").unwrap();
        assert!(Address::parse("127.0.0.1")
            .unwrap()
            .resolve(icmp, Deadline::after(None))
            .is_ok());
    }
}

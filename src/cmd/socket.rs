//! `socket` and `socketpair`: the commands that make sockets.

use nix::errno::Errno;
use socket2::{Domain, Socket as KernelSocket};

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::kind::{Kind, KIND_NAMES};
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;
use crate::suggest::did_you_mean;

pub const SPECS: &[Spec] = &[SOCKET, SOCKETPAIR];

pub const SOCKET: Spec = Spec {
    name: "socket",
    synopsis: "socket NAME [KIND | FAMILY TYPE [PROTO]]",
    summary:
        "Create a socket and name it. KIND: tcp (default), udp, tcp6, udp6, unix, unix-dgram, \
              icmp (ping socket), raw (raw ICMP, needs privilege); or the C names, as in \
              AF_INET SOCK_STREAM.",
    python: "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)",
    example: "socket srv tcp",
    args: &[Slot::NewHandle, Slot::Kind],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Socket::parse(args).map(Command::from),
};

pub const SOCKETPAIR: Spec = Spec {
    name: "socketpair",
    synopsis: "socketpair A B [unix|unix-dgram]",
    summary: "Create two Unix sockets already connected to each other.",
    python: "a, b = socket.socketpair()",
    example: "socketpair left right",
    args: &[
        Slot::NewHandle,
        Slot::NewHandle,
        Slot::Choice(&["unix", "unix-dgram"]),
    ],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| SocketPair::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Socket {
    name: String,
    kind: Kind,
}

impl Socket {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let words: Vec<&str> = std::iter::from_fn(|| args.optional_literal()).collect();
        let kind = match words.as_slice() {
            [] => Kind::from_short("tcp").expect("tcp is a kind"),
            [short] => parse_short(short)?,
            [family, socktype] => {
                Kind::from_c_names(family, socktype, None).map_err(SyntaxError::new)?
            }
            [family, socktype, proto] => {
                Kind::from_c_names(family, socktype, Some(proto)).map_err(SyntaxError::new)?
            }
            _ => return Err(args.usage_error("too many words for a socket kind")),
        };
        Ok(Socket { name, kind })
    }

}

impl Run for Socket {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.check_free(&self.name)?;
        let socket = KernelSocket::new(
            self.kind.domain(),
            self.kind.sock_type(),
            self.kind.protocol(),
        )
        .map_err(|e| Failure::from(e).with_hint(|errno| creation_hint(self.kind, errno)))?;
        session.insert_socket(&self.name, socket, self.kind)?;
        Ok(Outcome::Created {
            handle: self.name.clone(),
        })
    }
}

fn parse_short(word: &str) -> Result<Kind, SyntaxError> {
    if let Some(kind) = Kind::from_short(word) {
        return Ok(kind);
    }
    let mut message = format!(
        "unknown socket kind '{word}' (known: {})",
        KIND_NAMES.join(", ")
    );
    if word.starts_with("AF_") {
        message = format!("'{word}' needs a type after it, as in {word} SOCK_STREAM");
    } else if let Some(suggestion) = did_you_mean(word, KIND_NAMES.iter().copied()) {
        message.push_str(&format!("; did you mean '{suggestion}'?"));
    }
    Err(SyntaxError::new(message))
}

/// Why a socket could not be made, where the reason is clear.
fn creation_hint(kind: Kind, errno: Errno) -> Option<String> {
    match errno {
        Errno::EPERM | Errno::EACCES if kind.sock_type() == socket2::Type::RAW => {
            Some("raw sockets need root or CAP_NET_RAW (try the icmp kind, a ping socket)".into())
        }
        Errno::EPERM | Errno::EACCES if kind.ignores_ports() => Some(
            "ping sockets need your group id inside the sysctl net.ipv4.ping_group_range".into(),
        ),
        Errno::EAFNOSUPPORT => Some("this machine has no support for that address family".into()),
        Errno::EMFILE => {
            Some("this process has no file descriptors left: close some handles".into())
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct SocketPair {
    first: String,
    second: String,
    kind: Kind,
}

impl SocketPair {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let first = args.handle()?;
        let second = args.handle()?;
        if first == second {
            return Err(SyntaxError::new(
                "the two ends of a socketpair need different names",
            ));
        }
        let kind = match args.optional_literal() {
            None | Some("unix") => Kind::from_short("unix"),
            Some("unix-dgram") => Kind::from_short("unix-dgram"),
            Some(other) => {
                return Err(args.usage_error(&format!(
                    "a socketpair is unix or unix-dgram, not '{other}'"
                )))
            }
        };
        Ok(SocketPair {
            first,
            second,
            kind: kind.expect("unix kinds exist"),
        })
    }

}

impl Run for SocketPair {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.check_free(&self.first)?;
        session.check_free(&self.second)?;
        let (a, b) = KernelSocket::pair(Domain::UNIX, self.kind.sock_type(), None)
            .map_err(|e| Failure::from(e).with_hint(|errno| creation_hint(self.kind, errno)))?;
        session.insert_socket(&self.first, a, self.kind)?;
        session.insert_socket(&self.second, b, self.kind)?;
        Ok(Outcome::Pair {
            first: self.first.clone(),
            second: self.second.clone(),
        })
    }
}

impl crate::export::Export for Socket {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let kind = crate::export::HandleKind::Socket(self.kind);
        let s = out.new_handle(&self.name, kind);
        out.line(format!("{s} = socket.socket({})", python_kind(self.kind)));
        out.track(&s);
        Ok(())
    }
}

impl crate::export::Export for SocketPair {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let kind = crate::export::HandleKind::Socket(self.kind);
        let a = out.new_handle(&self.first, kind);
        let b = out.new_handle(&self.second, kind);
        out.line(format!("{a}, {b} = socket.socketpair({})", python_kind(self.kind)));
        out.track(&a);
        out.track(&b);
        Ok(())
    }
}

/// `socket.AF_INET, socket.SOCK_STREAM[, PROTO]` for a kind.
fn python_kind(kind: Kind) -> String {
    let mut text = format!("socket.{}, socket.{}", kind.family_name(), kind.type_name());
    match kind.protocol {
        0 => {}
        libc::IPPROTO_ICMP => text.push_str(", socket.IPPROTO_ICMP"),
        libc::IPPROTO_ICMPV6 => text.push_str(", socket.IPPROTO_ICMPV6"),
        libc::IPPROTO_TCP => text.push_str(", socket.IPPROTO_TCP"),
        libc::IPPROTO_UDP => text.push_str(", socket.IPPROTO_UDP"),
        number => text.push_str(&format!(", {number}")),
    }
    text
}

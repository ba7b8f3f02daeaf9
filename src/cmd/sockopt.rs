//! The socket options `setsockopt` and `getsockopt` know, by their C names:
//! parsing a name, the kind of value each takes, and setting and reading it.

use std::time::Duration;

use socket2::Socket;

use crate::errors::describe_errno;
use crate::kind::type_c_name;
use crate::parser::{parse_bool, SyntaxError, WordParser};
use crate::suggest::did_you_mean;

/// The options sockrepl knows, by C name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    ReuseAddr,
    ReusePort,
    KeepAlive,
    Broadcast,
    RcvBuf,
    SndBuf,
    Linger,
    Error,
    Type,
    NoDelay,
    V6Only,
    Ttl,
}

pub const OPTION_NAMES: &[(&str, SockOpt)] = &[
    ("SO_REUSEADDR", SockOpt::ReuseAddr),
    ("SO_REUSEPORT", SockOpt::ReusePort),
    ("SO_KEEPALIVE", SockOpt::KeepAlive),
    ("SO_BROADCAST", SockOpt::Broadcast),
    ("SO_RCVBUF", SockOpt::RcvBuf),
    ("SO_SNDBUF", SockOpt::SndBuf),
    ("SO_LINGER", SockOpt::Linger),
    ("SO_ERROR", SockOpt::Error),
    ("SO_TYPE", SockOpt::Type),
    ("TCP_NODELAY", SockOpt::NoDelay),
    ("IPV6_V6ONLY", SockOpt::V6Only),
    ("IP_TTL", SockOpt::Ttl),
];

/// A value to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptValue {
    Bool(bool),
    Number(u32),
    Linger(Option<u32>),
}

impl SockOpt {
    pub fn parse(word: &str) -> Result<Self, SyntaxError> {
        if let Some((_, opt)) = OPTION_NAMES.iter().find(|(name, _)| *name == word) {
            return Ok(*opt);
        }
        let names = OPTION_NAMES.iter().map(|(name, _)| *name);
        let mut message = format!("unknown option '{word}'");
        match did_you_mean(&word.to_ascii_uppercase(), names.clone()) {
            Some(suggestion) => message.push_str(&format!(" (did you mean {suggestion}?)")),
            None => message.push_str(&format!(
                " (known: {})",
                names.collect::<Vec<_>>().join(", ")
            )),
        }
        Err(SyntaxError::new(message))
    }

    pub fn name(self) -> &'static str {
        OPTION_NAMES
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("?", |(name, _)| name)
    }

    pub fn value_parser(self) -> Option<WordParser<OptValue>> {
        use SockOpt::*;
        match self {
            ReuseAddr | ReusePort | KeepAlive | Broadcast | NoDelay | V6Only => {
                Some(|w| parse_bool(w).map(OptValue::Bool))
            }
            RcvBuf | SndBuf | Ttl => Some(|w| {
                w.parse()
                    .map(OptValue::Number)
                    .map_err(|_| format!("'{w}' is not a number"))
            }),
            Linger => Some(|w| match w {
                "off" => Ok(OptValue::Linger(None)),
                _ => w
                    .parse()
                    .map(|s| OptValue::Linger(Some(s)))
                    .map_err(|_| format!("SO_LINGER takes seconds or off, not '{w}'")),
            }),
            Error | Type => None,
        }
    }

    pub fn set(self, socket: &Socket, value: OptValue) -> std::io::Result<()> {
        use OptValue::*;
        use SockOpt::*;
        match (self, value) {
            (ReuseAddr, Bool(on)) => socket.set_reuse_address(on),
            (ReusePort, Bool(on)) => socket.set_reuse_port(on),
            (KeepAlive, Bool(on)) => socket.set_keepalive(on),
            (Broadcast, Bool(on)) => socket.set_broadcast(on),
            (NoDelay, Bool(on)) => socket.set_nodelay(on),
            (V6Only, Bool(on)) => socket.set_only_v6(on),
            (RcvBuf, Number(n)) => socket.set_recv_buffer_size(n as usize),
            (SndBuf, Number(n)) => socket.set_send_buffer_size(n as usize),
            (Ttl, Number(n)) => socket.set_ttl(n),
            (SockOpt::Linger, OptValue::Linger(secs)) => {
                socket.set_linger(secs.map(|s| Duration::from_secs(s.into())))
            }
            _ => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }

    /// The option's current value, as the transcript shows it.
    pub fn get(self, socket: &Socket) -> std::io::Result<String> {
        use SockOpt::*;
        let flag = |on: bool| if on { "1" } else { "0" }.to_string();
        Ok(match self {
            ReuseAddr => flag(socket.reuse_address()?),
            ReusePort => flag(socket.reuse_port()?),
            KeepAlive => flag(socket.keepalive()?),
            Broadcast => flag(socket.broadcast()?),
            NoDelay => flag(socket.nodelay()?),
            V6Only => flag(socket.only_v6()?),
            RcvBuf => socket.recv_buffer_size()?.to_string(),
            SndBuf => socket.send_buffer_size()?.to_string(),
            Ttl => socket.ttl()?.to_string(),
            Linger => match socket.linger()? {
                None => "off".to_string(),
                Some(duration) => duration.as_secs().to_string(),
            },
            Error => match socket.take_error()? {
                None => "0".to_string(),
                Some(error) => describe_errno(nix::errno::Errno::from_raw(
                    error.raw_os_error().unwrap_or(0),
                )),
            },
            Type => {
                let socktype = socket.r#type()?;
                format!("{} ({})", i32::from(socktype), type_c_name(socktype))
            }
        })
    }
}

impl SockOpt {
    /// The option as Python names it: `socket.SOL_SOCKET, socket.SO_REUSEADDR`.
    pub fn python(self) -> String {
        let name = self.name();
        let level = match self {
            SockOpt::NoDelay => "IPPROTO_TCP",
            SockOpt::V6Only => "IPPROTO_IPV6",
            SockOpt::Ttl => "IPPROTO_IP",
            _ => "SOL_SOCKET",
        };
        format!("socket.{level}, socket.{name}")
    }
}

//! `setsockopt` and `getsockopt`, by the options' C names.

use std::time::Duration;

use socket2::Socket;

use super::Help;
use crate::errors::{describe_errno, Failure};
use crate::kind::type_c_name;
use crate::outcome::Outcome;
use crate::parser::{did_you_mean, parse_bool, Arg, Args, SyntaxError, WordParser};
use crate::session::Session;

pub const SET_HELP: Help = Help {
    name: "setsockopt",
    synopsis: "setsockopt NAME OPT VALUE",
    summary: "Set a socket option: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, \
              SO_RCVBUF, SO_SNDBUF, SO_LINGER (seconds or off), TCP_NODELAY, IPV6_V6ONLY, IP_TTL. \
              Booleans: 1/0, on/off, true/false.",
    python: "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    example: "setsockopt srv SO_REUSEADDR 1",
};

pub const GET_HELP: Help = Help {
    name: "getsockopt",
    synopsis: "getsockopt NAME OPT",
    summary: "Show a socket option; also SO_ERROR (the pending error, as an errno name) and \
              SO_TYPE (e.g. 1 (SOCK_STREAM)).",
    python: "s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)",
    example: "getsockopt cli SO_TYPE",
};

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
    fn parse(word: &str) -> Result<Self, SyntaxError> {
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

    fn value_parser(self) -> Option<WordParser<OptValue>> {
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

    fn set(self, socket: &Socket, value: OptValue) -> std::io::Result<()> {
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
    fn get(self, socket: &Socket) -> std::io::Result<String> {
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

#[derive(Debug, Clone)]
pub struct SetSockOpt {
    name: String,
    option: SockOpt,
    value: Arg<OptValue>,
}

impl SetSockOpt {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let option = SockOpt::parse(args.literal("OPT")?)?;
        let parser = option.value_parser().ok_or_else(|| {
            SyntaxError::new(format!("{} is read only: use getsockopt", option.name()))
        })?;
        let value = args.arg("VALUE", parser)?;
        Ok(SetSockOpt {
            name,
            option,
            value,
        })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let value = *self.value.get(session)?;
        let socket = &session.handle(&self.name)?.socket;
        self.option.set(socket, value)?;
        let now = self.option.get(socket)?;
        let asked = match value {
            OptValue::Bool(on) => if on { "1" } else { "0" }.to_string(),
            OptValue::Number(n) => n.to_string(),
            OptValue::Linger(None) => "off".to_string(),
            OptValue::Linger(Some(s)) => s.to_string(),
        };
        let mut text = format!("{} = {now}", self.option.name());
        if now != asked {
            text.push_str(&format!(
                " (asked for {asked}; the kernel adjusts buffer sizes)"
            ));
        }
        Ok(Outcome::Text(text))
    }
}

#[derive(Debug, Clone)]
pub struct GetSockOpt {
    name: String,
    option: SockOpt,
}

impl GetSockOpt {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let option = SockOpt::parse(args.literal("OPT")?)?;
        Ok(GetSockOpt { name, option })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let socket = &session.handle(&self.name)?.socket;
        let value = self.option.get(socket)?;
        Ok(Outcome::Text(format!("{} = {value}", self.option.name())))
    }
}

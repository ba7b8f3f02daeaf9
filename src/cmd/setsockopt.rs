//! `setsockopt`: set a socket option by its C name.

use super::sockopt::{OptValue, SockOpt};
use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SETSOCKOPT];

pub const SETSOCKOPT: Spec = Spec {
    name: "setsockopt",
    synopsis: "setsockopt NAME OPT VALUE",
    summary: "Set a socket option: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, \
              SO_RCVBUF, SO_SNDBUF, SO_LINGER (seconds or off), TCP_NODELAY, IPV6_V6ONLY, IP_TTL. \
              Booleans: 1/0, on/off, true/false.",
    python: "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    example: "setsockopt srv SO_REUSEADDR 1",
    args: &[Slot::Handle(Fits::Any), Slot::SockOpt, Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| SetSockOpt::parse(args).map(Command::from),
};

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

}

impl Run for SetSockOpt {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let value = *session.resolve(&self.value)?;
        let socket = session.handle(&self.name)?.socket()?;
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

impl crate::export::Export for SetSockOpt {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let value = match &self.value {
            Arg::Ready(OptValue::Bool(on)) => u8::from(*on).to_string(),
            Arg::Ready(OptValue::Number(n)) => n.to_string(),
            Arg::Ready(OptValue::Linger(Some(n))) => {
                out.import("struct");
                format!("struct.pack('ii', 1, {n})")
            }
            Arg::Ready(OptValue::Linger(None)) => {
                out.import("struct");
                "struct.pack('ii', 0, 0)".to_string()
            }
            Arg::Later(word, _) => {
                out.helper("number");
                format!("number({})", out.text(word))
            }
        };
        out.line(format!("{s}.setsockopt({}, {value})", self.option.python()));
        Ok(())
    }
}

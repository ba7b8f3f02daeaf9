//! `getsockname` and `getpeername`: show a socket's two addresses.

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[GETSOCKNAME, GETPEERNAME];

pub const GETSOCKNAME: Spec = Spec {
    name: "getsockname",
    synopsis: "getsockname NAME",
    summary: "Show the socket's local address (after bind, connect or listen).",
    python: "s.getsockname()",
    example: "getsockname srv",
    args: &[Slot::Handle(Fits::Any)],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Name::parse(args, false).map(Command::from),
};

pub const GETPEERNAME: Spec = Spec {
    name: "getpeername",
    synopsis: "getpeername NAME",
    summary: "Show the address of the connected peer (ENOTCONN when not connected).",
    python: "s.getpeername()",
    example: "getpeername conn",
    args: &[Slot::Handle(Fits::NotListening)],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Name::parse(args, true).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Name {
    name: String,
    peer: bool,
}

impl Name {
    pub fn parse(args: &mut Args, peer: bool) -> Result<Self, SyntaxError> {
        Ok(Name {
            name: args.handle()?,
            peer,
        })
    }
}

impl Run for Name {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let socket = session.handle(&self.name)?.socket()?;
        let addr = if self.peer {
            socket.peer_addr()
        } else {
            socket.local_addr()
        };
        let (local, peer) = (socket.local_addr()?, socket.peer_addr().ok());
        Ok(Outcome::Address(Endpoint::on(addr?, socket.kind, local, peer)))
    }
}

impl crate::export::Export for Name {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let call = if self.peer { "getpeername" } else { "getsockname" };
        out.line(format!("print({s}.{call}())"));
        Ok(())
    }
}

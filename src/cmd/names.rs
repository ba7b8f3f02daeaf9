//! `getsockname` and `getpeername`: show a socket's two addresses.

use super::Help;
use crate::errors::Failure;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SOCKNAME_HELP: Help = Help {
    name: "getsockname",
    synopsis: "getsockname NAME",
    summary: "Show the socket's local address (after bind, connect or listen).",
    python: "s.getsockname()",
    example: "getsockname srv",
};

pub const PEERNAME_HELP: Help = Help {
    name: "getpeername",
    synopsis: "getpeername NAME",
    summary: "Show the address of the connected peer (ENOTCONN when not connected).",
    python: "s.getpeername()",
    example: "getpeername conn",
};

#[derive(Debug, Clone)]
pub struct Name {
    name: String,
    peer: bool,
}

impl Name {
    pub fn parse(command: &str, args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Name {
            name: args.handle()?,
            peer: command == "getpeername",
        })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let handle = session.handle(&self.name)?;
        let socket = &handle.socket;
        let addr = if self.peer {
            socket.peer_addr()
        } else {
            socket.local_addr()
        };
        Ok(Outcome::Address(Endpoint {
            addr: addr?,
            kind: handle.kind,
        }))
    }
}

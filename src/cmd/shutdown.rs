//! `shutdown`: half-close a connection.

use std::net::Shutdown as How;

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SHUTDOWN];

pub const SHUTDOWN: Spec = Spec {
    name: "shutdown",
    synopsis: "shutdown NAME read|write|both",
    summary: "Half-close: write sends end of stream (FIN) to the peer but keeps reading; read \
              stops receiving; both does the two.",
    python: "s.shutdown(socket.SHUT_WR)",
    example: "shutdown cli write",
    args: &[
        Slot::Handle(Fits::NotListening),
        Slot::Choice(&["read", "write", "both"]),
    ],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Shutdown::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Shutdown {
    name: String,
    how: How,
}

impl Shutdown {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let how = match args.literal("read|write|both")? {
            "read" => How::Read,
            "write" => How::Write,
            "both" => How::Both,
            other => return Err(args.usage_error(&format!("'{other}' is not read, write or both"))),
        };
        Ok(Shutdown { name, how })
    }

}

impl Run for Shutdown {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let socket = session.handle_mut(&self.name)?.socket_mut()?;
        socket.shutdown(self.how).map_err(|e| {
            Failure::from(e).with_hint(|errno| {
                (errno == nix::errno::Errno::ENOTCONN)
                    .then(|| "only a connected socket can shut down".to_string())
            })
        })?;
        socket.reading_shut |= matches!(self.how, How::Read | How::Both);
        let text = match self.how {
            How::Read => "shut down reading (SHUT_RD)",
            How::Write => "shut down writing (SHUT_WR): the peer will see end of stream",
            How::Both => "shut down both ways (SHUT_RDWR)",
        };
        Ok(Outcome::Text(text.to_string()))
    }
}

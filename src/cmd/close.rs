//! `close`: close a socket and forget its handle.

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[CLOSE];

pub const CLOSE: Spec = Spec {
    name: "close",
    synopsis: "close NAME",
    summary:
        "Close the socket and forget the handle; a Unix socket file its bind created is removed.",
    python: "s.close()",
    example: "close cli",
    args: &[Slot::Handle(Fits::Any)],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Close::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Close {
    name: String,
}

impl Close {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Close {
            name: args.handle()?,
        })
    }

}

impl Run for Close {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let removed = session.remove(&self.name)?.close();
        Ok(Outcome::Closed { removed })
    }
}

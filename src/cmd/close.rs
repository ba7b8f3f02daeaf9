//! `close`: close a socket and forget its handle.

use super::Help;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const HELP: Help = Help {
    name: "close",
    synopsis: "close NAME",
    summary:
        "Close the socket and forget the handle; a Unix socket file its bind created is removed.",
    python: "s.close()",
    example: "close cli",
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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let removed = session.remove(&self.name)?.close();
        Ok(Outcome::Closed { removed })
    }
}

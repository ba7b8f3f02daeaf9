//! `exit` and `quit`: leave the session, closing every handle.

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[EXIT, QUIT];

pub const EXIT: Spec = Spec {
    name: "exit",
    synopsis: "exit [STATUS]",
    summary: "Leave, closing every handle, with STATUS (default 0).",
    python: "sys.exit(0)",
    example: "exit",
    args: &[Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Exit::parse(args).map(Command::from),
};

pub const QUIT: Spec = Spec {
    name: "quit",
    synopsis: "quit",
    summary: "Leave, closing every handle.",
    python: "quit()",
    example: "quit",
    args: &[],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |_| {
        Ok(Command::from(Exit {
            status: Arg::Ready(0),
        }))
    },
};

#[derive(Debug, Clone)]
pub struct Exit {
    pub status: Arg<i32>,
}

impl Exit {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let status = match args.optional_arg(parse_status) {
            Ok(status) => status.unwrap_or(Arg::Ready(0)),
            // The usage shows how exit is written.
            Err(error) => return Err(args.usage_error(&error.message)),
        };
        Ok(Exit { status })
    }
}

fn parse_status(word: &str) -> Result<i32, String> {
    match word.parse::<i32>() {
        Ok(n) if (0..=255).contains(&n) => Ok(n),
        _ => Err(format!("bad status '{word}': a number from 0 to 255")),
    }
}

impl Run for Exit {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        Ok(Outcome::Exit(*session.resolve(&self.status)?))
    }
}

impl crate::export::Export for Exit {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let status = out.number(&self.status);
        out.line(format!("sys.exit({status})"));
        Ok(())
    }
}

//! `settimeout`: how long blocking commands on one handle wait.

use std::time::Duration;

use super::setblocking::NON_BLOCKING;
use super::timeout::describe;
use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::session::Session;
use crate::duration::parse_timeout;
use crate::handle::HandleTimeout;
use crate::parser::{Arg, Args, SyntaxError};

pub const SPECS: &[Spec] = &[SETTIMEOUT];

pub const SETTIMEOUT: Spec = Spec {
    name: "settimeout",
    synopsis: "settimeout NAME DUR|none",
    summary: "Set how long blocking commands on this socket wait before failing with TIMEOUT; \
              none blocks forever and 0s never waits (as setblocking off), as in Python, where \
              settimeout and setblocking set the same timeout.",
    python: "s.settimeout(2.0)",
    example: "settimeout conn 250ms",
    args: &[Slot::Handle(Fits::Any), Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| SetTimeout::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct SetTimeout {
    name: String,
    timeout: Arg<Option<Duration>>,
}

impl SetTimeout {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(SetTimeout {
            name: args.handle()?,
            timeout: args.arg("DUR", parse_timeout)?,
        })
    }

}

impl Run for SetTimeout {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let timeout = *session.resolve(&self.timeout)?;
        let state = HandleTimeout::from_settimeout(timeout);
        session.handle_mut(&self.name)?.timeout = state;
        Ok(Outcome::Text(match state {
            HandleTimeout::NonBlocking => format!("{}: {NON_BLOCKING}", describe(timeout)),
            _ => describe(timeout),
        }))
    }
}

impl crate::export::Export for SetTimeout {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let timeout = out.timeout(&self.timeout);
        if out.kind_of(&self.name) == Some(crate::export::HandleKind::Program) {
            out.line(format!("# settimeout {}: a program's pipe waits the session's timeout here", self.name));
            return Ok(());
        }
        out.line(format!("{s}.settimeout({timeout})"));
        out.untrack(&s);
        Ok(())
    }
}

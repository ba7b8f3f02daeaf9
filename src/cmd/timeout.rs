//! `timeout`: the session's default for blocking commands.

use std::time::Duration;

use super::{Command, Run, Scope, Slot, Spec};
use crate::duration::{format_duration, parse_timeout};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[TIMEOUT];

pub const TIMEOUT: Spec = Spec {
    name: "timeout",
    synopsis: "timeout DUR|none",
    summary: "Set the session's default timeout for blocking commands (5s unless --timeout says otherwise).",
    python: "socket.setdefaulttimeout(2.0)",
    example: "timeout 2s",
    args: &[Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Timeout::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Timeout {
    timeout: Arg<Option<Duration>>,
}

impl Timeout {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Timeout {
            timeout: args.arg("DUR", parse_timeout)?,
        })
    }

}

impl Run for Timeout {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let timeout = *session.resolve(&self.timeout)?;
        session.default_timeout = timeout;
        Ok(Outcome::Text(format!("default {}", describe(timeout))))
    }
}

/// `timeout 2s` or `timeout none: blocks forever`.
pub(super) fn describe(timeout: Option<Duration>) -> String {
    match timeout {
        Some(duration) => format!("timeout {}", format_duration(duration)),
        None => "timeout none: blocks forever".to_string(),
    }
}

impl crate::export::Export for Timeout {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let timeout = out.timeout(&self.timeout);
        out.helper("track");
        out.line(format!("set_default_timeout({timeout})"));
        Ok(())
    }
}

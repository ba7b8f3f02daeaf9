//! `settimeout`, `setblocking` and `timeout`: how long blocking commands wait.

use std::time::Duration;

use super::Help;
use crate::duration::{format_duration, parse_timeout};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{parse_bool, Arg, Args, SyntaxError};
use crate::session::Session;

pub const SETTIMEOUT_HELP: Help = Help {
    name: "settimeout",
    synopsis: "settimeout NAME DUR|none",
    summary: "Set how long blocking commands on this socket wait before failing with TIMEOUT; \
              none blocks forever.",
    python: "s.settimeout(2.0)",
    example: "settimeout conn 250ms",
};

pub const SETBLOCKING_HELP: Help = Help {
    name: "setblocking",
    synopsis: "setblocking NAME on|off",
    summary: "off: calls that would block fail at once with EAGAIN instead of waiting.",
    python: "s.setblocking(False)",
    example: "setblocking conn off",
};

pub const TIMEOUT_HELP: Help = Help {
    name: "timeout",
    synopsis: "timeout DUR|none",
    summary: "Set the session's default timeout for blocking commands (5s unless --timeout says otherwise).",
    python: "socket.setdefaulttimeout(2.0)",
    example: "timeout 2s",
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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let timeout = *self.timeout.get(session)?;
        session.handle_mut(&self.name)?.timeout = Some(timeout);
        Ok(Outcome::Text(describe(timeout)))
    }
}

fn describe(timeout: Option<Duration>) -> String {
    match timeout {
        Some(duration) => format!("timeout {}", format_duration(duration)),
        None => "timeout none: blocks forever".to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct SetBlocking {
    name: String,
    blocking: bool,
}

impl SetBlocking {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let blocking = parse_bool(args.literal("on|off")?).map_err(SyntaxError::new)?;
        Ok(SetBlocking { name, blocking })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.handle_mut(&self.name)?.blocking = self.blocking;
        Ok(Outcome::Text(
            if self.blocking {
                "blocking: calls wait (up to the timeout)"
            } else {
                "non-blocking: calls that would wait fail with EAGAIN"
            }
            .to_string(),
        ))
    }
}

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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let timeout = *self.timeout.get(session)?;
        session.default_timeout = timeout;
        Ok(Outcome::Text(format!("default {}", describe(timeout))))
    }
}

//! `setblocking`: whether calls that would block wait or fail with EAGAIN.

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::handle::HandleTimeout;
use crate::outcome::Outcome;
use crate::session::Session;
use crate::parser::{parse_bool, Args, SyntaxError};

pub const SPECS: &[Spec] = &[SETBLOCKING];

/// What `setblocking on` leaves: Python's `settimeout(None)`.
const BLOCKING: &str = "blocking: calls wait without a limit (timeout none; Ctrl-C cancels)";
/// What a non-blocking handle does, for `setblocking off` and `settimeout 0s`.
pub(super) const NON_BLOCKING: &str = "calls that would wait fail with EAGAIN";

pub const SETBLOCKING: Spec = Spec {
    name: "setblocking",
    synopsis: "setblocking NAME on|off",
    summary: "off: calls that would block fail at once with EAGAIN instead of waiting; on: \
              they wait without a limit. As in Python, this sets the socket's one timeout: \
              off is settimeout 0s, on is settimeout none.",
    python: "s.setblocking(False)",
    example: "setblocking conn off",
    args: &[Slot::Handle(Fits::Any), Slot::Choice(&["on", "off"])],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| SetBlocking::parse(args).map(Command::from),
};

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

}

impl Run for SetBlocking {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.handle_mut(&self.name)?.timeout = HandleTimeout::from_setblocking(self.blocking);
        Ok(Outcome::Text(if self.blocking {
            BLOCKING.to_string()
        } else {
            format!("non-blocking: {NON_BLOCKING}")
        }))
    }
}

impl crate::export::Export for SetBlocking {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let on = if self.blocking { "True" } else { "False" };
        out.line(format!("{s}.setblocking({on})"));
        out.untrack(&s);
        Ok(())
    }
}

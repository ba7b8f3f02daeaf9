//! `sleep`: pause the script (Ctrl-C still ends the pause).

use std::time::Duration;

use super::{Command, Run, Scope, Slot, Spec};
use crate::duration::parse_duration;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SLEEP];

pub const SLEEP: Spec = Spec {
    name: "sleep",
    synopsis: "sleep DUR",
    summary: "Pause (250ms, 1.5s, 2s, 1m).",
    python: "time.sleep(0.25)",
    example: "sleep 100ms",
    args: &[Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Sleep::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Sleep {
    duration: Arg<Duration>,
}

impl Sleep {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Sleep {
            duration: args.arg("DUR", parse_duration)?,
        })
    }
}

impl Run for Sleep {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let duration = *session.resolve(&self.duration)?;
        session.out.flush();
        crate::wait::sleep(duration)?;
        Ok(Outcome::Nothing)
    }
}

impl crate::export::Export for Sleep {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let seconds = out.seconds(&self.duration);
        out.import("time");
        out.line(format!("time.sleep({seconds})"));
        Ok(())
    }
}

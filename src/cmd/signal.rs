//! `signal`: send a signal to a spawned program (SPEC §13), to check how
//! a student's server handles SIGINT or SIGTERM.

use nix::sys::signal::Signal;

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::program::{parse_signal, signal_name};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SIGNAL];

pub const SIGNAL: Spec = Spec {
    name: "signal",
    synopsis: "signal NAME SIGNAME",
    summary: "Send a signal (SIGTERM, SIGINT, SIGKILL, SIGHUP, SIGUSR1...) to the program and \
              every process it started (its process group).",
    python: "os.killpg(p.pid, signal.SIGTERM)",
    example: "signal srv SIGINT",
    args: &[Slot::Handle(Fits::Any), Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| SignalCommand::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct SignalCommand {
    name: String,
    signal: Arg<Signal>,
}

impl SignalCommand {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(SignalCommand {
            name: args.handle()?,
            signal: args.arg("SIGNAME", parse_signal)?,
        })
    }
}

impl Run for SignalCommand {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let signal = *session.resolve(&self.signal)?;
        let program = session.handle(&self.name)?.program()?;
        program.signal(signal)?;
        Ok(Outcome::Text(format!("sent {}", signal_name(signal))))
    }
}

impl crate::export::Export for SignalCommand {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let p = out.handle(&self.name);
        out.import("signal");
        let signal = match &self.signal {
            Arg::Ready(signal) => format!("signal.{}", signal.as_str()),
            Arg::Later(word, _) => format!("getattr(signal, {})", out.text(word)),
        };
        out.import("os");
        out.line(format!("os.killpg({p}.pid, {signal})  # to its process group, as sockrepl does"));
        Ok(())
    }
}

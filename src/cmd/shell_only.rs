//! The shell's own commands, `record` and `set`: described and parsed
//! like every other command, so help, completion and the docs know them,
//! but run by the shell (`repl`), which owns what they change. A script
//! that names one is told before it runs that it works only at the prompt.

use std::path::PathBuf;

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{parse_bool, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SET, RECORD];

pub const SET: Spec = Spec {
    name: "set",
    synopsis: "set notify on|off",
    summary:
        "Shell only. Turn the live notifications ([srv] connection waiting, [conn] 12 bytes ready, \
              [conn] peer closed) that appear while the prompt waits on or off.",
    python: "-",
    example: "set notify off",
    args: &[Slot::Choice(&["notify"]), Slot::Choice(&["on", "off"])],
    repeats: false,
    flags: &[],
    scope: Scope::Shell,
    parse: |args| SetNotify::parse(args).map(Command::from),
};

pub const RECORD: Spec = Spec {
    name: "record",
    synopsis: "record FILE|stop",
    summary: "Shell only. Write each command that runs successfully to FILE, a new script that \
              'sockrepl run FILE' replays (a FILE that already holds something is refused, never \
              added to); the session's own addresses are written as ${H.addr} so it replays on \
              any port. 'record stop' ends the recording.",
    python: "-",
    example: "record echo.sock",
    args: &[Slot::RecordTarget],
    repeats: false,
    flags: &[],
    scope: Scope::Shell,
    parse: |args| Record::parse(args).map(Command::from),
};

/// `set notify on|off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetNotify {
    pub on: bool,
}

impl SetNotify {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        if args.literal("notify")? != "notify" {
            return Err(args.usage_error("the shell has one setting, notify"));
        }
        let on = parse_bool(args.literal("on|off")?).map_err(SyntaxError::new)?;
        Ok(SetNotify { on })
    }
}

/// `record FILE` or `record stop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Start(PathBuf),
    Stop,
}

impl Record {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(match args.literal("FILE|stop")? {
            "stop" => Record::Stop,
            path => Record::Start(PathBuf::from(path)),
        })
    }
}

/// The shell runs these itself; the interpreter never gets them.
fn shell_only(name: &str) -> Failure {
    Failure::usage(format!(
        "{name} works only at the interactive shell's prompt"
    ))
}

impl Run for SetNotify {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(shell_only(SET.name))
    }
}

impl Run for Record {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(shell_only(RECORD.name))
    }
}

impl crate::export::Export for Record {
    fn export(&self, _: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        Err(crate::export::Refused::new("record works only at the shell's prompt"))
    }
}

impl crate::export::Export for SetNotify {
    fn export(&self, _: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        Err(crate::export::Refused::new("set works only at the shell's prompt"))
    }
}

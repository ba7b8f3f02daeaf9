//! `wait`: an assertion about how a spawned program ends (SPEC §13), the
//! grader's "did the student's program exit cleanly?".

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::framing::describe_arrived;
use crate::handle::ProgramIo;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::program::{ExitStatus, ExpectedExit};
use crate::session::Session;

pub const SPECS: &[Spec] = &[WAIT];

pub const WAIT: Spec = Spec {
    name: "wait",
    synopsis: "wait NAME [STATUS|SIGNAME]",
    summary: "Wait (at most the timeout) until the program exits, and assert how: with STATUS \
              (default 0), or killed by the signal SIGNAME (SIGTERM...). Its output stays \
              buffered for recv.",
    python: "assert p.wait(timeout=5) == 0",
    example: "wait client 0",
    args: &[Slot::Handle(Fits::Any), Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Wait::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Wait {
    name: String,
    expected: Arg<ExpectedExit>,
}

impl Wait {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let expected = args
            .optional_arg(|word| word.parse())?
            .unwrap_or(Arg::Ready(ExpectedExit::Code(0)));
        Ok(Wait { name, expected })
    }
}

impl Run for Wait {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let expected = *session.resolve(&self.expected)?;
        let handle = session.handle(&self.name)?;
        let program = handle.program()?;
        let deadline = session.deadline(handle).start();
        session.out.flush();
        let status = program
            .wait_exit(deadline, "no exit")
            .map_err(|failure| still_running(&self.name, failure))?;
        if !status.matches(expected) {
            return Err(Failure::Assertion(mismatch(program, status, expected)));
        }
        Ok(Outcome::Text(format!("ok: it {status}")))
    }
}

/// A timeout says the program is still running and how to end it.
fn still_running(name: &str, failure: Failure) -> Failure {
    match failure {
        Failure::Timeout { .. } => failure.with_progress(format!(
            "{name} is still running: close {name} ends it"
        )),
        other => other,
    }
}

/// Expected against actual, and the output nobody read yet: usually what
/// says why (a traceback, a usage message).
fn mismatch(program: &ProgramIo, status: ExitStatus, expected: ExpectedExit) -> String {
    let mut message = format!("it {status}, expected: {expected}");
    let unread = program.program().buffered().to_vec();
    if !unread.is_empty() {
        message.push_str(&format!("; its unread output: {}", describe_arrived(&unread)));
    }
    message
}

impl crate::export::Export for Wait {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let p = out.handle(&self.name);
        let expected = match &self.expected {
            Arg::Ready(ExpectedExit::Code(code)) => code.to_string(),
            // `signal` is imported with the spawn helpers every program needs.
            Arg::Ready(ExpectedExit::Signal(signal)) => format!("-signal.{}", signal.as_str()),
            Arg::Later(word, _) => {
                out.helper("number");
                format!("number({})", out.text(word))
            }
        };
        out.helper("wait_program");
        out.helper("programs");
        out.asserts();
        out.line(format!("print('exit status', wait_program({p}, {expected}))"));
        Ok(())
    }
}

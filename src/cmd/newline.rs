//! `newline`: the line ending `sendline` adds, `\n` or `\r\n`.

use super::{Command, Run, Scope, Slot, Spec};
use crate::data::bytes_literal;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::variables::LineEnding;
use crate::session::Session;

pub const SPECS: &[Spec] = &[NEWLINE];

pub const NEWLINE: Spec = Spec {
    name: "newline",
    synopsis: "newline lf|crlf",
    summary: "Choose the line ending sendline adds: lf (\\n, the default) or crlf (\\r\\n, as \
              HTTP, SMTP and Redis want).",
    python: "newline = b'\\r\\n'  # pwntools: context.newline = b'\\r\\n'",
    example: "newline crlf",
    args: &[Slot::Choice(&["lf", "crlf"])],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| NewLine::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct NewLine {
    ending: LineEnding,
}

impl NewLine {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let ending = match args.literal("lf|crlf")? {
            "lf" => LineEnding::Lf,
            "crlf" => LineEnding::CrLf,
            other => {
                return Err(args.usage_error(&format!("'{other}' is not lf or crlf")));
            }
        };
        Ok(NewLine { ending })
    }
}

impl Run for NewLine {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.line_ending = self.ending;
        Ok(Outcome::Text(format!(
            "sendline now ends lines with {}",
            bytes_literal(self.ending.bytes())
        )))
    }
}

impl crate::export::Export for NewLine {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        out.uses_newline = true;
        match self.ending {
            LineEnding::Lf => out.line("NEWLINE = b'\\n'"),
            LineEnding::CrLf => out.line("NEWLINE = b'\\r\\n'"),
        }
        Ok(())
    }
}

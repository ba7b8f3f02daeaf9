//! `print`: a line of the script's own in the transcript.

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::lexer::Word;
use crate::outcome::Outcome;
use crate::parser::Args;
use crate::session::expand::Show;
use crate::session::Session;

pub const SPECS: &[Spec] = &[PRINT];

pub const PRINT: Spec = Spec {
    name: "print",
    synopsis: "print TEXT...",
    summary: "Write a line to the transcript.",
    python: "print('Received', repr(data))",
    example: "print server listening on ${srv.addr}",
    args: &[Slot::Text],
    repeats: true,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Ok(Command::from(Print::parse(args))),
};

#[derive(Debug, Clone)]
pub struct Print {
    words: Vec<Word>,
}

impl Print {
    pub fn parse(args: &mut Args) -> Self {
        Print {
            words: args.rest().into_iter().cloned().collect(),
        }
    }
}

impl Run for Print {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let mut line = Vec::with_capacity(self.words.len());
        for word in &self.words {
            line.push(session.show_word(word, Show::Print)?);
        }
        Ok(Outcome::Text(line.join(" ")))
    }
}

impl crate::export::Export for Print {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let words: Vec<String> = self.words.iter().map(|w| out.text(w)).collect();
        out.line(format!("print({})", words.join(", ")));
        Ok(())
    }
}

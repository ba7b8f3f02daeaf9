//! `fails`: assert that a command fails, with a given errno or TIMEOUT.

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::{all_error_names, ErrorName, Failure};
use crate::lexer::Word;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;
use crate::suggest::did_you_mean;

pub const SPECS: &[Spec] = &[FAILS];

pub const FAILS: Spec = Spec {
    name: "fails",
    synopsis: "fails [ERRNAME] COMMAND...",
    summary: "Assert that COMMAND fails (with that errno name, or TIMEOUT); the session goes on. \
              Names match by value, so EAGAIN and EWOULDBLOCK are the same.",
    python: "with pytest.raises(ConnectionRefusedError): s.connect(addr)",
    example: "fails ECONNREFUSED connect cli 127.0.0.1:1",
    args: &[Slot::Wrapped],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Fails::parse(args).map(Command::from),
};

/// How many `fails` one line may nest.
const MAX_NESTING: usize = 8;

#[derive(Debug, Clone)]
pub struct Fails {
    expected: Option<ErrorName>,
    command: Box<Command>,
}

impl Fails {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let words: Vec<Word> = args.rest().into_iter().cloned().collect();
        let first = words.first().and_then(Word::literal).ok_or_else(|| {
            SyntaxError::new("missing COMMAND (usage: fails [ERRNAME] COMMAND...)")
        })?;
        let (expected, command_words) = if super::spec(first).is_some() {
            (None, &words[..])
        } else {
            (Some(parse_error_name(first)?), &words[1..])
        };
        // Each `fails` parses the rest of the line again: a line of
        // thousands of them must not recurse thousands deep.
        let depth = words
            .iter()
            .filter(|w| w.literal() == Some("fails"))
            .count();
        if depth >= MAX_NESTING {
            return Err(SyntaxError::new(format!(
                "fails nests more than {MAX_NESTING} deep"
            )));
        }
        if command_words.is_empty() {
            return Err(SyntaxError::new(
                "missing COMMAND (usage: fails [ERRNAME] COMMAND...)",
            ));
        }
        let command = Command::parse(command_words)?;
        if command.is_control() {
            return Err(SyntaxError::new(
                "fails wraps a command that can fail on a socket",
            ));
        }
        Ok(Fails {
            expected,
            command: Box::new(command),
        })
    }

}

impl Run for Fails {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let failure = match self.command.apply(session) {
            Ok(_) => {
                let wanted = self
                    .expected
                    .map(|e| format!(" with {e}"))
                    .unwrap_or_default();
                return Err(Failure::Assertion(format!(
                    "expected a failure{wanted}, but the command succeeded"
                )));
            }
            Err(failure) => failure,
        };
        let named = self.expected.is_some_and(|e| failure.matches(&e));
        if !failure.is_expectable() && !named {
            return Err(failure);
        }
        match self.expected {
            Some(expected) if !failure.matches(&expected) => Err(Failure::Assertion(format!(
                "expected {expected}, but it failed with {failure}"
            ))),
            _ => Ok(Outcome::FailedAsExpected(failure)),
        }
    }

    fn sets(&self) -> Vec<String> {
        self.command.sets()
    }
}

fn parse_error_name(word: &str) -> Result<ErrorName, SyntaxError> {
    if let Some(name) = ErrorName::parse(word) {
        return Ok(name);
    }
    let names = all_error_names();
    let suggestion = did_you_mean(word, names.iter().map(String::as_str))
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default();
    if word.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        Err(SyntaxError::new(format!(
            "unknown error name '{word}'{suggestion}"
        )))
    } else {
        Err(SyntaxError::new(format!(
            "'{word}' is neither a command nor an error name (usage: fails [ERRNAME] COMMAND...)"
        )))
    }
}

impl crate::export::Export for Fails {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        out.line("try:");
        out.w.indent();
        self.command.export(out)?;
        out.w.end_block();
        match &self.expected {
            Some(ErrorName::Timeout) => {
                out.line("except TimeoutError:");
                out.line("    pass  # TIMEOUT, as expected");
            }
            Some(ErrorName::Errno(errno)) => {
                let name = crate::errors::errno_name(*errno);
                out.import("errno");
                out.asserts();
                out.line("except OSError as e:");
                out.line(format!("    assert e.errno == errno.{name}, e"));
            }
            None => {
                // Every failure but a handle that does not exist (a
                // NameError) and Ctrl-C (not an Exception), as sockrepl.
                out.line("except NameError:");
                out.line("    raise");
                out.line("except Exception:");
                out.line("    pass  # a failure, as expected");
            }
        }
        out.line("else:");
        out.line("    raise AssertionError('expected a failure, but the command succeeded')");
        Ok(())
    }
}

//! `sleep`, `print` and `exit`: commands about the session, not a socket.

use std::time::Duration;

use super::Help;
use crate::duration::parse_duration;
use crate::errors::Failure;
use crate::lexer::Word;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SLEEP_HELP: Help = Help {
    name: "sleep",
    synopsis: "sleep DUR",
    summary: "Pause (250ms, 1.5s, 2s, 1m).",
    python: "time.sleep(0.25)",
    example: "sleep 100ms",
};

pub const PRINT_HELP: Help = Help {
    name: "print",
    synopsis: "print TEXT...",
    summary: "Write a line to the transcript.",
    python: "print('Received', repr(data))",
    example: "print server listening on ${srv.addr}",
};

pub const EXIT_HELP: Help = Help {
    name: "exit",
    synopsis: "exit [STATUS]",
    summary: "Leave, closing every handle, with STATUS (default 0).",
    python: "sys.exit(0)",
    example: "exit",
};

pub const QUIT_HELP: Help = Help {
    name: "quit",
    synopsis: "quit",
    summary: "Leave, closing every handle.",
    python: "quit()",
    example: "quit",
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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let duration = *self.duration.get(session)?;
        session.out.flush();
        crate::wait::sleep(duration)?;
        Ok(Outcome::Nothing)
    }
}

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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let mut line = Vec::with_capacity(self.words.len());
        for word in &self.words {
            line.push(session.expand(word)?.1);
        }
        Ok(Outcome::Text(line.join(" ")))
    }
}

#[derive(Debug, Clone)]
pub struct Exit {
    pub status: i32,
}

impl Exit {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let status = match args.optional_literal() {
            None => 0,
            Some(word) => match word.parse::<i32>() {
                Ok(n) if (0..=255).contains(&n) => n,
                _ => {
                    return Err(
                        args.usage_error(&format!("bad status '{word}': a number from 0 to 255"))
                    )
                }
            },
        };
        Ok(Exit { status })
    }
}

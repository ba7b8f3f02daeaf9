//! `repeat N [--as VAR]` … `end`: run the lines between N times.
//!
//! A server answering 50 clients, a load of 100,000 requests: one block
//! instead of 50 copies. The loader (`script.rs`) gathers the lines up to
//! the matching `end` into the block, so an unbalanced block is a syntax
//! error before the script runs; the interpreter runs the block, counting
//! from 0 in VAR, and names the iteration when a line inside fails.

use std::sync::Arc;

use super::recv::check_new_variable;
use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::script::Line;
use crate::session::Session;

pub const SPECS: &[Spec] = &[REPEAT, END];

pub const REPEAT: Spec = Spec {
    name: "repeat",
    synopsis: "repeat N [--as VAR]",
    summary: "Run the lines up to the matching end N times (N may be ${NAME}); with --as, VAR \
              counts the turns from 0. Blocks nest; a failure inside names the line and the turn.",
    python: "for i in range(n):",
    example: "repeat 3 --as i",
    args: &[Slot::Value],
    repeats: false,
    flags: &[AS_VAR],
    scope: Scope::Language,
    parse: |args| Repeat::parse(args).map(Command::from),
};

pub const END: Spec = Spec {
    name: "end",
    synopsis: "end",
    summary: "End the block of the nearest repeat above it.",
    python: "(the end of the for loop's indented block)",
    example: "end",
    args: &[],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |_| Ok(Command::from(BlockEnd)),
};

const AS_VAR: super::Flag = super::Flag::with("--as", Slot::NewVariable);

/// The largest N: far beyond any script, but a typo must not run forever.
const LARGEST_COUNT: u64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Repeat {
    pub count: Arg<u64>,
    /// `--as VAR`: the turn, counted from 0.
    pub counter: Option<String>,
    /// The lines up to the matching `end`, filled in by the loader.
    pub body: Arc<Vec<Line>>,
    /// The line number of the matching `end`, and its echo.
    pub end: Option<Arc<Line>>,
}

impl Repeat {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let counter = match args.option("--as")? {
            Some(word) => Some(check_new_variable(word.literal().ok_or_else(|| {
                args.usage_error("--as takes a variable name, not ${...}")
            })?)?),
            None => None,
        };
        let count = args.arg("N", parse_count)?;
        Ok(Repeat {
            count,
            counter,
            body: Arc::new(Vec::new()),
            end: None,
        })
    }
}

fn parse_count(word: &str) -> Result<u64, String> {
    match word.parse::<u64>() {
        Ok(n) if n <= LARGEST_COUNT => Ok(n),
        _ => Err(format!(
            "bad count '{word}': a number of turns from 0 to {LARGEST_COUNT}"
        )),
    }
}

impl Run for Repeat {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(Failure::usage("repeat runs only from the interpreter"))
    }

    fn sets(&self) -> Vec<String> {
        self.counter.iter().cloned().collect()
    }
}

/// `end`: closes a block; the loader takes it, and it does nothing itself.
#[derive(Debug, Clone)]
pub struct BlockEnd;

impl Run for BlockEnd {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Ok(Outcome::Nothing)
    }
}

impl crate::export::Export for Repeat {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let count = out.number(&self.count);
        let turn = out.temporary("turn");
        out.line(format!("for {turn} in range({count}):"));
        let header = out.w.lines.len() - 1;
        out.w.indent();
        if let Some(name) = &self.counter {
            out.constants.insert(name.clone(), None);
            let variable = crate::export::python::variable(name);
            out.line(format!("{variable} = str({turn}).encode()"));
        }
        let before = out.live_handles();
        out.lines(&self.body)?;
        if let Some(end) = &self.end {
            out.comments(&end.comments);
        }
        // A handle the body makes and does not close is still there on the
        // next turn, where sockrepl refuses to make it again.
        let kept: Vec<String> = out
            .live_handles()
            .into_iter()
            .filter(|name| !before.contains(name))
            .collect();
        if let Some(name) = kept.first() {
            let message = crate::export::python::str_repr(&format!(
                "{name} is taken: the turn before made it and did not close it"
            ));
            let indent = "    ".repeat(out.w.depth());
            out.helper("fail");
            out.w.lines.insert(header + 1, format!("{indent}if {turn}:"));
            out.w.lines.insert(header + 2, format!("{indent}    fail({message})"));
        } else if self.counter.is_none() {
            out.w.lines[header] = out.w.lines[header].replacen(&turn, "_", 1);
        }
        out.w.end_block();
        Ok(())
    }
}

impl crate::export::Export for BlockEnd {
    /// The loader folds `end` into its `repeat`: nothing is left to write.
    fn export(&self, _: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        Ok(())
    }
}

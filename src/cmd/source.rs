//! `source`: run another script's commands in this session.
//!
//! A source whose path is written out is loaded and checked together with
//! the script that names it, so its syntax errors also stop the run before
//! it starts; the interpreter runs it.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::lexer::Word;
use crate::parser::{Arg, Args, DataArg, SyntaxError};
use crate::script::Script;
use crate::session::Session;

pub const SPECS: &[Spec] = &[SOURCE];

pub const SOURCE: Spec = Spec {
    name: "source",
    synopsis: "source FILE [ARG...]",
    summary: "Run FILE's commands in this session (the path is relative to the current script); \
              inside FILE, ${1}... are the ARGs.",
    python: "exec(open('setup.py').read())",
    example: "source common/server.sock",
    args: &[Slot::Path, Slot::Value],
    repeats: true,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Source::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Source {
    pub path: Arg<PathBuf>,
    /// `${1}`... inside FILE: DATA words, so a captured value passes on as
    /// exactly its bytes.
    pub args: Vec<DataArg>,
    /// The ARGs as written.
    pub words: Vec<Word>,
    /// The script, when it could be loaded before the run.
    pub loaded: Option<Arc<Script>>,
}

impl Source {
    /// The ARGs as FILE's loader needs them when every one is written
    /// out: their text, filled in as the file loads (so `${1}` may name a
    /// handle). `None` without ARGs: FILE then sees the script's own.
    pub fn written_args(&self) -> (Vec<String>, Option<(usize, u64)>) {
        if self.words.is_empty() {
            return (Vec::new(), None);
        }
        let written = self
            .words
            .iter()
            .map(|word| word.literal().unwrap_or_default().to_string())
            .collect();
        (written, Some((self.words.len(), 0)))
    }

    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let path = args.arg("FILE", |p| Ok(PathBuf::from(p)))?;
        let mut arguments = Vec::new();
        let mut words = Vec::new();
        while let Some(word) = args.peek() {
            words.push(word.clone());
            arguments.push(args.data(None)?);
        }
        Ok(Source {
            path,
            args: arguments,
            words,
            loaded: None,
        })
    }
}

impl Run for Source {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(Failure::usage("source runs only from the interpreter"))
    }
}

impl crate::export::Export for Source {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        if let Some(script) = &self.loaded {
            return out.inline(script);
        }
        let Arg::Ready(path) = &self.path else {
            return Err(crate::export::Refused::new(
                "its path is known only when the line runs: there is no file to inline",
            ));
        };
        // ARGs that are variables the exporter knows (`let from conn`): as
        // if written out, so they may name handles.
        let known: Option<Vec<String>> = self.words.iter().map(|w| out.known_text(w)).collect();
        if let Some(texts) = known {
            let script = out.load_source(path, texts.len(), Some(texts))?;
            return out.inline(&script);
        }
        // ARGs known only when the line runs: ${1}... inside the file read them.
        let args: Vec<String> = self.args.iter().map(|arg| out.data(arg)).collect();
        let list = out.temporary("source_args");
        out.line(format!("{list} = [{}]", args.join(", ")));
        let script = out.load_source(path, self.args.len(), None)?;
        out.source_args.push(list);
        let result = out.inline(&script);
        out.source_args.pop();
        result
    }
}

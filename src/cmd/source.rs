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
use crate::parser::{Arg, Args, SyntaxError};
use crate::script::Script;
use crate::session::Session;

pub const SPECS: &[Spec] = &[SOURCE];

pub const SOURCE: Spec = Spec {
    name: "source",
    synopsis: "source FILE",
    summary: "Run FILE's commands in this session (the path is relative to the current script).",
    python: "exec(open('setup.py').read())",
    example: "source common/server.sock",
    args: &[Slot::Path],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Source::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Source {
    pub path: Arg<PathBuf>,
    /// The script, when it could be loaded before the run.
    pub loaded: Option<Arc<Script>>,
}

impl Source {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let path = args.arg("FILE", |p| Ok(PathBuf::from(p)))?;
        Ok(Source { path, loaded: None })
    }
}

impl Run for Source {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(Failure::usage("source runs only from the interpreter"))
    }
}

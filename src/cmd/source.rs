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
    /// `${1}`... inside FILE.
    pub args: Vec<Arg<String>>,
    /// The script, when it could be loaded before the run.
    pub loaded: Option<Arc<Script>>,
}

impl Source {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let path = args.arg("FILE", |p| Ok(PathBuf::from(p)))?;
        let mut arguments = Vec::new();
        while !args.is_empty() {
            arguments.push(args.arg("ARG", |a| Ok(a.to_string()))?);
        }
        Ok(Source {
            path,
            args: arguments,
            loaded: None,
        })
    }

    /// The ARGs, when every one is written out (so FILE can be loaded
    /// before the run).
    pub fn ready_args(&self) -> Option<Vec<String>> {
        self.args
            .iter()
            .map(|arg| match arg {
                Arg::Ready(value) => Some(value.clone()),
                Arg::Later(..) => None,
            })
            .collect()
    }
}

impl Run for Source {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Err(Failure::usage("source runs only from the interpreter"))
    }
}

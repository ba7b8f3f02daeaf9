//! `spawn`: start the program under test as a handle (SPEC §13), so a
//! script can grade a student's server or client the way pwntools'
//! `process` or Expect's `spawn` do: its stdin is written by `send`, its
//! output read by `recv` and `expect`, and it never outlives the session.

use std::path::PathBuf;

use super::{Command, Flag, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::lexer::{push_quoted, Word};
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::program::{Program, ProgramError, SpawnRequest};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SPAWN];

pub const SPAWN: Spec = Spec {
    name: "spawn",
    synopsis: "spawn NAME [--cwd DIR] [--env K=V]... -- PROGRAM [ARG...]",
    summary: "Start PROGRAM (no shell; found on PATH, or with a / from the script's directory, \
              which is also where it runs unless --cwd) as handle NAME: send writes its stdin, \
              recv and expect read its stdout and stderr. Needs --allow-exec on the command line.",
    python: "p = subprocess.Popen(['python3', 'server.py'], stdin=PIPE, stdout=PIPE, stderr=STDOUT)",
    example: "spawn srv -- python3 echo-server.py 65432",
    args: &[Slot::NewHandle, Slot::Path, Slot::Text],
    repeats: true,
    flags: &[
        Flag::with("--cwd", Slot::Path),
        Flag::with("--env", Slot::Value),
    ],
    scope: Scope::Language,
    parse: |args| Spawn::parse(args).map(Command::from),
};

/// The word that ends `spawn`'s own options: what follows is the program's.
const END_OF_OPTIONS: &str = "--";

#[derive(Debug, Clone)]
pub struct Spawn {
    name: String,
    cwd: Option<Arg<PathBuf>>,
    env: Vec<Arg<(String, String)>>,
    /// The program and its arguments, as written.
    command: Vec<Arg<String>>,
}

impl Spawn {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let words = args.rest();
        let mut spawn = Spawn {
            name,
            cwd: None,
            env: Vec::new(),
            command: Vec::new(),
        };
        let mut rest = words.into_iter();
        while let Some(word) = rest.next() {
            match word.literal() {
                Some(END_OF_OPTIONS) => break,
                Some("--cwd") => spawn.cwd = Some(typed(value(args, &mut rest, "--cwd")?, path)?),
                Some("--env") => spawn.env.push(typed(value(args, &mut rest, "--env")?, env)?),
                Some(option) if option.starts_with("--") => {
                    return Err(args.usage_error(&format!(
                        "unknown option '{option}': put the program after -- \
                         (spawn NAME -- PROGRAM {option} ...)"
                    )))
                }
                // No `--`: the first other word is the program.
                _ => {
                    spawn.command.push(typed(word, text)?);
                    break;
                }
            }
        }
        for word in rest {
            spawn.command.push(typed(word, text)?);
        }
        if spawn.command.is_empty() {
            return Err(args.usage_error("missing PROGRAM"));
        }
        Ok(spawn)
    }
}

/// The value after `--cwd` or `--env`.
fn value<'w>(
    args: &Args,
    rest: &mut impl Iterator<Item = &'w Word>,
    flag: &str,
) -> Result<&'w Word, SyntaxError> {
    rest.next()
        .ok_or_else(|| args.usage_error(&format!("{flag} needs a value")))
}

fn typed<T>(word: &Word, parse: fn(&str) -> Result<T, String>) -> Result<Arg<T>, SyntaxError> {
    match word.literal() {
        Some(written) => parse(written).map(Arg::Ready).map_err(SyntaxError::new),
        None => Ok(Arg::Later(word.clone(), parse)),
    }
}

fn text(word: &str) -> Result<String, String> {
    Ok(word.to_string())
}

fn path(word: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(word))
}

/// `K=V` for `--env`.
fn env(word: &str) -> Result<(String, String), String> {
    match word.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("--env takes NAME=VALUE, not '{word}'")),
    }
}

impl Run for Spawn {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if !session.allow_exec {
            return Err(Failure::usage(
                "starting programs is off: run sockrepl with --allow-exec (sockrepl --allow-exec run FILE, or test --allow-exec) to let scripts spawn them",
            ));
        }
        session.check_free(&self.name)?;
        let (request, shown) = self.request(session)?;
        let program = Program::spawn(&request).map_err(|e| spawn_failure(&e, &request))?;
        let pid = program.pid();
        session.insert_program(&self.name, program);
        Ok(Outcome::Spawned {
            handle: self.name.clone(),
            command: shown,
            pid,
        })
    }
}

impl Spawn {
    /// What to start, and the command line as the transcript shows it.
    fn request(&self, session: &mut Session) -> Result<(SpawnRequest, String), Failure> {
        let mut words = Vec::with_capacity(self.command.len());
        let mut shown = String::new();
        for arg in &self.command {
            let (value, display) = expand(session, arg)?;
            if !shown.is_empty() {
                shown.push(' ');
            }
            push_quoted(&mut shown, &display);
            words.push(value);
        }
        let mut request = SpawnRequest::new(words.remove(0), script_dir(session));
        request = request.args(words);
        if let Some(cwd) = &self.cwd {
            request = request.cwd(session.resolve(cwd)?.into_owned());
        }
        for pair in &self.env {
            let (key, value) = session.resolve(pair)?.into_owned();
            request = request.env(key, value);
        }
        Ok((request, shown))
    }
}

/// The directory the script is in (`a.sock` in the current directory has
/// an empty one).
fn script_dir(session: &Session) -> PathBuf {
    match session.script_dir.as_os_str().is_empty() {
        true => PathBuf::from("."),
        false => session.script_dir.clone(),
    }
}

/// A word's value and how the transcript shows it (a captured value as
/// its `<NAME>` under `--stable`).
fn expand(session: &mut Session, arg: &Arg<String>) -> Result<(String, String), Failure> {
    match arg {
        Arg::Ready(text) => Ok((text.clone(), text.clone())),
        Arg::Later(word, _) => session.expand(word),
    }
}

/// Why the program did not start, naming it as the script wrote it (the
/// absolute path would differ from machine to machine), with its errno so
/// `fails ENOENT spawn ...` matches.
fn spawn_failure(error: &ProgramError, request: &SpawnRequest) -> Failure {
    let name = request.program.to_string_lossy();
    let hint = match error {
        ProgramError::NotOnPath { .. } => format!("no program named {name} on PATH"),
        ProgramError::NoFile { .. } => {
            format!("no file {name} (a name with a / is found from the script's directory)")
        }
        ProgramError::NotExecutable { .. } => {
            format!("{name} is not executable (chmod +x, or run it with its interpreter)")
        }
        ProgramError::IsDirectory { .. } => format!("{name} is a directory, not a program"),
        ProgramError::CannotExecute { why, .. } => format!("cannot execute {name}: {why}"),
        ProgramError::BadWorkingDirectory { .. } => {
            let dir = request.cwd.as_deref().unwrap_or(std::path::Path::new("."));
            format!("cannot run it in {}", dir.display())
        }
        other => return crate::handle::program_failure(other),
    };
    match error.errno() {
        Some(errno) => Failure::Sys {
            errno,
            hint: Some(hint),
        },
        None => Failure::usage(hint),
    }
}

impl crate::export::Export for Spawn {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let argv: Vec<String> = self.command.iter().map(|arg| out.string_arg(arg)).collect();
        let cwd = match &self.cwd {
            Some(cwd) => out.path(cwd),
            None => "None".to_string(),
        };
        let mut env = Vec::new();
        for pair in &self.env {
            match pair {
                Arg::Ready((key, value)) => env.push(format!(
                    "{}: {}",
                    crate::export::python::str_repr(key),
                    crate::export::python::str_repr(value)
                )),
                Arg::Later(word, _) => {
                    let text = out.text(word);
                    env.push(format!("**dict([{text}.split('=', 1)])"));
                }
            }
        }
        out.helper("programs");
        let p = out.new_handle(&self.name, crate::export::HandleKind::Program);
        let mut call = format!("{p} = spawn([{}]", argv.join(", "));
        if self.cwd.is_some() {
            call.push_str(&format!(", cwd={cwd}"));
        }
        if !env.is_empty() {
            call.push_str(&format!(", env={{{}}}", env.join(", ")));
        }
        out.line(format!("{call})"));
        Ok(())
    }
}

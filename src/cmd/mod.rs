//! Step two of a line's path, and the commands themselves.
//!
//! Every command lives in its own file under `cmd/`, holding its [`Spec`]
//! (name, help, argument slots, flags: see [`spec`]), its `parse` (words
//! into a typed command) and its `apply` (run against the session, through
//! [`Run`]). The one list below, [`commands!`], declares each command's
//! module, makes the [`Command`] enum and its dispatch, and collects the
//! specs that help, the parser, the shell and the docs check read: adding
//! a command adds one line here and nothing anywhere else in `src/`. Each
//! command also writes its own Python for `sockrepl export`
//! ([`crate::export::Export`], dispatched here like [`Run`]).

pub mod sockopt;
pub mod spec;

use rustc_hash::FxHashMap;
use std::sync::OnceLock;

use crate::errors::Failure;
use crate::lexer::Word;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;
use crate::suggest::did_you_mean;
pub use spec::{Fits, Flag, Scope, Slot, Spec};

/// What a parsed command does when it runs.
pub trait Run {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure>;

    /// The variables the command gives a value to, so that later lines
    /// may name them (the loader checks every `${NAME}` before the run).
    fn sets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Declares the command modules, in the order `help` lists them, with the
/// types each one parses into: the `Command` enum, its dispatch and the
/// registry of specs all come from this one list.
macro_rules! commands {
    ($($module:ident { $($variant:ident),+ $(,)? })+) => {
        $(pub mod $module;)+

        /// A parsed command line.
        #[derive(Debug, Clone)]
        pub enum Command {
            $($($variant($module::$variant),)+)+
        }

        $($(impl From<$module::$variant> for Command {
            fn from(command: $module::$variant) -> Self {
                Command::$variant(command)
            }
        })+)+

        impl Run for Command {
            fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
                match self {
                    $($(Command::$variant(command) => command.apply(session),)+)+
                }
            }

            fn sets(&self) -> Vec<String> {
                match self {
                    $($(Command::$variant(command) => command.sets(),)+)+
                }
            }
        }

        /// Every command has its Python (`sockrepl export`): a command
        /// added without its `impl Export` does not compile.
        impl crate::export::Export for Command {
            fn export(
                &self,
                out: &mut crate::export::Program,
            ) -> Result<(), crate::export::Refused> {
                match self {
                    $($(Command::$variant(command) => command.export(out),)+)+
                }
            }
        }

        /// Each module's specs, in `help` order.
        const MODULES: &[&[Spec]] = &[$($module::SPECS,)+];
    };
}

commands! {
    socket { Socket, SocketPair }
    bind { Bind }
    listen { Listen }
    accept { Accept }
    connect { Connect }
    send { Send }
    sendline { SendLine }
    newline { NewLine }
    recv { Recv }
    framed { Framed }
    tls { Tls }
    shutdown { Shutdown }
    close { Close }
    spawn { Spawn }
    wait { Wait }
    signal { SignalCommand }
    setsockopt { SetSockOpt }
    getsockopt { GetSockOpt }
    settimeout { SetTimeout }
    setblocking { SetBlocking }
    names { Name }
    poll { Poll }
    sockets { Sockets }
    trace { Trace }
    expect { Expect, ExpectEof }
    fails { Fails }
    require { Require }
    timeout { Timeout }
    sleep { Sleep }
    print { Print }
    let_ { Let }
    repeat { Repeat, BlockEnd }
    source { Source }
    help { Help }
    exit { Exit }
    shell_only { Record, SetNotify }
}

/// Every command, in the order `help` lists them.
pub fn specs() -> impl Iterator<Item = &'static Spec> {
    MODULES.iter().flat_map(|specs| specs.iter())
}

/// The command called `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    static BY_NAME: OnceLock<FxHashMap<&'static str, &'static Spec>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| specs().map(|spec| (spec.name, spec)).collect())
        .get(name)
        .copied()
}

/// Every command's name.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    specs().map(|spec| spec.name)
}

/// Every `--flag` some command takes, for the parser's check of unknown
/// options (the same list as [`crate::flag::ALL`], which a test checks).
pub fn all_flags() -> impl Iterator<Item = &'static str> {
    crate::flag::ALL.iter().copied()
}

impl Command {
    /// Parses a line's words (the first is the command name) as a script
    /// line: shell-only commands are refused.
    pub fn parse(words: &[Word]) -> Result<Command, SyntaxError> {
        Self::parse_in(words, Scope::Language)
    }

    /// Parses a line's words where `scope` says: at the shell's prompt,
    /// the shell's own commands are commands too.
    pub fn parse_in(words: &[Word], scope: Scope) -> Result<Command, SyntaxError> {
        let (first, rest) = words
            .split_first()
            .ok_or_else(|| SyntaxError::new("empty command"))?;
        let name = first
            .literal()
            .ok_or_else(|| SyntaxError::new("a command name cannot use ${...}"))?;
        let spec = spec(name).ok_or_else(|| unknown_command(name))?;
        if spec.scope == Scope::Shell && scope != Scope::Shell {
            return Err(SyntaxError::new(format!(
                "{name} works only at the interactive shell's prompt, not in a script"
            )));
        }
        let mut args = Args::new(spec, rest);
        if !spec.takes_free_words() {
            args.reject_unknown_options()?;
        }
        let command = (spec.parse)(&mut args)?;
        args.finish()?;
        Ok(command)
    }

    /// Whether this command steers the session rather than touching a
    /// handle (`source`, `exit`, `require`, `help`, the shell's own), so
    /// `fails` cannot wrap it.
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            Command::Source(_)
                | Command::Repeat(_)
                | Command::BlockEnd(_)
                | Command::Exit(_)
                | Command::Require(_)
                | Command::Help(_)
                | Command::Record(_)
                | Command::SetNotify(_)
        )
    }
}

fn unknown_command(name: &str) -> SyntaxError {
    let mut message = format!("unknown command '{name}'");
    if let Some(suggestion) = did_you_mean(name, command_names()) {
        message.push_str(&format!(" (did you mean '{suggestion}'?)"));
    } else {
        message.push_str(" (type 'help' for the list)");
    }
    SyntaxError::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_list_is_the_flags_of_the_specs() {
        let mut used: Vec<&str> = specs()
            .flat_map(|spec| spec.flags)
            .map(|flag| flag.name)
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut listed = crate::flag::ALL.to_vec();
        listed.sort_unstable();
        assert_eq!(used, listed, "add a new flag's name to src/flag.rs");
    }

    #[test]
    fn every_name_is_one_command() {
        let mut names: Vec<&str> = command_names().collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "two specs share a name");
        assert!(specs().all(|s| spec(s.name).is_some_and(|found| std::ptr::eq(found, s))));
    }
}

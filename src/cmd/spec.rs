//! What one command is, written once in the command's own file.
//!
//! A [`Spec`] holds everything that used to be re-listed by name in
//! several places: the help text, the Python equivalent, the kind of word
//! each argument is (for the shell's completion, hints and colours), the
//! flags and their values (for the parser's option table), and the parse
//! function (for dispatch). Help, the docs check, the parser and the shell
//! all read the registry of specs in `cmd/mod.rs`; none keeps its own list.

use super::Command;
use crate::parser::{Args, SyntaxError};

/// One command: its name and help, its words, and how to parse it.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub summary: &'static str,
    pub python: &'static str,
    pub example: &'static str,
    /// The positional words, in order; see [`Slot`].
    pub args: &'static [Slot],
    /// Whether the last slot of `args` takes every remaining word (`poll NAME...`).
    pub repeats: bool,
    pub flags: &'static [Flag],
    pub scope: Scope,
    /// Words into the typed command.
    pub parse: fn(&mut Args) -> Result<Command, SyntaxError>,
}

/// Where a command can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Scripts and the shell alike.
    Language,
    /// Only at the shell's prompt (`record`, `set`): a script that names it
    /// is told so before it runs.
    Shell,
}

/// A `--flag`, and the kind of word it takes as its value, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub value: Option<Slot>,
}

impl Flag {
    /// A flag that stands alone (`--hex`).
    pub const fn switch(name: &'static str) -> Flag {
        Flag { name, value: None }
    }

    /// A flag followed by a value (`--into PATH`).
    pub const fn with(name: &'static str, value: Slot) -> Flag {
        Flag {
            name,
            value: Some(value),
        }
    }
}

/// Which handles fit a handle slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fits {
    Any,
    /// `accept`: listening handles.
    Listening,
    /// `listen`: stream handles not listening yet.
    CanListen,
    /// `connect`, `send`, `recv`...: anything but a listening handle.
    NotListening,
}

/// What kind of word goes in one place of a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A command name.
    Command,
    /// A `help` topic: any command.
    Topic,
    /// A handle that must exist.
    Handle(Fits),
    /// A name for a handle about to be made.
    NewHandle,
    /// A variable's name, to set (`let NAME`, `--as NAME`).
    NewVariable,
    /// A socket kind (`tcp`, `udp`...) or C family and type names.
    Kind,
    /// A socket option's C name.
    SockOpt,
    /// An errno name or `TIMEOUT`.
    ErrorName,
    /// One of a few keywords.
    Choice(&'static [&'static str]),
    Addr,
    Path,
    /// `record FILE` or `record stop`.
    RecordTarget,
    /// Bytes, as a DATA word: `--words` here are data, not options.
    Data,
    /// Free text (`print`): `--words` here are text, not options.
    Text,
    /// `[ERRNAME] COMMAND...`: a whole command line that this one wraps.
    Wrapped,
    /// A duration, a number or another value the shell cannot complete.
    Value,
}

impl Spec {
    /// Whether a `--word` among this command's words may be data or text
    /// rather than an option (so an unknown one is not an error).
    pub fn takes_free_words(&self) -> bool {
        self.args
            .iter()
            .any(|slot| matches!(slot, Slot::Data | Slot::Text | Slot::Wrapped))
    }

    /// The flag called `name`, if this command has it.
    pub fn flag(&self, name: &str) -> Option<&'static Flag> {
        self.flags.iter().find(|flag| flag.name == name)
    }

    /// The slot of the positional word at `index` (0-based).
    pub fn slot(&self, index: usize) -> Slot {
        match self.args.get(index) {
            Some(slot) => *slot,
            None if self.repeats => self.args.last().copied().unwrap_or(Slot::Value),
            None => Slot::Value,
        }
    }
}

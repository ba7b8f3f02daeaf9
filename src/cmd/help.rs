//! `help`: the synopsis, description, Python equivalent and an example of
//! each command, from the specs that `docs/language.md` is checked against.

use super::{specs, Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;
use crate::suggest::did_you_mean;

pub const SPECS: &[Spec] = &[HELP];

pub const HELP: Spec = Spec {
    name: "help",
    synopsis: "help [COMMAND]",
    summary: "List the commands, or show one command's synopsis, description, Python equivalent and example.",
    python: "help(socket.socket)",
    example: "help connect",
    args: &[Slot::Topic],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Help::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Help {
    topic: Option<&'static Spec>,
}

impl Help {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let topic = match args.optional_literal() {
            None => None,
            Some(name) => Some(super::spec(name).ok_or_else(|| {
                let suggestion = did_you_mean(name, super::command_names())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                SyntaxError::new(format!("no help for '{name}'{suggestion}"))
            })?),
        };
        Ok(Help { topic })
    }
}

impl Run for Help {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        Ok(Outcome::Text(match self.topic {
            Some(spec) => describe(spec),
            None if session.interactive => shell_overview(),
            None => overview(),
        }))
    }
}

/// One command's full help.
pub fn describe(spec: &Spec) -> String {
    format!(
        "{}\n  {}\n  Python:  {}\n  Example: {}",
        spec.synopsis, spec.summary, spec.python, spec.example
    )
}

/// Every command of the language with its synopsis, one a line.
pub fn overview() -> String {
    let width = synopsis_width(Scope::Language);
    let mut text = String::from("Commands (help COMMAND for more):\n");
    list(&mut text, Scope::Language, width);
    text.pop();
    text
}

/// The language's commands, then the shell's own, in the same columns.
fn shell_overview() -> String {
    let width = synopsis_width(Scope::Shell);
    let mut text = String::from("Commands (help COMMAND for more):\n");
    list(&mut text, Scope::Language, width);
    text.push_str("Shell only:\n");
    list(&mut text, Scope::Shell, width);
    text.push_str(
        "Tab completes, Up/Down walk the history, Ctrl-C cancels a waiting command, Ctrl-D leaves.",
    );
    text
}

/// The widest synopsis listed: the language's, or also the shell's own.
fn synopsis_width(widest_scope: Scope) -> usize {
    specs()
        .filter(|spec| spec.scope == Scope::Language || widest_scope == Scope::Shell)
        .map(|spec| spec.synopsis.len())
        .max()
        .unwrap_or(0)
}

fn list(text: &mut String, scope: Scope, width: usize) {
    for spec in specs().filter(|spec| spec.scope == scope) {
        let first = match scope {
            Scope::Language => first_sentence(spec.summary),
            // The shell's own summaries start "Shell only." and end their
            // first sentence at the first ". ".
            Scope::Shell => {
                let summary = spec.summary.trim_start_matches("Shell only. ");
                summary.split(". ").next().unwrap_or(summary)
            }
        };
        text.push_str(&format!(
            "  {:width$}  {}\n",
            spec.synopsis,
            first.trim_end_matches('.')
        ));
    }
}

/// The summary up to its first full stop that ends a sentence (a ". "
/// followed by a capital letter), so "e.g. 1" does not cut it short.
fn first_sentence(summary: &str) -> &str {
    let bytes = summary.as_bytes();
    (0..bytes.len().saturating_sub(2))
        .find(|&i| bytes[i] == b'.' && bytes[i + 1] == b' ' && bytes[i + 2].is_ascii_uppercase())
        .map_or(summary, |end| &summary[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_keeps_abbreviations_whole() {
        assert_eq!(
            first_sentence("Show SO_TYPE (e.g. 1 (SOCK_STREAM)). More."),
            "Show SO_TYPE (e.g. 1 (SOCK_STREAM))"
        );
        assert!(overview().contains("SO_TYPE (e.g. 1 (SOCK_STREAM))"));
    }

    #[test]
    fn the_shell_lists_its_own_commands_too() {
        let text = shell_overview();
        assert!(text.contains("bind NAME ADDR"));
        assert!(text.contains("record FILE|stop"));
        assert!(!overview().contains("record FILE|stop"));
    }
}

//! `help`: the synopsis, description, Python equivalent and an example of
//! each command, from the same table `docs/language.md` is written from.

use super::{help_for, Help, HELP as ALL};
use crate::outcome::Outcome;
use crate::parser::{did_you_mean, Args, SyntaxError};

pub const HELP: Help = Help {
    name: "help",
    synopsis: "help [COMMAND]",
    summary: "List the commands, or show one command's synopsis, description, Python equivalent and example.",
    python: "help(socket.socket)",
    example: "help connect",
};

#[derive(Debug, Clone)]
pub struct HelpCommand {
    topic: Option<&'static Help>,
}

impl HelpCommand {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let topic = match args.optional_literal() {
            None => None,
            Some(name) => Some(help_for(name).ok_or_else(|| {
                let suggestion = did_you_mean(name, ALL.iter().map(|h| h.name))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                SyntaxError::new(format!("no help for '{name}'{suggestion}"))
            })?),
        };
        Ok(HelpCommand { topic })
    }

    pub fn apply(&self) -> Outcome {
        Outcome::Text(match self.topic {
            Some(help) => describe(help),
            None => overview(),
        })
    }
}

/// One command's full help.
pub fn describe(help: &Help) -> String {
    format!(
        "{}\n  {}\n  Python:  {}\n  Example: {}",
        help.synopsis, help.summary, help.python, help.example
    )
}

/// Every command's synopsis, one a line.
pub fn overview() -> String {
    let width = ALL.iter().map(|h| h.synopsis.len()).max().unwrap_or(0);
    let mut text = String::from("Commands (help COMMAND for more):\n");
    for help in ALL {
        let first_sentence = first_sentence(help.summary);
        text.push_str(&format!(
            "  {:width$}  {}\n",
            help.synopsis,
            first_sentence.trim_end_matches('.')
        ));
    }
    text.pop();
    text
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
}

//! The shell's own commands, which only make sense at a prompt and never in
//! a script: `set notify on|off` and `record FILE|stop`. `help` lists them
//! beside the language's commands, from the same `Help` form.

use std::path::PathBuf;

use crate::cmd::help::{describe, overview};
use crate::cmd::Help;
use crate::parser::parse_bool;

pub const SET_HELP: Help = Help {
    name: "set",
    synopsis: "set notify on|off",
    summary:
        "Shell only. Turn the live notifications ([srv] connection waiting, [conn] 12 bytes ready, \
              [conn] peer closed) that appear while the prompt waits on or off.",
    python: "-",
    example: "set notify off",
};

pub const RECORD_HELP: Help = Help {
    name: "record",
    synopsis: "record FILE|stop",
    summary: "Shell only. Append each command that runs successfully to FILE, as a script that \
              'sockrepl run FILE' replays; the session's own addresses are written as ${H.addr} so \
              it replays on any port. 'record stop' ends the recording.",
    python: "-",
    example: "record echo.sock",
};

/// The shell's own commands, for `help` and completion.
pub const SHELL_HELP: &[Help] = &[SET_HELP, RECORD_HELP];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCommand {
    Notify(bool),
    Record(PathBuf),
    RecordStop,
    /// `help` or `help set`/`help record`, which the language's `help`
    /// does not know.
    Help(String),
}

/// Recognises a shell command; `None` leaves the line to the interpreter.
pub fn parse(line: &str) -> Option<Result<ShellCommand, String>> {
    let words = shlex::split(line)?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["set", rest @ ..] => Some(parse_set(rest)),
        ["record", rest @ ..] => Some(parse_record(rest)),
        ["help"] => Some(Ok(ShellCommand::Help(full_overview()))),
        ["help", topic] => SHELL_HELP
            .iter()
            .find(|h| h.name == *topic)
            .map(|help| Ok(ShellCommand::Help(describe(help)))),
        _ => None,
    }
}

fn parse_set(words: &[&str]) -> Result<ShellCommand, String> {
    match words {
        ["notify", value] => parse_bool(value).map(ShellCommand::Notify),
        _ => Err(format!("usage: {}", SET_HELP.synopsis)),
    }
}

fn parse_record(words: &[&str]) -> Result<ShellCommand, String> {
    match words {
        ["stop"] => Ok(ShellCommand::RecordStop),
        [path] => Ok(ShellCommand::Record(PathBuf::from(path))),
        _ => Err(format!("usage: {}", RECORD_HELP.synopsis)),
    }
}

/// The language's command list, then the shell's own, in the same columns.
fn full_overview() -> String {
    let width = crate::cmd::HELP
        .iter()
        .chain(SHELL_HELP)
        .map(|h| h.synopsis.len())
        .max()
        .unwrap_or(0);
    let mut text = overview();
    text.push_str("\nShell only:\n");
    for help in SHELL_HELP {
        let summary = help.summary.trim_start_matches("Shell only. ");
        let first_sentence = summary.split(". ").next().unwrap_or(summary);
        let first_sentence = first_sentence.trim_end_matches('.');
        text.push_str(&format!("  {:width$}  {first_sentence}\n", help.synopsis));
    }
    text.push_str(
        "Tab completes, Up/Down walk the history, Ctrl-C cancels a waiting command, Ctrl-D leaves.",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_shell_commands_only() {
        assert_eq!(
            parse("set notify off"),
            Some(Ok(ShellCommand::Notify(false)))
        );
        assert_eq!(parse("record stop"), Some(Ok(ShellCommand::RecordStop)));
        assert_eq!(
            parse("record a.sock"),
            Some(Ok(ShellCommand::Record("a.sock".into())))
        );
        assert!(matches!(parse("set notify maybe"), Some(Err(_))));
        assert!(parse("help connect").is_none());
        assert!(parse("socket s").is_none());
    }

    #[test]
    fn help_lists_shell_commands_too() {
        let Some(Ok(ShellCommand::Help(text))) = parse("help") else {
            panic!("help not recognised")
        };
        assert!(text.contains("bind NAME ADDR"));
        assert!(text.contains("record FILE|stop"));
        let Some(Ok(ShellCommand::Help(text))) = parse("help record") else {
            panic!("help record")
        };
        assert!(text.contains("${H.addr}"));
    }
}

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
        let width = if session.stable {
            DEFAULT_WIDTH
        } else {
            terminal_width()
        };
        Ok(Outcome::Text(match self.topic {
            Some(spec) => describe(spec, width),
            None => overview(session.interactive, width),
        }))
    }
}

/// The width of a transcript that is not a terminal, and under `--stable`.
const DEFAULT_WIDTH: usize = 80;
/// Narrower than this, wrapping would help no one.
const MIN_WIDTH: usize = 40;

/// The groups of the overview, in the order of the lecture's steps: a
/// server makes a socket, binds, listens and accepts; a client connects;
/// both send, receive and close. A command a group does not name joins
/// the group of the command before it in the registry, so a new command
/// is listed where its line in `cmd/mod.rs` puts it.
const GROUPS: &[(&str, &[&[Spec]])] = &[
    ("Making a socket", &[super::socket::SPECS]),
    (
        "Server side",
        &[super::bind::SPECS, super::listen::SPECS, super::accept::SPECS],
    ),
    ("Client side", &[super::connect::SPECS]),
    ("Sending", &[super::send::SPECS]),
    ("Receiving", &[super::recv::SPECS]),
    ("Closing", &[super::shutdown::SPECS, super::close::SPECS]),
    (
        "Options, timeouts",
        &[
            super::setsockopt::SPECS,
            super::getsockopt::SPECS,
            super::settimeout::SPECS,
            super::setblocking::SPECS,
            super::timeout::SPECS,
        ],
    ),
    (
        "Looking at sockets",
        &[super::names::SPECS, super::poll::SPECS, super::sockets::SPECS],
    ),
    (
        "Assertions",
        &[super::expect::SPECS, super::fails::SPECS, super::require::SPECS],
    ),
    (
        "Text protocols",
        &[
            super::sendline::SPECS,
            super::newline::SPECS,
            super::framed::SPECS,
            super::let_::SPECS,
            super::repeat::SPECS,
        ],
    ),
    (
        "Session",
        &[
            super::sleep::SPECS,
            super::print::SPECS,
            super::source::SPECS,
            SPECS,
            super::exit::SPECS,
        ],
    ),
    ("Shell only", &[super::shell_only::SPECS]),
];

/// The overview's column of group titles, and the space after it.
const TITLE_WIDTH: usize = 22;

/// One command's full help, wrapped at word boundaries to `width`.
pub fn describe(spec: &Spec, width: usize) -> String {
    let mut text = wrap(spec.synopsis, width, "", "    ");
    for (label, value) in [
        ("", spec.summary),
        ("Python:  ", spec.python),
        ("Example: ", spec.example),
    ] {
        text.push('\n');
        let first = format!("  {label}");
        let rest = " ".repeat(first.len());
        text.push_str(&wrap(value, width, &first, &rest));
    }
    text
}

/// The commands by the lecture's steps, names only: `help COMMAND` has
/// the rest. The shell's own commands are listed at the shell only.
pub fn overview(interactive: bool, width: usize) -> String {
    let mut text = String::from("Commands, in the order of the lecture's steps:\n");
    for (title, names) in grouped() {
        let shell_only = names
            .first()
            .is_some_and(|spec| spec.scope == Scope::Shell);
        if shell_only && !interactive {
            continue;
        }
        let names: Vec<&str> = names.iter().map(|spec| spec.name).collect();
        let first = format!("  {title:<w$}", w = TITLE_WIDTH - 2);
        text.push_str(&wrap(&names.join(" "), width, &first, &" ".repeat(TITLE_WIDTH)));
        text.push('\n');
    }
    let closing = if interactive {
        "help COMMAND shows one command: its synopsis, what it does, the Python it stands \
         for and an example. Tab completes, Up/Down walk the history, Ctrl-C cancels a \
         waiting command, Ctrl-D leaves."
    } else {
        "help COMMAND shows one command: its synopsis, what it does, the Python it stands \
         for and an example."
    };
    text.push_str(&wrap(closing, width, "", ""));
    text
}

/// Every command under its group's title, groups in `GROUPS` order.
fn grouped() -> Vec<(&'static str, Vec<&'static Spec>)> {
    let mut groups: Vec<(&str, Vec<&Spec>)> =
        GROUPS.iter().map(|(title, _)| (*title, Vec::new())).collect();
    let mut current = 0;
    for spec in specs() {
        if let Some(index) = group_of(spec) {
            current = index;
        }
        groups[current].1.push(spec);
    }
    groups.retain(|(_, specs)| !specs.is_empty());
    groups
}

/// The index in `GROUPS` of the group that names `spec` (by name: a
/// const's address is not one place).
fn group_of(spec: &Spec) -> Option<usize> {
    GROUPS.iter().position(|(_, modules)| {
        modules
            .iter()
            .any(|module| module.iter().any(|listed| listed.name == spec.name))
    })
}

/// `text` broken at spaces into lines of at most `width` columns (a word
/// longer than that stands alone, never cut), the first line after
/// `first`, the others after `rest`.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::from(first);
    let mut column = first.chars().count();
    let mut line_empty = true;
    let lead = text.len() - text.trim_start().len();
    out.push_str(&text[..lead]);
    column += lead;
    for word in text[lead..].split(' ').filter(|w| !w.is_empty()) {
        let length = word.chars().count();
        if !line_empty && column + 1 + length > width {
            out.push('\n');
            out.push_str(rest);
            column = rest.chars().count();
            line_empty = true;
        }
        if !line_empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += length;
        line_empty = false;
    }
    out
}

/// The terminal's width when stdout is one, else the default.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize we own; a failure leaves it zero.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    match usize::from(size.ws_col) {
        columns if got == 0 && columns > 0 => columns.max(MIN_WIDTH),
        _ => DEFAULT_WIDTH,
    }
}

impl crate::export::Export for Help {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        match self.topic {
            Some(spec) => out.line(format!(
                "# help {}: in Python, {}",
                spec.name,
                spec.python.lines().next().unwrap_or_default()
            )),
            None => out.line("# help: in Python, help(socket)"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overview_fits_80_columns_and_lists_every_command_once() {
        for interactive in [false, true] {
            let text = overview(interactive, 80);
            assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
            assert!(text.lines().count() <= 20, "{text}");
            // The names: what follows the titles' column on a group's lines.
            let words: Vec<&str> = text
                .lines()
                .filter(|line| line.starts_with("  "))
                .flat_map(|line| line[TITLE_WIDTH..].split_whitespace())
                .collect();
            for spec in specs() {
                let count = words.iter().filter(|w| **w == spec.name).count();
                let listed = spec.scope == Scope::Language || interactive;
                assert_eq!(count, usize::from(listed), "{} in\n{text}", spec.name);
            }
        }
    }

    #[test]
    fn a_command_joins_the_group_before_it_when_no_group_names_it() {
        // Every command of the registry lands in some group, in order.
        let listed: usize = grouped().iter().map(|(_, specs)| specs.len()).sum();
        assert_eq!(listed, specs().count());
    }

    #[test]
    fn describe_wraps_at_word_boundaries() {
        for spec in specs() {
            let text = describe(spec, 80);
            for line in text.lines() {
                let long_word = line.split(' ').any(|w| w.chars().count() > 60);
                assert!(line.chars().count() <= 80 || long_word, "{line:?}");
            }
            let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(joined.contains(&spec.summary.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }

    #[test]
    fn wrap_never_cuts_a_word() {
        assert_eq!(wrap("aaa bbb ccc", 7, "", "  "), "aaa bbb\n  ccc");
        assert_eq!(wrap("  x averyveryverylongword y", 8, "", "  "), "  x\n  averyveryverylongword\n  y");
    }
}

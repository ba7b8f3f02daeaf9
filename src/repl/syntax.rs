//! What kind of word goes where on a command line, for completion, hints
//! and highlighting: a handle that must exist (and which kind of handle), a
//! new handle name, an address, a socket option, an errno name...

use crate::cmd::sockopt::OPTION_NAMES;
use crate::errors::ErrorName;
use crate::kind::KIND_NAMES;

use super::shell::SHELL_HELP;

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

/// What the word at some position is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Command,
    /// A `help` topic: any command, the shell's own included.
    Topic,
    Handle(Fits),
    /// A name for a handle about to be made.
    NewHandle,
    Kind,
    SockOpt,
    /// The first word after `fails`: an errno name or the command.
    ErrnoOrCommand,
    Choice(&'static [&'static str]),
    Addr,
    Path,
    /// `record FILE` or `record stop`.
    RecordTarget,
    /// Data, durations, numbers: anything goes.
    Free,
}

/// Options that take the next word as their value.
const VALUE_FLAGS: &[&str] = &["--hex", "--file", "--into", "--timeout"];

const FAMILY_NAMES: &[&str] = &["AF_INET", "AF_INET6", "AF_UNIX"];

/// The slot of the word that follows `before` (the words already typed).
pub fn slot(before: &[&str]) -> Slot {
    let Some((&command, args)) = before.split_first() else {
        return Slot::Command;
    };
    match args.last() {
        Some(&"--file" | &"--into") => return Slot::Path,
        Some(&"--hex" | &"--timeout") => return Slot::Free,
        _ => {}
    }
    if command == "fails" {
        return match args {
            [] => Slot::ErrnoOrCommand,
            [first, rest @ ..] if ErrorName::parse(first).is_some() => slot(rest),
            rest => slot(rest),
        };
    }
    positional_slot(command, positional_count(args))
}

/// How many words of `args` are positional (not options or their values).
fn positional_count(args: &[&str]) -> usize {
    let mut count = 0;
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg.starts_with("--") {
            skip_value = VALUE_FLAGS.contains(arg);
        } else {
            count += 1;
        }
    }
    count
}

fn positional_slot(command: &str, index: usize) -> Slot {
    use Slot::*;
    let slots: &[Slot] = match command {
        "socket" => &[NewHandle, Kind],
        "socketpair" => &[NewHandle, NewHandle, Choice(&["unix", "unix-dgram"])],
        "bind" => &[Handle(Fits::Any), Addr],
        "listen" => &[Handle(Fits::CanListen)],
        "accept" => &[Handle(Fits::Listening), NewHandle],
        "connect" | "connect_ex" | "sendto" => &[Handle(Fits::NotListening), Addr],
        "send" | "sendall" | "recv" | "recvfrom" | "recvall" | "expect" | "expect_eof"
        | "getpeername" => &[Handle(Fits::NotListening)],
        "shutdown" => &[
            Handle(Fits::NotListening),
            Choice(&["read", "write", "both"]),
        ],
        "setblocking" => &[Handle(Fits::Any), Choice(&["on", "off"])],
        "setsockopt" | "getsockopt" => &[Handle(Fits::Any), SockOpt],
        "close" | "getsockname" | "settimeout" => &[Handle(Fits::Any)],
        "poll" => return Handle(Fits::Any),
        "require" => &[Choice(&["ipv6", "raw", "unix", "icmp"])],
        "help" => &[Topic],
        "source" => &[Path],
        "set" => &[Choice(&["notify"]), Choice(&["on", "off"])],
        "record" => &[RecordTarget],
        _ => &[],
    };
    slots.get(index).copied().unwrap_or(Free)
}

/// Every command name the shell accepts, its own included, sorted.
pub fn all_commands() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::cmd::command_names()
        .chain(SHELL_HELP.iter().map(|h| h.name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

pub fn is_command(word: &str) -> bool {
    all_commands().contains(&word)
}

/// The words a keyword slot takes; empty for the others.
pub fn keywords(slot: Slot) -> Vec<&'static str> {
    match slot {
        Slot::Kind => KIND_NAMES.iter().chain(FAMILY_NAMES).copied().collect(),
        Slot::SockOpt => OPTION_NAMES.iter().map(|(name, _)| *name).collect(),
        Slot::Choice(words) => words.to_vec(),
        Slot::Command | Slot::Topic => all_commands(),
        _ => Vec::new(),
    }
}

/// The synopsis of a command, shell commands included.
pub fn synopsis(command: &str) -> Option<&'static str> {
    crate::cmd::help_for(command)
        .or_else(|| SHELL_HELP.iter().find(|h| h.name == command))
        .map(|h| h.synopsis)
}

/// The options a command takes (`--hex`, `--file`...), from its synopsis.
pub fn flags(command: &str) -> Vec<&'static str> {
    synopsis(command)
        .map(|s| {
            s.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '|'))
                .filter(|w| w.starts_with("--"))
                .collect()
        })
        .unwrap_or_default()
}

/// The argument groups of a synopsis after the command name, brackets
/// kept together: `socket NAME [KIND | FAMILY TYPE [PROTO]]` gives `NAME`
/// and `[KIND | FAMILY TYPE [PROTO]]`.
pub fn synopsis_args(synopsis: &str) -> Vec<&str> {
    let mut groups = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (at, c) in synopsis.char_indices() {
        match c {
            '[' => {
                depth += 1;
                start.get_or_insert(at);
            }
            ']' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(from) = start.take() {
                    groups.push(&synopsis[from..at]);
                }
            }
            _ => {
                start.get_or_insert(at);
            }
        }
    }
    if let Some(from) = start {
        groups.push(&synopsis[from..]);
    }
    groups.into_iter().skip(1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_where_handles_go() {
        assert_eq!(slot(&["accept"]), Slot::Handle(Fits::Listening));
        assert_eq!(slot(&["accept", "srv"]), Slot::NewHandle);
        assert_eq!(slot(&["bind", "srv"]), Slot::Addr);
        assert_eq!(slot(&["socket"]), Slot::NewHandle);
        assert_eq!(slot(&["socket", "s"]), Slot::Kind);
        assert_eq!(slot(&[]), Slot::Command);
    }

    #[test]
    fn looks_inside_fails() {
        assert_eq!(slot(&["fails"]), Slot::ErrnoOrCommand);
        assert_eq!(slot(&["fails", "ECONNREFUSED"]), Slot::Command);
        assert_eq!(
            slot(&["fails", "ECONNREFUSED", "connect"]),
            Slot::Handle(Fits::NotListening)
        );
        assert_eq!(slot(&["fails", "connect", "c"]), Slot::Addr);
    }

    #[test]
    fn skips_options_and_their_values() {
        assert_eq!(slot(&["recvall", "c", "--into"]), Slot::Path);
        assert_eq!(slot(&["send", "--file"]), Slot::Path);
        assert_eq!(
            slot(&["shutdown", "c"]),
            Slot::Choice(&["read", "write", "both"])
        );
        assert_eq!(slot(&["setsockopt", "c"]), Slot::SockOpt);
    }

    /// Every command whose synopsis starts with a handle has a handle slot
    /// there, so completion keeps up with new commands.
    #[test]
    fn knows_every_command_that_takes_a_handle() {
        for help in crate::cmd::HELP {
            let first = synopsis_args(help.synopsis).first().copied().unwrap_or("");
            let slot = slot(&[help.name]);
            match first.trim_end_matches("...") {
                "NAME" if matches!(help.name, "socket") => assert_eq!(slot, Slot::NewHandle),
                "NAME" => assert!(matches!(slot, Slot::Handle(_)), "{}: {slot:?}", help.name),
                "A" => assert_eq!(slot, Slot::NewHandle, "{}", help.name),
                _ => {}
            }
        }
    }

    #[test]
    fn splits_synopses_into_groups() {
        assert_eq!(
            synopsis_args("socket NAME [KIND | FAMILY TYPE [PROTO]]"),
            ["NAME", "[KIND | FAMILY TYPE [PROTO]]"]
        );
        assert_eq!(synopsis_args("bind NAME ADDR"), ["NAME", "ADDR"]);
        assert_eq!(flags("recvall"), ["--into", "--hex"]);
    }
}

//! What kind of word goes where on a command line, for completion, hints
//! and highlighting: read from each command's [`Spec`](crate::cmd::Spec),
//! so the shell knows every command, new ones included, without a list of
//! its own.

use crate::cmd::sockopt::OPTION_NAMES;
use crate::errors::ErrorName;
use crate::kind::KIND_NAMES;

pub use crate::cmd::{Fits, Slot};

const FAMILY_NAMES: &[&str] = &["AF_INET", "AF_INET6", "AF_UNIX"];

/// The slot of the word that follows `before` (the words already typed).
pub fn slot(before: &[&str]) -> Slot {
    let Some((&command, args)) = before.split_first() else {
        return Slot::Command;
    };
    let Some(spec) = crate::cmd::spec(command) else {
        return Slot::Value;
    };
    if let Some(value) = args
        .last()
        .and_then(|word| spec.flag(word))
        .and_then(|flag| flag.value)
    {
        return value;
    }
    if spec.args.first() == Some(&Slot::Wrapped) {
        // `fails [ERRNAME] COMMAND...`: first an errno name or the command,
        // then the wrapped command's own slots.
        return match args {
            [] => Slot::Wrapped,
            [first, rest @ ..] if ErrorName::parse(first).is_some() => slot(rest),
            rest => slot(rest),
        };
    }
    spec.slot(positional_count(spec, args))
}

/// How many words of `args` are positional (not options or their values).
fn positional_count(spec: &crate::cmd::Spec, args: &[&str]) -> usize {
    let mut count = 0;
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
        } else if arg.starts_with("--") {
            skip_value = spec.flag(arg).is_some_and(|flag| flag.value.is_some());
        } else {
            count += 1;
        }
    }
    count
}

/// Every command name the shell accepts, its own included, sorted.
pub fn all_commands() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::cmd::command_names().collect();
    names.sort_unstable();
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
    crate::cmd::spec(command).map(|spec| spec.synopsis)
}

/// The options a command takes (`--hex`, `--file`...).
pub fn flags(command: &str) -> Vec<&'static str> {
    crate::cmd::spec(command)
        .map(|spec| spec.flags.iter().map(|flag| flag.name).collect())
        .unwrap_or_default()
}

/// Whether `command` wraps a whole command line after it (`fails`).
pub fn wraps_a_command(command: &str) -> bool {
    crate::cmd::spec(command).is_some_and(|spec| spec.args.first() == Some(&Slot::Wrapped))
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
    // Command names come from the specs: each is written in one file only.
    use crate::cmd::accept::ACCEPT;
    use crate::cmd::bind::BIND;
    use crate::cmd::connect::CONNECT;
    use crate::cmd::fails::FAILS;
    use crate::cmd::recv::RECVALL;
    use crate::cmd::send::SEND;
    use crate::cmd::setsockopt::SETSOCKOPT;
    use crate::cmd::shutdown::SHUTDOWN;
    use crate::cmd::socket::SOCKET;

    #[test]
    fn knows_where_handles_go() {
        assert_eq!(slot(&[ACCEPT.name]), Slot::Handle(Fits::Listening));
        assert_eq!(slot(&[ACCEPT.name, "srv"]), Slot::NewHandle);
        assert_eq!(slot(&[BIND.name, "srv"]), Slot::Addr);
        assert_eq!(slot(&[SOCKET.name]), Slot::NewHandle);
        assert_eq!(slot(&[SOCKET.name, "s"]), Slot::Kind);
        assert_eq!(slot(&[]), Slot::Command);
    }

    #[test]
    fn looks_inside_fails() {
        assert_eq!(slot(&[FAILS.name]), Slot::Wrapped);
        assert_eq!(slot(&[FAILS.name, "ECONNREFUSED"]), Slot::Command);
        assert_eq!(
            slot(&[FAILS.name, "ECONNREFUSED", CONNECT.name]),
            Slot::Handle(Fits::NotListening)
        );
        assert_eq!(slot(&[FAILS.name, CONNECT.name, "c"]), Slot::Addr);
    }

    #[test]
    fn skips_options_and_their_values() {
        assert_eq!(slot(&[RECVALL.name, "c", "--into"]), Slot::Path);
        assert_eq!(slot(&[SEND.name, "--file"]), Slot::Path);
        assert_eq!(
            slot(&[SHUTDOWN.name, "c"]),
            Slot::Choice(&["read", "write", "both"])
        );
        assert_eq!(slot(&[SETSOCKOPT.name, "c"]), Slot::SockOpt);
    }

    /// Every command whose synopsis starts with a handle has a handle slot
    /// there: the slots and the synopsis, written side by side in each
    /// command's spec, agree.
    #[test]
    fn knows_every_command_that_takes_a_handle() {
        for spec in crate::cmd::specs() {
            let first = synopsis_args(spec.synopsis).first().copied().unwrap_or("");
            let slot = slot(&[spec.name]);
            match first.trim_end_matches("...") {
                "NAME"
                    if matches!(spec.args.first(), Some(Slot::NewHandle | Slot::NewVariable)) => {}
                "NAME" => assert!(matches!(slot, Slot::Handle(_)), "{}: {slot:?}", spec.name),
                "A" => assert_eq!(slot, Slot::NewHandle, "{}", spec.name),
                _ => {}
            }
        }
    }

    /// Every flag a synopsis shows is a flag of the spec, and back.
    #[test]
    fn synopses_show_exactly_the_flags_of_the_spec() {
        for spec in crate::cmd::specs() {
            let mut shown: Vec<&str> = spec
                .synopsis
                .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '|'))
                // A bare `--` ends the options (spawn's): it is no flag.
                .filter(|w| w.starts_with("--") && *w != "--")
                .collect();
            let mut flags = flags(spec.name);
            shown.sort_unstable();
            shown.dedup();
            flags.sort_unstable();
            assert_eq!(shown, flags, "{}", spec.name);
        }
    }

    #[test]
    fn splits_synopses_into_groups() {
        assert_eq!(
            synopsis_args(SOCKET.synopsis),
            ["NAME", "[KIND | FAMILY TYPE [PROTO]]"]
        );
        assert_eq!(synopsis_args(BIND.synopsis), ["NAME", "ADDR"]);
        assert_eq!(flags(RECVALL.name), ["--into", "--hex", "--as"]);
    }
}

//! Who is still alive in a process group.
//!
//! A program runs in its own group so that one signal reaches it and
//! everything it forked (`sh -c 'server &'`). After the leader is reaped,
//! the group lives on in its descendants; `kill(-pgid, 0)` says whether
//! any process holds the id, but it also counts zombies (which only their
//! parent, often init, can clear), so `/proc` tells the living apart.

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use std::fs;
use std::time::Duration;

/// How often to look again while waiting for a group to empty.
pub(crate) const RECHECK: Duration = Duration::from_millis(5);

/// Whether any process, a zombie included, still has this group id.
pub(crate) fn exists(pgid: Pid) -> bool {
    killpg(pgid, None) != Err(Errno::ESRCH)
}

/// Whether a process of the group is still running (not a zombie).
pub fn has_live_members(pgid: Pid) -> bool {
    exists(pgid) && !live_members(pgid).is_empty()
}

/// The running (non-zombie) processes whose group is `pgid`, from `/proc`.
pub fn live_members(pgid: Pid) -> Vec<Pid> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            proc_stat(pid).is_some_and(|stat| stat.pgrp == pgid.as_raw() && stat.alive())
        })
        .map(Pid::from_raw)
        .collect()
}

/// The fields of `/proc/PID/stat` that we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// One letter: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

impl ProcStat {
    /// Still running: neither a zombie nor already dead.
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads `/proc/PID/stat`; `None` once the process is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The command name sits in parentheses and may itself hold spaces and
/// `)`, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, ppid, pgrp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                ppid: 17,
                pgrp: 4242
            })
        );
        assert!(!parse_stat("1 (z) Z 1 1").unwrap().alive());
        assert_eq!(parse_stat("garbage"), None);
    }
}

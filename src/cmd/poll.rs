//! `poll`: wait on several sockets at once, as a server's event loop does.

use std::time::Duration;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::duration::parse_timeout;
use crate::errors::Failure;
use crate::handle::Handle;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::wait::{poll_many, waiting_for, Deadline};

pub const SPECS: &[Spec] = &[POLL];

pub const POLL: Spec = Spec {
    name: "poll",
    synopsis: "poll NAME... [--timeout DUR] [--write]",
    summary: "Wait until one of the sockets has something to read (data, a connection waiting, \
              end of stream or an error), or with --write can also be written to, then show \
              each one's POLLIN/POLLOUT/POLLHUP/POLLERR.",
    python: "p = select.poll(); p.register(s); p.poll(5000)",
    example: "poll srv conn --timeout 1s",
    args: &[Slot::Handle(Fits::Any)],
    repeats: true,
    flags: &[Flag::with("--timeout", Slot::Value), Flag::switch("--write")],
    scope: Scope::Language,
    parse: |args| Poll::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Poll {
    names: Vec<String>,
    /// `--write`: writability also ends the wait (POLLOUT).
    write: bool,
    timeout: Option<Arg<Option<Duration>>>,
}

impl Poll {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let timeout = args.option_arg("--timeout", parse_timeout)?;
        let write = args.flag("--write");
        let mut names = vec![args.handle()?];
        while let Some(name) = args.optional_handle()? {
            names.push(name);
        }
        // Each handle is polled and shown once, however often it is named
        // (a million names would otherwise be a million pollfds: EINVAL).
        let mut seen = std::collections::HashSet::new();
        names.retain(|name| seen.insert(name.clone()));
        Ok(Poll {
            names,
            write,
            timeout,
        })
    }

}

impl Run for Poll {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let timeout = match &self.timeout {
            Some(arg) => *session.resolve(arg)?,
            None => session.default_timeout,
        };
        let handles = self
            .names
            .iter()
            .map(|name| session.handle(name))
            .collect::<Result<Vec<_>, _>>()?;
        let fds: Vec<_> = handles.iter().map(|h| h.as_fd()).collect();
        session.out.flush();
        let events = if self.write {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
        let waiting: Vec<_> = fds.iter().map(|&fd| (fd, events)).collect();
        let _label = waiting_for(|| format!("one of {} to be ready", self.names.join(", ")));
        let deadline = Deadline::after(timeout);
        let states = loop {
            if !handles.iter().any(|h| h.io.readable_now()) {
                poll_many(&waiting, deadline, "no handle ready")?;
            }
            let states = readiness(&handles)?;
            // A TLS record that held no data (a session ticket, part of a
            // record) woke the wait but gave nothing to read: wait on.
            if states.iter().any(|&state| state & (events | HANG_UP) != 0) {
                break states;
            }
        };
        Ok(Outcome::Polled(
            self.names.iter().cloned().zip(states).collect(),
        ))
    }
}

/// POLLHUP and POLLERR, which poll(2) reports whatever was asked.
const HANG_UP: i16 = libc::POLLHUP | libc::POLLERR;

/// Everything each handle is ready for now, writing included. A handle
/// with bytes buffered in user space (TLS plaintext) is readable; one
/// whose kernel bytes are TLS records is readable only once they hold data
/// (or the end), which reading them here finds out.
fn readiness(handles: &[&Handle]) -> Result<Vec<i16>, Failure> {
    let everything: Vec<_> = handles
        .iter()
        .map(|h| (h.as_fd(), libc::POLLIN | libc::POLLOUT))
        .collect();
    let mut states = match poll_many(&everything, Deadline::after(Some(Duration::ZERO)), "") {
        Ok(states) => states,
        Err(Failure::Timeout { .. }) => vec![0; handles.len()],
        Err(other) => return Err(other),
    };
    for (state, handle) in states.iter_mut().zip(handles) {
        if handle.io.passes_through() {
            // Bytes buffered in user space (a program's output read
            // ahead) are readable whatever the descriptor says.
            if handle.io.readable_now() {
                *state |= libc::POLLIN;
            }
            continue;
        }
        // An error (an alert) is news a receive would give at once.
        let errored = *state & libc::POLLIN != 0 && handle.look(1, true).is_err();
        *state &= !libc::POLLIN;
        if errored || handle.io.readable_now() {
            *state |= libc::POLLIN;
        }
    }
    Ok(states)
}

impl crate::export::Export for Poll {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let handles: Vec<String> = self.names.iter().map(|n| out.handle(n)).collect();
        let timeout = match &self.timeout {
            Some(timeout) => out.timeout(timeout),
            None => "socket.getdefaulttimeout()".to_string(),
        };
        out.helper("poll_events");
        let write = if self.write { ", write=True" } else { "" };
        out.line(format!("poll([{}], {timeout}{write})", handles.join(", ")));
        Ok(())
    }
}

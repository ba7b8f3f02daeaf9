//! `poll`: wait on several sockets at once, as a server's event loop does.

use std::time::Duration;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::duration::parse_timeout;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::wait::{poll_many, Deadline};

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
        // Output a program's handle has buffered already is ready now.
        let buffered: Vec<bool> = handles.iter().map(|h| h.io.readable_now()).collect();
        let ready_now = buffered.contains(&true);
        let wait = if ready_now { Some(Duration::ZERO) } else { timeout };
        match poll_many(&waiting, Deadline::after(wait), "no handle ready") {
            Err(Failure::Timeout { .. }) if ready_now => {}
            other => {
                other?;
            }
        }
        // Report everything each socket is ready for, writing included.
        let everything: Vec<_> = fds
            .iter()
            .map(|&fd| (fd, libc::POLLIN | libc::POLLOUT))
            .collect();
        let states = match poll_many(&everything, Deadline::after(Some(Duration::ZERO)), "") {
            Ok(states) => states,
            Err(Failure::Timeout { .. }) => vec![0; fds.len()],
            Err(other) => return Err(other),
        };
        let states = states
            .into_iter()
            .zip(buffered)
            .map(|(revents, buffered)| match buffered {
                true => revents | libc::POLLIN,
                false => revents,
            });
        Ok(Outcome::Polled(
            self.names.iter().cloned().zip(states).collect(),
        ))
    }
}

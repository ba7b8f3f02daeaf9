//! `close`: close a socket and forget its handle; on a TLS handle, send
//! `close_notify` first, so the peer sees a clean end; for a program, end
//! it (SIGTERM, SIGKILL after 1 s) and reap it.

use super::send::send_failure;
use super::{Command, Fits, Run, Scope, Slot, Spec};
use nix::sys::signal::Signal;

use crate::duration::format_duration;
use crate::errors::Failure;
use crate::handle::ProgramIo;
use crate::program::{ExitStatus, DEFAULT_GRACE};
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[CLOSE];

pub const CLOSE: Spec = Spec {
    name: "close",
    synopsis: "close NAME",
    summary: "Close the socket and forget the handle; a Unix socket file its bind created is \
              removed. A program is ended: SIGTERM to its process group, SIGKILL after 1s, reaped.",
    python: "s.close()",
    example: "close cli",
    args: &[Slot::Handle(Fits::Any)],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Close::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Close {
    name: String,
}

impl Close {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Close {
            name: args.handle()?,
        })
    }

}

impl Run for Close {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if session.handle_mut(&self.name)?.io.as_program_mut().is_some() {
            let mut handle = session.remove(&self.name)?;
            let program = handle.io.as_program_mut().expect("a program, checked above");
            session.out.flush(); // ending it may take the grace period
            return Ok(Outcome::Text(end_program(program)));
        }
        let finished = finish(session, &self.name)?;
        let handle = session.remove(&self.name)?;
        let finished = finished.map_err(|failure| send_failure(&handle, failure));
        // With SO_LINGER, close(2) may wait for the peer: whoever watches
        // the transcript sees what it waits on.
        session.out.flush();
        let removed = handle.close();
        Ok(match finished {
            Ok(()) => Outcome::Closed { removed },
            // The handle is closed all the same, as Python's close() would.
            Err(failure) => Outcome::Text(format!(
                "closed (close_notify not sent: {})",
                session.hide_tmp(&failure.to_string())
            )),
        })
    }
}

/// Sends what must go before the close (TLS's close_notify), waiting for
/// room up to the timeout; nothing for a plain socket.
fn finish(session: &Session, name: &str) -> Result<Result<(), Failure>, Failure> {
    let handle = session.handle(name)?;
    if handle.io.layer().is_none() {
        return Ok(Ok(()));
    }
    let deadline = session.deadline(handle);
    Ok(session.retry(handle, libc::POLLOUT, &deadline, "no room for close_notify", |h| {
        h.io.finish()
    }))
}

/// Ends a program and says how it ended: by itself before, at the
/// SIGTERM, or only at the SIGKILL.
fn end_program(program: &mut ProgramIo) -> String {
    let running = program.status_now().is_none();
    match program.end(DEFAULT_GRACE) {
        Ok(status) if !running => format!("closed: it had already {}", past(status)),
        Ok(status @ ExitStatus::Signaled { signal: Signal::SIGKILL, .. }) => format!(
            "closed: it {status} (SIGTERM did not end it within {})",
            format_duration(DEFAULT_GRACE)
        ),
        Ok(status) => format!("closed: it {status}"),
        Err(error) => format!("closed: {error}"),
    }
}

/// "exited with status 0", "been killed by SIGTERM": after "it had already".
fn past(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(_) => status.to_string(),
        ExitStatus::Signaled { .. } => status.to_string().replacen("was ", "been ", 1),
    }
}

impl crate::export::Export for Close {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        match out.kind_of(&self.name) {
            Some(crate::export::HandleKind::Program) => {
                out.helper("programs");
                out.line(format!("end_program({s})"));
            }
            Some(crate::export::HandleKind::Tls(_)) => {
                out.helper("tls_ends");
                out.line(format!("close_tls({s})  # close_notify, then the TCP close"));
            }
            _ => out.line(format!("{s}.close()")),
        }
        if out.bound.remove(&self.name) {
            out.line(format!("unlink_bound({s})"));
        }
        out.forget(&self.name);
        Ok(())
    }
}

//! `close`: close a socket and forget its handle; on a TLS handle, send
//! `close_notify` first, so the peer sees a clean end.

use super::send::send_failure;
use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[CLOSE];

pub const CLOSE: Spec = Spec {
    name: "close",
    synopsis: "close NAME",
    summary:
        "Close the socket and forget the handle; a Unix socket file its bind created is removed.",
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
        let finished = finish(session, &self.name)?;
        let removed = session.remove(&self.name)?.close();
        Ok(match finished {
            Ok(()) => Outcome::Closed { removed },
            // The handle is closed all the same, as Python's close() would.
            Err(failure) => Outcome::Text(format!(
                "closed (close_notify not sent: {})",
                session.hide_tmp(&send_failure(failure).to_string())
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
    Ok(session.retry(handle, libc::POLLOUT, deadline, "no room for close_notify", |h| {
        h.io.finish()
    }))
}

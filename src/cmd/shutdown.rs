//! `shutdown`: half-close a connection, or close a program's stdin.

use std::net::Shutdown as How;

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::handle::ProgramIo;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SHUTDOWN];

pub const SHUTDOWN: Spec = Spec {
    name: "shutdown",
    synopsis: "shutdown NAME read|write|both",
    summary: "Half-close: write sends end of stream (FIN) to the peer but keeps reading; read \
              stops receiving; both does the two. On a program, write closes its stdin.",
    python: "s.shutdown(socket.SHUT_WR)",
    example: "shutdown cli write",
    args: &[
        Slot::Handle(Fits::NotListening),
        Slot::Choice(&["read", "write", "both"]),
    ],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Shutdown::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Shutdown {
    name: String,
    how: How,
}

impl Shutdown {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let how = match args.literal("read|write|both")? {
            "read" => How::Read,
            "write" => How::Write,
            "both" => How::Both,
            other => return Err(args.usage_error(&format!("'{other}' is not read, write or both"))),
        };
        Ok(Shutdown { name, how })
    }

}

impl Run for Shutdown {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if let Some(program) = session.handle_mut(&self.name)?.io.as_program_mut() {
            return shut_stdin(program, self.how);
        }
        let socket = session.handle_mut(&self.name)?.socket_mut()?;
        socket.shutdown(self.how).map_err(|e| {
            Failure::from(e).with_hint(|errno| {
                (errno == nix::errno::Errno::ENOTCONN)
                    .then(|| "only a connected socket can shut down".to_string())
            })
        })?;
        socket.reading_shut |= matches!(self.how, How::Read | How::Both);
        let text = match self.how {
            How::Read => "shut down reading (SHUT_RD)",
            How::Write => "shut down writing (SHUT_WR): the peer will see end of stream",
            How::Both => "shut down both ways (SHUT_RDWR)",
        };
        Ok(Outcome::Text(text.to_string()))
    }
}

/// `shutdown NAME write` on a program: close its stdin, so it reads end
/// of file (a pipe has no other direction to shut).
fn shut_stdin(program: &mut ProgramIo, how: How) -> Result<Outcome, Failure> {
    if how != How::Write {
        return Err(Failure::usage(
            "a program's output cannot be shut down: shutdown NAME write closes its stdin, close NAME ends it",
        ));
    }
    program.close_stdin();
    Ok(Outcome::Text(
        "closed its stdin: the program reads end of file".to_string(),
    ))
}

impl crate::export::Export for Shutdown {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        if out.kind_of(&self.name) == Some(crate::export::HandleKind::Program) {
            match self.how {
                How::Write => out.line(format!("{s}.stdin.close()  # the program reads end of file")),
                _ => out.fail("a program's output cannot be shut down: shutdown NAME write closes its stdin"),
            }
            return Ok(());
        }
        let how = match self.how {
            How::Read => "SHUT_RD",
            How::Write => "SHUT_WR",
            How::Both => "SHUT_RDWR",
        };
        out.line(format!("{s}.shutdown(socket.{how})"));
        Ok(())
    }
}

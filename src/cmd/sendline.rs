//! `sendline`: send DATA and a line ending, for text protocols written a
//! line at a time (HTTP, SMTP, Redis): `\n`, or `\r\n` after `newline crlf`.
//! Like every command that takes data, it also takes `--hex HEX` and
//! `--file PATH` (the file streamed, then the line ending).

use super::send::{send_all, send_failure, send_file};
use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::data::Data;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, DataArg, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SENDLINE];

pub const SENDLINE: Spec = Spec {
    name: "sendline",
    synopsis: "sendline NAME DATA|--hex HEX|--file PATH",
    summary: "Send DATA and a line ending (\\n, or \\r\\n after newline crlf), all of it.",
    python: "s.sendall(b'PING' + b'\\r\\n')  # pwntools: r.sendline(b'PING')",
    example: "sendline c 'GET / HTTP/1.0'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: &[
        Flag::with("--hex", Slot::Value),
        Flag::with("--file", Slot::Path),
    ],
    scope: Scope::Language,
    parse: |args| SendLine::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct SendLine {
    name: String,
    data: DataArg,
}

impl SendLine {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let option = args.data_option()?;
        let name = args.handle()?;
        let data = args.data(option)?;
        Ok(SendLine { name, data })
    }
}

impl Run for SendLine {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let resolved = session.resolve_data(&self.data)?;
        let captured = resolved.captured;
        let ending = session.line_ending.bytes();
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let sent = match &*resolved.data {
            Data::Bytes(bytes) => {
                let mut line = bytes.clone();
                line.extend_from_slice(ending);
                send_all(session, handle, &line, &deadline).map_err(|f| send_failure(handle, f))?
            }
            // The file streamed as sendall sends it, then the ending.
            Data::File(path) => {
                let (sent, _) = send_file(session, handle, path, true, &deadline)?;
                sent + send_all(session, handle, ending, &deadline)
                    .map_err(|f| send_failure(handle, f))?
            }
        };
        Ok(Outcome::Sent {
            sent,
            of: sent,
            captured,
        })
    }
}

impl crate::export::Export for SendLine {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let data = out.data(&self.data);
        out.uses_newline = true;
        if out.kind_of(&self.name) == Some(crate::export::HandleKind::Program) {
            out.helper("programs");
            out.line(format!("send_program({s}, {data} + NEWLINE)"));
        } else {
            out.line(format!("{s}.sendall({data} + NEWLINE)"));
        }
        Ok(())
    }
}

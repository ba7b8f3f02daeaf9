//! `sendline`: send DATA and a line ending, for text protocols written a
//! line at a time (HTTP, SMTP, Redis): `\n`, or `\r\n` after `newline crlf`.

use super::send::{send_all, send_failure};
use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::data::Data;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, DataArg, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SENDLINE];

pub const SENDLINE: Spec = Spec {
    name: "sendline",
    synopsis: "sendline NAME DATA|--hex HEX",
    summary: "Send DATA and a line ending (\\n, or \\r\\n after newline crlf), all of it.",
    python: "s.sendall(b'PING' + b'\\r\\n')  # pwntools: r.sendline(b'PING')",
    example: "sendline c 'GET / HTTP/1.0'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: &[Flag::with("--hex", Slot::Value)],
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
        if matches!(&data, DataArg::Ready(Data::File(_))) {
            return Err(args.usage_error("a line is DATA or --hex, not a --file"));
        }
        Ok(SendLine { name, data })
    }
}

impl Run for SendLine {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let resolved = session.resolve_data(&self.data)?;
        let mut line = match &*resolved.data {
            Data::Bytes(bytes) => bytes.clone(),
            Data::File(_) => return Err(Failure::usage("a line is DATA or --hex, not a --file")),
        };
        let captured = resolved.captured;
        line.extend_from_slice(session.line_ending.bytes());
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let sent = send_all(session, handle, &line, deadline).map_err(|f| send_failure(handle, f))?;
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

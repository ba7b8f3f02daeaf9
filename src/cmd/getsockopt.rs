//! `getsockopt`: show a socket option by its C name.

use super::sockopt::SockOpt;
use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[GETSOCKOPT];

pub const GETSOCKOPT: Spec = Spec {
    name: "getsockopt",
    synopsis: "getsockopt NAME OPT",
    summary: "Show a socket option; also SO_ERROR (the pending error, as an errno name) and \
              SO_TYPE (e.g. 1 (SOCK_STREAM)).",
    python: "s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)",
    example: "getsockopt cli SO_TYPE",
    args: &[Slot::Handle(Fits::Any), Slot::SockOpt],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| GetSockOpt::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct GetSockOpt {
    name: String,
    option: SockOpt,
}

impl GetSockOpt {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let option = SockOpt::parse(args.literal("OPT")?)?;
        Ok(GetSockOpt { name, option })
    }

}

impl Run for GetSockOpt {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let socket = session.handle(&self.name)?.socket()?;
        let value = self.option.get(socket)?;
        Ok(Outcome::Text(format!("{} = {value}", self.option.name())))
    }
}

impl crate::export::Export for GetSockOpt {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let option = self.option.python();
        match self.option {
            SockOpt::Linger => {
                out.import("struct");
                out.line(format!("print(struct.unpack('ii', {s}.getsockopt({option}, 8)))"));
            }
            SockOpt::Error => {
                out.import("errno");
                out.line(format!("err = {s}.getsockopt({option})"));
                out.line("print(errno.errorcode.get(err, err) if err else 0)");
            }
            _ => out.line(format!("print({s}.getsockopt({option}))")),
        }
        Ok(())
    }
}

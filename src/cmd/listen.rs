//! `listen`: turn a bound stream socket into a listening one.

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[LISTEN];

pub const LISTEN: Spec = Spec {
    name: "listen",
    synopsis: "listen NAME [BACKLOG]",
    summary: "Listen for connections (default backlog 128). The kernel completes handshakes \
              and queues connections until accept takes them.",
    python: "s.listen()",
    example: "listen srv",
    args: &[Slot::Handle(Fits::CanListen), Slot::Value],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Listen::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Listen {
    name: String,
    backlog: Option<Arg<i32>>,
}

impl Listen {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let name = args.handle()?;
        let backlog = args.optional_arg(|w| {
            w.parse::<i32>()
                .map_err(|_| format!("bad backlog '{w}': a number"))
        })?;
        Ok(Listen { name, backlog })
    }

}

impl Run for Listen {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let backlog = match &self.backlog {
            Some(arg) => *session.resolve(arg)?,
            None => 128,
        };
        let socket = session.handle(&self.name)?.socket()?;
        socket.listen(backlog).map_err(|e| {
            Failure::from(e).with_hint(|errno| {
                (errno == nix::errno::Errno::EOPNOTSUPP)
                    .then(|| "only stream sockets listen".to_string())
            })
        })?;
        let (local, kind) = (socket.local_addr(), socket.kind);
        session.note_kernel_choice(&self.name);
        let local = local.map_err(|_| Failure::usage("the listening socket has no address"))?;
        let local = Endpoint::new(local, kind);
        Ok(Outcome::Listening { local, backlog })
    }
}

impl crate::export::Export for Listen {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        match &self.backlog {
            None => out.line(format!("{s}.listen()")),
            Some(backlog) => {
                let n = out.number(backlog);
                out.line(format!("{s}.listen({n})"));
            }
        }
        Ok(())
    }
}

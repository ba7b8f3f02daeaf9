//! `listen`: turn a bound stream socket into a listening one.

use super::Help;
use crate::errors::Failure;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const HELP: Help = Help {
    name: "listen",
    synopsis: "listen NAME [BACKLOG]",
    summary: "Listen for connections (default backlog 128). The kernel completes handshakes \
              and queues connections until accept takes them.",
    python: "s.listen()",
    example: "listen srv",
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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let backlog = match &self.backlog {
            Some(arg) => *arg.get(session)?,
            None => 128,
        };
        let handle = session.handle(&self.name)?;
        handle.socket.listen(backlog).map_err(|e| {
            Failure::from(e).with_hint(|errno| {
                (errno == nix::errno::Errno::EOPNOTSUPP)
                    .then(|| "only stream sockets listen".to_string())
            })
        })?;
        let local = handle.local_addr();
        session.note_kernel_choice(&self.name);
        let local = local.ok_or_else(|| Failure::usage("the listening socket has no address"))?;
        let local = Endpoint {
            addr: local,
            kind: session.handle(&self.name)?.kind,
        };
        Ok(Outcome::Listening { local, backlog })
    }
}

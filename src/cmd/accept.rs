//! `accept`: take one connection from a listening socket's queue.

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[ACCEPT];

pub const ACCEPT: Spec = Spec {
    name: "accept",
    synopsis: "accept NAME [NEW]",
    summary:
        "Accept one connection as handle NEW (default NAME-1, NAME-2, ...) and show the peer. \
              Waits at most the timeout for a connection.",
    python: "conn, addr = s.accept()",
    example: "accept srv conn",
    args: &[Slot::Handle(Fits::Listening), Slot::NewHandle],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Accept::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Accept {
    listener: String,
    new: Option<String>,
}

impl Accept {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Accept {
            listener: args.handle()?,
            new: args.optional_handle()?,
        })
    }
}

impl Run for Accept {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let new = match &self.new {
            Some(name) => name.clone(),
            None => default_name(session, &self.listener)?,
        };
        session.check_free(&new)?;
        let listener = session.handle(&self.listener)?;
        let listening = listener.socket()?;
        let deadline = session.deadline(listener);
        let (socket, peer) = session
            .retry(listener, libc::POLLIN, &deadline, "no connection", |_| {
                listening.accept()
            })
            .map_err(|f| {
                f.with_hint(|errno| {
                    (errno == nix::errno::Errno::EINVAL)
                        .then(|| format!("{} is not listening", self.listener))
                })
            })?;
        let kind = listening.kind;
        let accepted = session.insert_socket(&new, socket, kind)?;
        accepted.socket_mut()?.port_chosen = true;
        session.note_peer_port(&new);
        let local = session.handle(&new)?.socket()?.local_addr()?;
        let peer = Endpoint::on(peer.clone(), kind, local, Some(peer));
        Ok(Outcome::Accepted { handle: new, peer })
    }
}

/// `srv-1`, or `srv-2` when `srv-1` is taken, ...: the first free `NAME-N`
/// counting from 1 (SPEC §6), so a name freed by `close` is used again.
fn default_name(session: &Session, listener: &str) -> Result<String, Failure> {
    session.handle(listener)?;
    Ok((1u64..)
        .map(|n| format!("{listener}-{n}"))
        .find(|name| !session.contains(name))
        .expect("a session holds fewer handles than there are numbers"))
}

impl crate::export::Export for Accept {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.listener);
        // As default_name: the first NAME-N from 1 not in use.
        let name = match &self.new {
            Some(name) => name.clone(),
            None => (1u64..)
                .map(|n| format!("{}-{n}", self.listener))
                .find(|name| out.kind_of(name).is_none())
                .expect("fewer handles than numbers"),
        };
        let kind = out
            .kind_of(&self.listener)
            .unwrap_or(crate::export::HandleKind::Socket(crate::kind::Kind::from_short("tcp").expect("tcp")));
        let conn = out.new_handle(&name, kind);
        out.line(format!("{conn}, {conn}_addr = {s}.accept()"));
        out.line(format!("print('accepted', {conn}_addr)"));
        out.track(&conn);
        Ok(())
    }
}

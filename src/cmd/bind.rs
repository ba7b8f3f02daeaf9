//! `bind`: give a socket its local address.

use nix::errno::Errno;

use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::address::Address;
use crate::errors::Failure;
use crate::handle::BoundFile;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[BIND];

pub const BIND: Spec = Spec {
    name: "bind",
    synopsis: "bind NAME ADDR",
    summary: "Bind the socket to a local address and show the address actually bound \
              (port 0 lets the kernel choose; a Unix path is removed again on close).",
    python: "s.bind(('127.0.0.1', 0))",
    example: "bind srv 127.0.0.1:0",
    args: &[Slot::Handle(Fits::Any), Slot::Addr],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Bind::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Bind {
    name: String,
    addr: Arg<Address>,
}

impl Bind {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(Bind {
            name: args.handle()?,
            addr: args.arg("ADDR", Address::parse)?,
        })
    }

}

impl Run for Bind {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let addr = session.resolve(&self.addr)?.into_owned();
        let handle = session.handle(&self.name)?;
        let (kind, deadline) = (handle.socket()?.kind, session.deadline(handle).start());
        if let Address::UnixPath(path) = &addr {
            crate::sandbox::check(path, crate::sandbox::Use::Write)?;
        }
        let sockaddr = addr.resolve(kind, deadline)?;
        let shown = session.show_addr(kind, &sockaddr);
        let socket = session.handle_mut(&self.name)?.socket_mut()?;
        socket
            .bind(&sockaddr)
            .map_err(|e| Failure::from(e).with_hint(|errno| bind_hint(errno, &addr, &shown)))?;
        if let Address::UnixPath(path) = &addr {
            socket.bound_path = BoundFile::new(path.clone());
        }
        socket.port_chosen = chosen_by_script(&addr, &sockaddr);
        let local = socket.local_addr().unwrap_or(sockaddr);
        session.note_kernel_choice(&self.name);
        Ok(Outcome::Bound(Endpoint::new(local, kind)))
    }
}

/// Whether the script named the port or name itself (port 0 and a bare `@`
/// leave the choice to the kernel).
fn chosen_by_script(addr: &Address, sockaddr: &socket2::SockAddr) -> bool {
    match addr {
        Address::Abstract(name) => !name.is_empty(),
        Address::UnixPath(_) => true,
        _ => sockaddr.as_socket().is_some_and(|a| a.port() != 0),
    }
}

fn bind_hint(errno: Errno, addr: &Address, shown: &str) -> Option<String> {
    Some(match (errno, addr) {
        (Errno::EADDRINUSE, Address::UnixPath(_)) => {
            format!("the file {shown} already exists: remove it or bind another path")
        }
        (Errno::EADDRINUSE, Address::Abstract(_)) => {
            format!("another socket already has the abstract name {shown}: choose another name")
        }
        (Errno::EADDRINUSE, _) => format!(
            "another socket holds {shown}: use another port (port 0 lets the kernel choose); SO_REUSEADDR before bind helps only when the holder is a closing connection (FIN_WAIT2, TIME_WAIT), not a listener"
        ),
        (Errno::EADDRNOTAVAIL, _) => format!("no interface on this machine has the address {shown}"),
        (Errno::EACCES, Address::UnixPath(_)) => format!("no permission to create {shown}"),
        (Errno::EACCES, _) => "ports below 1024 need root or CAP_NET_BIND_SERVICE".into(),
        (Errno::EINVAL, _) => "the socket is already bound".into(),
        (Errno::ENOENT, _) => format!("the directory of {shown} does not exist"),
        _ => return None,
    })
}

impl crate::export::Export for Bind {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let addr = out.addr(&self.addr, &self.name);
        out.line(format!("{s}.bind({addr})"));
        let unix = out
            .socket_kind(&self.name)
            .is_some_and(|k| k.family == crate::kind::Family::Unix);
        let path = match &self.addr {
            Arg::Ready(address) => matches!(address, Address::UnixPath(_)),
            Arg::Later(..) => unix,
        };
        if unix && path {
            out.helper("unlink_at_exit");
            out.line(format!(
                "unlink_at_exit({s}, {s}.getsockname())  # sockrepl removes the file its bind made"
            ));
            out.bound.insert(self.name.clone());
        }
        Ok(())
    }
}

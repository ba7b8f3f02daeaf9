//! `bind`: give a socket its local address.

use nix::errno::Errno;

use super::Help;
use crate::address::Address;
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const HELP: Help = Help {
    name: "bind",
    synopsis: "bind NAME ADDR",
    summary: "Bind the socket to a local address and show the address actually bound \
              (port 0 lets the kernel choose; a Unix path is removed again on close).",
    python: "s.bind(('127.0.0.1', 0))",
    example: "bind srv 127.0.0.1:0",
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

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let addr = self.addr.get(session)?.into_owned();
        let handle = session.handle_mut(&self.name)?;
        let sockaddr = addr.resolve(handle.kind)?;
        handle
            .socket
            .bind(&sockaddr)
            .map_err(|e| Failure::from(e).with_hint(|errno| bind_hint(errno, &addr)))?;
        if let Address::UnixPath(path) = &addr {
            handle.bound_path = Some(path.clone());
        }
        handle.port_chosen = sockaddr.as_socket().is_some_and(|a| a.port() != 0);
        let local = handle.local_addr().unwrap_or(sockaddr);
        session.note_kernel_choice(&self.name);
        Ok(Outcome::Bound(local))
    }
}

fn bind_hint(errno: Errno, addr: &Address) -> Option<String> {
    let unix = matches!(addr, Address::UnixPath(_));
    Some(match errno {
        Errno::EADDRINUSE if unix => format!("the file {addr} already exists: remove it or bind another path"),
        Errno::EADDRINUSE => format!(
            "another socket holds {addr}: set SO_REUSEADDR before bind, or use another port (port 0 lets the kernel choose)"
        ),
        Errno::EADDRNOTAVAIL => format!("no interface on this machine has the address {addr}"),
        Errno::EACCES if !unix => "ports below 1024 need root or CAP_NET_BIND_SERVICE".into(),
        Errno::EACCES => format!("no permission to create {addr}"),
        Errno::EINVAL => "the socket is already bound".into(),
        Errno::ENOENT => format!("the directory of {addr} does not exist"),
        _ => return None,
    })
}

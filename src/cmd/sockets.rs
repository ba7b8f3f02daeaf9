//! `sockets`: the live handles as a table, like `netstat -tanp`.

use super::{Command, Run, Scope, Spec};
use crate::errors::Failure;
use crate::kind::Family;
use crate::netstat::{socket_row, ProcTcp};
use crate::outcome::Outcome;
use crate::session::Session;

pub const SPECS: &[Spec] = &[SOCKETS];

pub const SOCKETS: Spec = Spec {
    name: "sockets",
    synopsis: "sockets",
    summary:
        "Show every live handle like netstat -tanp: protocol, Recv-Q, Send-Q, local and \
              foreign address, and the kernel's own TCP state (LISTEN, ESTABLISHED, CLOSE_WAIT...).",
    python: "(netstat -tanp in a shell)",
    example: "sockets",
    args: &[],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |_| Ok(Command::from(Sockets)),
};

#[derive(Debug, Clone)]
pub struct Sockets;

impl Run for Sockets {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let handles = session.handles();
        let tcp = handles
            .iter()
            .filter_map(|h| h.kind())
            .any(|kind| kind.port_space() == "tcp" && kind.family != Family::Unix);
        // Read the kernel's tables only when a TCP socket needs them.
        let proc_tcp = if tcp {
            ProcTcp::load()
        } else {
            ProcTcp::default()
        };
        Ok(Outcome::Table(
            handles
                .into_iter()
                .filter_map(|h| h.socket().ok().map(|s| socket_row(h, s, &proc_tcp)))
                .collect(),
        ))
    }
}

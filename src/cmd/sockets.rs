//! `sockets`: the live handles as a table, like `netstat -tanp`.

use super::Help;
use crate::errors::Failure;
use crate::kind::Family;
use crate::netstat::{socket_row, ProcTcp};
use crate::outcome::Outcome;
use crate::session::Session;

pub const HELP: Help = Help {
    name: "sockets",
    synopsis: "sockets",
    summary:
        "Show every live handle like netstat -tanp: protocol, Recv-Q, Send-Q, local and \
              foreign address, and the kernel's own TCP state (LISTEN, ESTABLISHED, CLOSE_WAIT...).",
    python: "(netstat -tanp in a shell)",
    example: "sockets",
};

#[derive(Debug, Clone)]
pub struct Sockets;

impl Sockets {
    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let handles = session.handles();
        let tcp = handles
            .iter()
            .any(|h| h.kind.port_space() == "tcp" && h.kind.family != Family::Unix);
        // Read the kernel's tables only when a TCP socket needs them.
        let proc_tcp = if tcp {
            ProcTcp::load()
        } else {
            ProcTcp::default()
        };
        Ok(Outcome::Table(
            handles
                .into_iter()
                .map(|h| socket_row(h, &proc_tcp))
                .collect(),
        ))
    }
}

//! `sockets`: the live handles as a table, like `netstat -tanp`.

use super::Help;
use crate::errors::Failure;
use crate::netstat::socket_row;
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
        Ok(Outcome::Table(
            session.handles().into_iter().map(socket_row).collect(),
        ))
    }
}

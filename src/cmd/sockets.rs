//! `sockets`: the live handles as a table, like `netstat -tanp`.

use super::{Command, Run, Scope, Spec};
use crate::errors::Failure;
use crate::kind::Family;
use crate::netstat::{socket_row, ProcTcp};
use crate::handle::{Handle, ProgramIo};
use crate::outcome::{Outcome, ProgramRow, TableRow};
use crate::program::{signal_name, ExitStatus};
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
        session.reap_programs(); // so each program's state is its latest
        let handles = session.handles();
        if handles.iter().any(|h| h.io.as_program().is_some()) {
            return Ok(Outcome::Handles(with_programs(&handles)));
        }
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

/// Every handle's row, programs among the sockets, in the order made.
fn with_programs(handles: &[&Handle]) -> Vec<TableRow> {
    let proc_tcp = ProcTcp::load();
    handles
        .iter()
        .filter_map(|h| match h.io.as_program() {
            Some(program) => Some(TableRow::Program(program_row(h, program))),
            None => h
                .socket()
                .ok()
                .map(|s| TableRow::Socket(Box::new(socket_row(h, s, &proc_tcp)))),
        })
        .collect()
}

fn program_row(handle: &Handle, io: &ProgramIo) -> ProgramRow {
    let (recv_q, send_q) = io.queues();
    let program = io.program();
    let state = match program.status() {
        None => "running".to_string(),
        Some(ExitStatus::Exited(code)) => format!("exited {code}"),
        Some(ExitStatus::Signaled { signal, .. }) => format!("killed {}", signal_name(signal)),
    };
    ProgramRow {
        name: handle.name.clone(),
        recv_q,
        send_q,
        pid: program.pid(),
        program: program.name().to_string(),
        state,
    }
}

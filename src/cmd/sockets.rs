//! `sockets [--all]`: the live handles as a table, like `netstat -tanp`;
//! with `--all`, also the kernel's TCP sockets on the session's ports that
//! no handle holds (a TIME_WAIT after an active close, a connection not yet
//! accepted), read as `ss` reads them. Where a row is not what netstat
//! would show, a note under the table says so and why.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Command, Flag, Run, Scope, Spec};
use crate::capture::unmapped;
use crate::diag::{socket_inode, tcp_sockets, TcpRow};
use crate::errors::Failure;
use crate::handle::{Handle, ProgramIo};
use crate::kind::{Family, Kind};
use crate::netstat::{self, socket_row, Note, ProcTcp, SocketRow};
use crate::outcome::{Outcome, ProgramRow, TableRow};
use crate::program::{signal_name, ExitStatus};
use crate::session::Session;

pub const SPECS: &[Spec] = &[SOCKETS];

pub const SOCKETS: Spec = Spec {
    name: "sockets",
    synopsis: "sockets [--all]",
    summary:
        "Show every live handle like netstat -tanp: protocol, Recv-Q, Send-Q, local and \
              foreign address, and the kernel's own TCP state (LISTEN, ESTABLISHED, CLOSE_WAIT...). \
              --all adds the kernel's sockets on the session's ports that no handle holds \
              (TIME_WAIT, connections not yet accepted).",
    python: "(netstat -tanp in a shell; ss -tan for --all)",
    example: "sockets --all",
    args: &[],
    repeats: false,
    flags: &[Flag::switch("--all")],
    scope: Scope::Language,
    parse: |args| {
        Ok(Command::from(Sockets {
            all: args.flag("--all"),
        }))
    },
};

/// The longest `--all` waits for connections that are changing state
/// (an acknowledgement in flight) to settle.
const SETTLE: Duration = Duration::from_secs(1);
const SETTLE_PAUSE: Duration = Duration::from_millis(2);
/// The longest `sockets` waits for the handles' loopback acknowledgements:
/// past Linux's longest delayed ACK (200 ms), for a peer that never
/// answers (a stopped program) it shows what is there.
const HANDLE_SETTLE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Sockets {
    all: bool,
}

impl Run for Sockets {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        session.reap_programs(); // so each program's state is its latest
        let kernel = if self.all {
            Some(settled_kernel_rows(session)?)
        } else {
            None
        };
        let mut rows = handle_rows(session)?;
        mark_time_waits(session, &mut rows, kernel.as_deref());
        if let Some(kernel) = kernel {
            let unheld = unheld_rows(session, kernel);
            rows.extend(unheld.into_iter().map(|row| TableRow::Socket(Box::new(row))));
        }
        Ok(Outcome::Table(rows))
    }
}

/// Every handle's row, programs among the sockets, in the order made.
fn handle_rows(session: &Session) -> Result<Vec<TableRow>, Failure> {
    let handles = session.handles();
    let tcp = handles.iter().any(|h| is_tcp(h));
    // Read the kernel's tables only when a TCP socket needs them, and
    // only once no acknowledgement is on its way over loopback: after
    // that, the state and the queues read next agree with each other.
    let proc_tcp = if tcp {
        settle_handles(&handles)?;
        ProcTcp::load()
    } else {
        ProcTcp::default()
    };
    Ok(handles
        .into_iter()
        .filter_map(|h| match h.io.as_program() {
            Some(program) => Some(TableRow::Program(program_row(h, program))),
            None => h
                .socket()
                .ok()
                .map(|s| TableRow::Socket(Box::new(socket_row(h, s, &proc_tcp)))),
        })
        .collect())
}

/// Waits (at most [`HANDLE_SETTLE`]) while a TCP handle's loopback
/// connection has an acknowledgement on its way, so a `sockets` right
/// after a `send` or a `shutdown` shows the Send-Q and state the kernel
/// settles on, the same on every run. With nothing in flight, the common
/// case, it reads each socket once and returns at once.
fn settle_handles(handles: &[&Handle]) -> Result<(), Failure> {
    let started = Instant::now();
    while handles.iter().any(|h| is_tcp(h) && netstat::in_flight(h)) {
        if started.elapsed() >= HANDLE_SETTLE {
            break;
        }
        crate::wait::sleep(SETTLE_PAUSE)?;
    }
    Ok(())
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

fn socket_rows(rows: &mut [TableRow]) -> impl Iterator<Item = &mut SocketRow> {
    rows.iter_mut().filter_map(|row| match row {
        TableRow::Socket(socket) => Some(&mut **socket),
        TableRow::Program(_) => None,
    })
}

fn is_tcp(handle: &Handle) -> bool {
    handle
        .kind()
        .is_some_and(|kind| kind.is_stream() && kind.family != Family::Unix)
}

/// A live TCP handle as the kernel's rows are matched against it.
struct Live {
    name: String,
    local: SocketAddr,
    /// The peer it connected to or accepted, even after the connection ended.
    peer: Option<SocketAddr>,
    listening: bool,
}

fn live_tcp(session: &Session) -> Vec<Live> {
    session
        .handles()
        .into_iter()
        .filter(|h| is_tcp(h))
        .filter_map(|h| {
            Some(Live {
                name: h.name.clone(),
                local: unmapped(h.local_addr()?.as_socket()?),
                peer: session.history.peer_of(h.serial),
                listening: h.is_listening(),
            })
        })
        .collect()
}

impl Live {
    /// Whether a kernel socket from `local` to `remote` is this handle's
    /// connection (its own, or what it left in TIME_WAIT).
    fn connection(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.local == unmapped(local) && self.peer == Some(unmapped(remote))
    }
}

/// A handle in CLOSE whose connection waits in TIME_WAIT apart from it
/// (it closed first, and the peer closed too) gets its own note. The
/// kernel's rows are read for it only when such a row is there.
fn mark_time_waits(session: &Session, rows: &mut [TableRow], kernel: Option<&[TcpRow]>) {
    let live = live_tcp(session);
    let closed: Vec<&Live> = socket_rows(rows)
        .filter(|row| row.note == Some(Note::NotListed))
        .filter_map(|row| live.iter().find(|l| l.name == row.name && l.peer.is_some()))
        .collect();
    if closed.is_empty() {
        return;
    }
    let read;
    let kernel = match kernel {
        Some(kernel) => kernel,
        None => {
            let ports: Vec<u16> = closed.iter().map(|l| l.local.port()).collect();
            read = tcp_sockets(&ports).unwrap_or_default();
            &read
        }
    };
    for handle in closed {
        let waiting = kernel
            .iter()
            .any(|row| row.state == "TIME_WAIT" && handle.connection(row.local, row.remote));
        if let (true, Some(row)) = (waiting, socket_rows(rows).find(|r| r.name == handle.name)) {
            row.note = Some(Note::TimeWaitApart);
        }
    }
}

/// The session's TCP ports: those its handles hold, and those of the
/// sockets it closed.
fn session_ports(session: &Session) -> Vec<u16> {
    let mut ports: Vec<u16> = session
        .handles()
        .into_iter()
        .filter(|h| is_tcp(h))
        .filter_map(|h| h.local_addr()?.as_socket())
        .map(|local| local.port())
        .chain(
            session
                .history
                .closed()
                .filter(|closed| closed.stream)
                .map(|closed| closed.local.port()),
        )
        .filter(|&port| port != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// States in which an acknowledgement is on its way: a moment later the
/// connection is in another state.
fn in_flight(row: &TcpRow) -> bool {
    matches!(
        row.state,
        "SYN_SENT" | "SYN_RECV" | "NEW_SYN_RECV" | "FIN_WAIT1" | "CLOSING" | "LAST_ACK"
    )
}

/// The kernel's TCP sockets on the session's ports, once none of them is
/// waiting for an acknowledgement already on its way (at most [`SETTLE`]),
/// so the table shows where each connection stands, as `ss` a moment later
/// would.
fn settled_kernel_rows(session: &Session) -> Result<Vec<TcpRow>, Failure> {
    let ports = session_ports(session);
    let started = Instant::now();
    loop {
        let rows = tcp_sockets(&ports)?;
        if !rows.iter().any(in_flight) || started.elapsed() >= SETTLE {
            return Ok(rows);
        }
        crate::wait::sleep(SETTLE_PAUSE)?;
    }
}

/// The kernel's sockets that no handle holds but the session made: a
/// connection not yet accepted from a listener of it, or what a handle
/// left behind (TIME_WAIT; a close still under way), whether the handle
/// is closed or still open. Other programs' sockets on a port the session
/// once used are left out. Each row has the note that says why it is there.
fn unheld_rows(session: &Session, kernel: Vec<TcpRow>) -> Vec<SocketRow> {
    let handles = session.handles();
    let held: HashSet<u64> = handles
        .iter()
        .filter_map(|h| socket_inode(h.as_fd()).ok())
        .collect();
    let live = live_tcp(session);
    let mut rows: Vec<(String, SocketRow)> = kernel
        .into_iter()
        .filter(|row| row.inode == 0 || !held.contains(&row.inode))
        .filter_map(|row| {
            let local = unmapped(row.local);
            let not_accepted = row.inode == 0
                && row.state != "TIME_WAIT"
                && live
                    .iter()
                    .any(|l| l.listening && l.local.port() == local.port() && covers(l.local, local));
            let left = session.history.left_behind(row.local, row.remote)
                || live.iter().any(|l| l.connection(row.local, row.remote));
            if !not_accepted && !left {
                return None;
            }
            let note = note_for(&row, not_accepted);
            let kind = Kind::from_short(if row.local.is_ipv4() { "tcp" } else { "tcp6" })
                .expect("a kind sockrepl knows");
            let key = format!(
                "{} {}",
                session.show_addr(kind, &row.local.into()),
                session.show_addr(kind, &row.remote.into())
            );
            Some((key, kernel_row(row, kind, note)))
        })
        .collect();
    // The kernel's order follows a hash: sort as the transcript shows them.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter().map(|(_, row)| row).collect()
}

fn covers(bound: SocketAddr, end: SocketAddr) -> bool {
    bound.ip() == end.ip() || bound.ip().is_unspecified()
}

fn note_for(row: &TcpRow, on_listener: bool) -> Note {
    match row.state {
        "TIME_WAIT" => Note::TimeWait,
        _ if row.inode != 0 => Note::Elsewhere,
        "FIN_WAIT1" | "FIN_WAIT2" | "LAST_ACK" | "CLOSING" => Note::Closing,
        _ if on_listener => Note::NotAccepted,
        _ => Note::Elsewhere,
    }
}

fn kernel_row(row: TcpRow, kind: Kind, note: Note) -> SocketRow {
    SocketRow {
        name: "-".to_string(),
        kind,
        recv_q: u64::from(row.recv_q),
        send_q: u64::from(row.send_q),
        local: Some(row.local.into()),
        foreign: Some(row.remote.into()),
        state: row.state,
        note: Some(note),
        layer: None,
    }
}

impl crate::export::Export for Sockets {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let flags = if self.all { "-tuxanp" } else { "-tanp" };
        out.line(format!(
            "# sockets: the kernel's table of these sockets; in a shell: netstat {flags} (or ss {flags})"
        ));
        Ok(())
    }
}

//! Step four of a line's path: an outcome into transcript text.
//!
//! Every address goes through the session, which applies the `--stable`
//! placeholders, so the same script renders byte for byte the same.

use socket2::SockAddr;

use crate::cmd::poll::describe_events;
use crate::data::{bytes_literal, hexdump};
use crate::errors::describe_errno;
use crate::netstat::SocketRow;
use crate::outcome::{Outcome, ReceiveKind, Received};
use crate::session::Session;

/// The text an outcome shows, or `None` for a silent one.
pub fn render(outcome: &Outcome, session: &Session) -> Option<String> {
    let addr = |a: &SockAddr| session.show_addr(a);
    Some(match outcome {
        Outcome::Nothing | Outcome::Exit(_) => return None,
        Outcome::Text(text) | Outcome::Available(text) => text.clone(),
        Outcome::Created { handle } => created(session, handle),
        Outcome::Pair { first, second } => format!(
            "{} (connected to each other)",
            [created(session, first), created(session, second)].join("; ")
        ),
        Outcome::Bound(local) => format!("bound to {}", addr(local)),
        Outcome::Listening { local, backlog } => format!("listening on {} (backlog {backlog})", addr(local)),
        Outcome::Connected { local, peer } => format!("connected {} -> {}", addr(local), addr(peer)),
        Outcome::ConnectResult(None) => "0".to_string(),
        Outcome::ConnectResult(Some(errno)) => describe_errno(*errno),
        Outcome::Accepted { handle, peer } => format!("accepted {handle} from {}", addr(peer)),
        Outcome::Sent { sent, of } if sent == of => format!("sent {}", plural(*sent, "byte")),
        Outcome::Sent { sent, of } => format!("sent {sent} of {}", plural(*of, "byte")),
        Outcome::SentTo { sent, to } => format!("sent {} to {}", plural(*sent, "byte"), addr(to)),
        Outcome::Received(received) => render_received(received, session),
        Outcome::Saved { count, path } => {
            format!("received {} into {}, then end of stream", plural(*count, "byte"), path.display())
        }
        Outcome::Closed { removed: None } => "closed".to_string(),
        Outcome::Closed { removed: Some(path) } => format!("closed (removed {})", path.display()),
        Outcome::Address(a) => addr(a),
        Outcome::Polled(states) => {
            let width = states.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            let lines: Vec<String> = states
                .iter()
                .map(|(name, revents)| format!("{name:width$}  {}", describe_events(*revents)))
                .collect();
            lines.join("\n")
        }
        Outcome::Table(rows) => render_table(rows, session),
        Outcome::Expected { count } => format!("ok: {} as expected", plural(*count, "byte")),
        Outcome::EndOfStreamExpected => "ok: end of stream".to_string(),
        Outcome::FailedAsExpected(failure) => format!("failed as expected: {failure}"),
        Outcome::Skip(reason) => format!("skipped: {reason}"),
    })
}

fn created(session: &Session, name: &str) -> String {
    match session.handle(name) {
        Ok(handle) => format!("created {name}: {}, fd {}", handle.kind, session.show_fd(handle)),
        Err(_) => format!("created {name}"),
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn render_received(received: &Received, session: &Session) -> String {
    let from = received
        .from
        .as_ref()
        .filter(|a| a.as_socket().is_some() || a.as_pathname().is_some() || a.as_abstract_namespace().is_some())
        .map(|a| format!(" from {}", session.show_addr(a)))
        .unwrap_or_default();
    let shown = |bytes: &[u8]| {
        if received.hex {
            hexdump(bytes)
        } else {
            bytes_literal(bytes)
        }
    };
    match &received.what {
        ReceiveKind::Bytes { bytes, truncated_from } => {
            let cut = truncated_from
                .map(|size| format!(" (datagram of {size} bytes cut to {})", bytes.len()))
                .unwrap_or_default();
            if received.hex {
                format!("{} bytes{from}{cut}:\n{}", bytes.len(), shown(bytes))
            } else {
                format!("{}{from}{cut}", shown(bytes))
            }
        }
        ReceiveKind::All(bytes) if received.hex => {
            format!("{}, then end of stream:\n{}", plural(bytes.len() as u64, "byte"), shown(bytes))
        }
        ReceiveKind::All(bytes) => {
            format!("{} ({}, then end of stream)", shown(bytes), plural(bytes.len() as u64, "byte"))
        }
        ReceiveKind::EndOfStream => "b'' (end of stream: the peer closed its side)".to_string(),
        ReceiveKind::EmptyDatagram => format!("b'' (an empty datagram){from}"),
    }
}

/// The `sockets` table, laid out like `netstat -tanp`.
fn render_table(rows: &[SocketRow], session: &Session) -> String {
    let header = ["Name", "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                row.proto.to_string(),
                row.recv_q.to_string(),
                row.send_q.to_string(),
                table_addr(row.local.as_ref(), session),
                table_addr(row.foreign.as_ref(), session),
                row.state.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let numeric = |column: usize| column == 2 || column == 3;
    let format_row = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if numeric(i) {
                    format!("{cell:>w$}", w = widths[i])
                } else {
                    format!("{cell:w$}", w = widths[i])
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut lines = vec![format_row(&header.map(String::from))];
    lines.extend(cells.iter().map(|row| format_row(row)));
    if rows.is_empty() {
        lines.push("(no handles)".to_string());
    }
    lines.join("\n")
}

/// netstat's `*` for "any port" or "no peer".
fn table_addr(addr: Option<&SockAddr>, session: &Session) -> String {
    match addr {
        None => "*".to_string(),
        Some(a) => match a.as_socket() {
            Some(inet) if inet.port() == 0 => format!("{}:*", inet.ip()),
            _ if a.is_unnamed() => "*".to_string(),
            _ => session.show_addr(a),
        },
    }
}

//! Step four of a line's path: an outcome into transcript text.
//!
//! Every address goes through the session, which applies the `--stable`
//! placeholders, so the same script renders byte for byte the same.

use socket2::SockAddr;
use std::fmt::{self, Write as _};

use crate::data::{bytes_literal, hexdump};
use crate::errors::describe_errno;
use crate::kind::Kind;
use crate::netstat::SocketRow;
use crate::outcome::{Endpoint, Outcome, ProgramRow, ReceiveKind, Received, TableRow};
use crate::session::Session;

/// Appends the text an outcome shows to `out` (nothing for a silent one).
/// Writing into one reused buffer keeps the per-command cost to the system
/// calls themselves.
pub fn render(outcome: &Outcome, session: &Session, out: &mut String) {
    let addr = |e: &Endpoint| session.show(e);
    // Writing to a String cannot fail.
    let _ = match outcome {
        Outcome::Nothing | Outcome::Exit(_) => Ok(()),
        Outcome::Text(text) => out.write_str(text),
        Outcome::Created { handle } => out.write_str(&created(session, handle)),
        Outcome::Pair { first, second } => write!(
            out,
            "{}; {} (connected to each other)",
            created(session, first),
            created(session, second)
        ),
        Outcome::Bound(local) => write!(out, "bound to {}", addr(local)),
        Outcome::Listening { local, backlog } => {
            write!(out, "listening on {} (backlog {backlog})", addr(local))
        }
        Outcome::Connected { local, peer } => {
            write!(out, "connected {} -> {}", addr(local), addr(peer))
        }
        Outcome::ConnectResult(None) => out.write_str("0"),
        Outcome::ConnectResult(Some(errno)) => out.write_str(&describe_errno(*errno)),
        Outcome::Accepted { handle, peer } => write!(out, "accepted {handle} from {}", addr(peer)),
        Outcome::Spawned {
            handle,
            command,
            pid,
        } => match session.stable {
            true => write!(out, "started {handle}: {command} (pid <{handle}.pid>)"),
            false => write!(out, "started {handle}: {command} (pid {pid})"),
        },
        Outcome::Sent {
            captured: true,
            sent,
            of,
        } if session.stable => match sent == of {
            true => out.write_str("sent <N> bytes"),
            false => out.write_str("sent <N> of <N> bytes"),
        },
        Outcome::Sent { sent, of, .. } if sent == of => {
            write!(out, "sent {}", Count(*sent, "byte"))
        }
        Outcome::Sent { sent, of, .. } => write!(out, "sent {sent} of {}", Count(*of, "byte")),
        Outcome::SentTo {
            captured: true, to, ..
        } if session.stable => write!(out, "sent <N> bytes to {}", addr(to)),
        Outcome::SentTo { sent, to, .. } => {
            write!(out, "sent {} to {}", Count(*sent, "byte"), addr(to))
        }
        Outcome::Received(received) => render_received(received, session, out),
        Outcome::Saved { count, path } => write!(
            out,
            "received {} into {}, then end of stream",
            Count(*count, "byte"),
            session.show_path(path)
        ),
        Outcome::Closed { removed: None } => out.write_str("closed"),
        Outcome::Closed {
            removed: Some(path),
        } => write!(out, "closed (removed {})", session.show_path(path)),
        Outcome::Address(a) => out.write_str(&addr(a)),
        Outcome::Polled(states) => {
            let width = states.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            let lines: Vec<String> = states
                .iter()
                .map(|(name, revents)| format!("{name:width$}  {}", describe_events(*revents)))
                .collect();
            out.write_str(&lines.join("\n"))
        }
        Outcome::Table(rows) => out.write_str(&render_table(rows, session)),
        Outcome::Handles(rows) => out.write_str(&render_handles(rows, session)),
        Outcome::Expected { captured: true, .. } if session.stable => {
            out.write_str("ok: <N> bytes as expected")
        }
        Outcome::Expected { count, .. } => {
            write!(out, "ok: {} as expected", Count(*count, "byte"))
        }
        Outcome::Matched {
            count,
            fixed_length,
            groups,
        } => render_matched(*count, *fixed_length, groups, session, out),
        Outcome::Assigned {
            name,
            captured: true,
            ..
        } if session.stable => write!(out, "{name} = <{name}>"),
        Outcome::Assigned { name, bytes, .. } => {
            write!(out, "{name} = {}", bytes_literal(bytes))
        }
        Outcome::EndOfStreamExpected => out.write_str("ok: end of stream"),
        Outcome::FailedAsExpected(failure) => write!(out, "failed as expected: {failure}"),
        Outcome::Skip(reason) => write!(out, "skipped: {reason}"),
    };
}

/// `POLLIN|POLLOUT`, or `-` for nothing.
pub fn describe_events(revents: i16) -> String {
    let names: Vec<&str> = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLHUP, "POLLHUP"),
        (libc::POLLERR, "POLLERR"),
        (libc::POLLNVAL, "POLLNVAL"),
    ]
    .iter()
    .filter(|(bit, _)| revents & bit != 0)
    .map(|(_, name)| *name)
    .collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join("|")
    }
}

fn created(session: &Session, name: &str) -> String {
    match session.handle(name).map(|h| (h, h.kind())) {
        Ok((handle, Some(kind))) => {
            format!("created {name}: {kind}, fd {}", session.show_fd(handle))
        }
        _ => format!("created {name}"),
    }
}

/// `1 byte`, `12 bytes`.
struct Count(u64, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Count(count, noun) = *self;
        // Digits by hand: this runs for every send and expect, and the
        // general integer formatting showed in profiles.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = count;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        f.write_str(std::str::from_utf8(&digits[start..]).unwrap_or("?"))?;
        f.write_str(" ")?;
        f.write_str(noun)?;
        if count != 1 {
            f.write_str("s")?;
        }
        Ok(())
    }
}

/// `ok: matched 17 bytes; status = b'200'`; under `--stable` the count of a
/// pattern whose matches vary in length is `<N>` and each group `<NAME>`.
fn render_matched(
    count: u64,
    fixed_length: bool,
    groups: &[String],
    session: &Session,
    out: &mut String,
) -> fmt::Result {
    if session.stable && !fixed_length {
        out.write_str("ok: matched <N> bytes")?;
    } else {
        write!(out, "ok: matched {}", Count(count, "byte"))?;
    }
    for name in groups {
        match session.vars.get(name) {
            Some(value) if !session.stable => {
                write!(out, "; {name} = {}", bytes_literal(&value.bytes))?
            }
            _ => write!(out, "; {name} = <{name}>")?,
        }
    }
    Ok(())
}

fn render_received(received: &Received, session: &Session, out: &mut String) -> fmt::Result {
    let from = received
        .from
        .as_ref()
        // A Unix sender that never bound shows as "(unnamed)"; a stream's
        // recvfrom has no address at all (AF_UNSPEC) and shows none.
        .filter(|a| {
            a.addr.as_socket().is_some() || a.addr.family() == libc::AF_UNIX as libc::sa_family_t
        })
        .map(|a| format!(" from {}", session.show(a)))
        .unwrap_or_default();
    if let (Some(name), true) = (&received.captured_as, session.stable) {
        // A captured value differs from run to run: its name stands in.
        return match &received.what {
            ReceiveKind::Bytes {
                truncated_from,
                bytes,
            } => {
                let cut = truncated_from
                    .map(|_| format!(" (a datagram cut to {} bytes)", bytes.len()))
                    .unwrap_or_default();
                write!(out, "<{name}>{from}{cut}")
            }
            ReceiveKind::All(_) => write!(out, "<{name}> (then end of stream)"),
            ReceiveKind::EndOfStream => {
                out.write_str("b'' (end of stream: the peer closed its side)")
            }
            ReceiveKind::EmptyDatagram => write!(out, "b'' (an empty datagram){from}"),
        };
    }
    match &received.what {
        ReceiveKind::Bytes {
            bytes,
            truncated_from,
        } => {
            let cut = truncated_from
                .map(|size| format!(" (datagram of {size} bytes cut to {})", bytes.len()))
                .unwrap_or_default();
            if received.hex {
                write!(
                    out,
                    "{}{from}{cut}:\n{}",
                    Count(bytes.len() as u64, "byte"),
                    hexdump(bytes)
                )
            } else {
                write!(out, "{}{from}{cut}", bytes_literal(bytes))
            }
        }
        ReceiveKind::All(bytes) if received.hex => {
            write!(
                out,
                "{}, then end of stream:\n{}",
                Count(bytes.len() as u64, "byte"),
                hexdump(bytes)
            )
        }
        ReceiveKind::All(bytes) => {
            write!(
                out,
                "{} ({}, then end of stream)",
                bytes_literal(bytes),
                Count(bytes.len() as u64, "byte")
            )
        }
        ReceiveKind::EndOfStream => out.write_str("b'' (end of stream: the peer closed its side)"),
        ReceiveKind::EmptyDatagram => write!(out, "b'' (an empty datagram){from}"),
    }
}

/// The `sockets` table, laid out like `netstat -tanp`.
fn render_table(rows: &[SocketRow], session: &Session) -> String {
    let cells: Vec<[String; 7]> = rows.iter().map(|row| socket_cells(row, session)).collect();
    layout_table(&cells)
}

/// The `sockets` table with programs among the sockets.
fn render_handles(rows: &[TableRow], session: &Session) -> String {
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| match row {
            TableRow::Socket(socket) => socket_cells(socket, session),
            TableRow::Program(program) => program_cells(program, session),
        })
        .collect();
    layout_table(&cells)
}

fn socket_cells(row: &SocketRow, session: &Session) -> [String; 7] {
    [
        row.name.clone(),
        row.kind.proto_name().to_string(),
        row.recv_q.to_string(),
        row.send_q.to_string(),
        table_addr(row.local.as_ref(), None, row.kind, session),
        table_addr(row.foreign.as_ref(), row.local.as_ref(), row.kind, session),
        row.state.to_string(),
    ]
}

/// A program's line: its pid where a socket has its local address, and
/// what runs where a socket has its peer.
fn program_cells(row: &ProgramRow, session: &Session) -> [String; 7] {
    let pid = match session.stable {
        true => format!("pid <{}.pid>", row.name),
        false => format!("pid {}", row.pid),
    };
    [
        row.name.clone(),
        "prog".to_string(),
        row.recv_q.to_string(),
        row.send_q.to_string(),
        pid,
        row.program.clone(),
        row.state.clone(),
    ]
}

fn layout_table(cells: &[[String; 7]]) -> String {
    let header = [
        "Name",
        "Proto",
        "Recv-Q",
        "Send-Q",
        "Local Address",
        "Foreign Address",
        "State",
    ];
    let mut widths = header.map(str::len);
    for row in cells {
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
    if cells.is_empty() {
        lines.push("(no handles)".to_string());
    }
    lines.join("\n")
}

/// netstat's `*` for "any port" and, for a socket with no peer, its
/// family's wildcard (`0.0.0.0:*`, `[::]:*`, or `*` for Unix sockets).
fn table_addr(
    addr: Option<&SockAddr>,
    family: Option<&SockAddr>,
    kind: Kind,
    session: &Session,
) -> String {
    let wildcard = |a: &SockAddr| match a.as_socket() {
        Some(inet) if inet.is_ipv6() => "[::]:*".to_string(),
        Some(_) => "0.0.0.0:*".to_string(),
        None => "*".to_string(),
    };
    match addr {
        None => family.map_or_else(|| "*".to_string(), wildcard),
        Some(a) => match a.as_socket() {
            Some(inet) if inet.port() == 0 && inet.is_ipv6() => format!("[{}]:*", inet.ip()),
            Some(inet) if inet.port() == 0 => format!("{}:*", inet.ip()),
            _ if a.is_unnamed() => "*".to_string(),
            _ => session.show_addr(kind, a),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Count;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(Count(0, "byte").to_string(), "0 bytes");
        assert_eq!(Count(1, "byte").to_string(), "1 byte");
        assert_eq!(Count(1234567890, "byte").to_string(), "1234567890 bytes");
        assert_eq!(
            Count(u64::MAX, "byte").to_string(),
            format!("{} bytes", u64::MAX)
        );
    }
}

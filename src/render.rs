//! Step four of a line's path: an outcome into transcript text.
//!
//! Every address goes through the session, which applies the `--stable`
//! placeholders, so the same script renders byte for byte the same.

use socket2::SockAddr;
use std::fmt::{self, Write as _};

use crate::data::{bytes_literal, hexdump};
use crate::errors::describe_errno;
use crate::netstat::{Note, SocketRow};
use crate::outcome::{
    Endpoint, Outcome, ProgramRow, ReceiveKind, Received, TableRow, TlsDone, TlsSide,
};
use crate::session::placeholders::Seen;
use crate::session::Session;
use crate::tls::{CertificateInfo, StreamEnd};

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
            out.push_str("sent ");
            write_count(out, *sent, "byte")
        }
        Outcome::Sent { sent, of, .. } => write!(out, "sent {sent} of {}", Count(*of, "byte")),
        Outcome::SentTo {
            captured: true, to, ..
        } if session.stable => write!(out, "sent <N> bytes to {}", addr(to)),
        Outcome::SentTo { sent, to, .. } => {
            write!(out, "sent {} to {}", Count(*sent, "byte"), addr(to))
        }
        Outcome::Received(received) => render_received(received, session, out),
        Outcome::Saved {
            count,
            path,
            tls_end,
        } => write!(
            out,
            "received {} into {}, then {}",
            Count(*count, "byte"),
            session.show_path(path),
            end_of(*tls_end)
        ),
        Outcome::Closed { removed: None } => out.write_str("closed"),
        Outcome::Closed {
            removed: Some(path),
        } => write!(out, "closed (removed {})", session.show_path(path)),
        Outcome::Address(a) => out.write_str(&addr(a)),
        Outcome::Polled(states) => {
            let width = states.iter().map(|(name, _)| columns(name)).max();
            let lines: Vec<String> = states
                .iter()
                .map(|(name, revents)| {
                    let name = pad(name, width.unwrap_or(0), false);
                    format!("{name}  {}", describe_events(*revents))
                })
                .collect();
            out.write_str(&lines.join("\n"))
        }
        Outcome::Table(rows) => out.write_str(&render_table(rows, session)),
        Outcome::Expected { captured: true, .. } if session.stable => {
            out.write_str("ok: <N> bytes as expected")
        }
        Outcome::Expected { count, .. } => {
            out.push_str("ok: ");
            write_count(out, *count, "byte").and_then(|()| out.write_str(" as expected"))
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
        Outcome::CloseNotifyExpected => out.write_str("ok: end of stream (close_notify)"),
        Outcome::Tls(done) => render_tls(done, session, out),
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
        write_count(f, self.0, self.1)
    }
}

/// `1 byte`, `5 bytes`: plain pushes, without the formatting machinery,
/// for every send and expect shows one.
fn write_count(out: &mut impl fmt::Write, count: u64, noun: &str) -> fmt::Result {
    match count {
        // The common count (a byte, a line) is one digit.
        0..=9 => out.write_char(char::from(b'0' + count as u8))?,
        _ => out.write_str(itoa::Buffer::new().format(count))?,
    }
    out.write_char(' ')?;
    out.write_str(noun)?;
    if count != 1 {
        out.write_char('s')?;
    }
    Ok(())
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
            ReceiveKind::AllTls(_, end) => write!(out, "<{name}> (then {})", end_of(Some(*end))),
            ReceiveKind::EndOfStream => {
                out.write_str("b'' (end of stream: the peer closed its side)")
            }
            ReceiveKind::TlsEnd(end) => out.write_str(tls_end_received(*end)),
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
        ReceiveKind::All(bytes) => render_all(bytes, None, received.hex, out),
        ReceiveKind::AllTls(bytes, end) => render_all(bytes, Some(*end), received.hex, out),
        ReceiveKind::EndOfStream => out.write_str("b'' (end of stream: the peer closed its side)"),
        ReceiveKind::TlsEnd(end) => out.write_str(tls_end_received(*end)),
        ReceiveKind::EmptyDatagram => write!(out, "b'' (an empty datagram){from}"),
    }
}

/// `recvall`'s bytes and how the stream ended.
fn render_all(
    bytes: &[u8],
    tls_end: Option<StreamEnd>,
    hex: bool,
    out: &mut String,
) -> fmt::Result {
    let count = Count(bytes.len() as u64, "byte");
    let end = end_of(tls_end);
    match hex {
        true => write!(out, "{count}, then {end}:\n{}", hexdump(bytes)),
        false => write!(out, "{} ({count}, then {end})", bytes_literal(bytes)),
    }
}

/// How a stream ended, after "then": a TLS stream's end says whether the
/// peer sent `close_notify`.
fn end_of(tls_end: Option<StreamEnd>) -> &'static str {
    match tls_end {
        None => "end of stream",
        Some(StreamEnd::CloseNotify) => "close_notify: a clean end",
        Some(StreamEnd::Truncated) => "a truncated end: no close_notify",
    }
}

/// A receive that met the end of a TLS stream.
fn tls_end_received(end: StreamEnd) -> &'static str {
    match end {
        StreamEnd::CloseNotify => "b'' (end of stream: the peer sent close_notify)",
        StreamEnd::Truncated => {
            "b'' (truncated: the connection ended without close_notify; what came may be cut short)"
        }
    }
}

/// `tls`: the connection on one line, then the certificate that matters
/// to this side (the peer's, or for a server its own).
fn render_tls(done: &TlsDone, session: &Session, out: &mut String) -> fmt::Result {
    let info = &done.info;
    if let TlsSide::Pair { peer, .. } = &done.side {
        write!(out, "{} client, {peer} server: ", done.handle)?;
    }
    write!(out, "{}, {}", info.version, info.cipher_suite)?;
    if let Some(group) = &info.key_exchange {
        write!(out, ", key exchange {group}")?;
    }
    write!(out, ", ALPN {}", info.alpn.as_deref().unwrap_or("none"))?;
    let (heading, certificate) = match &done.side {
        TlsSide::Client { verified_for } => {
            let how = match verified_for {
                Some(name) => format!("verified for {name}"),
                None => "NOT verified (--insecure)".to_string(),
            };
            (
                format!("the server's certificate, {how}:"),
                info.peer_certificate.as_ref(),
            )
        }
        TlsSide::Server { presented } => {
            let asked = match &info.server_name {
                Some(name) => format!("the client asked for {name} (SNI)"),
                None => "the client sent no server name (SNI)".to_string(),
            };
            (
                format!("{asked}; this side's certificate:"),
                Some(presented),
            )
        }
        TlsSide::Pair { peer, verified_for } => (
            format!(
                "{peer}'s certificate, verified by {} for {verified_for}:",
                done.handle
            ),
            info.peer_certificate.as_ref(),
        ),
    };
    match certificate {
        Some(cert) => {
            write!(out, "\n{heading}")?;
            render_certificate(cert, &done.handle, session, out)
        }
        None => out.write_str("\nthe server sent no certificate"),
    }
}

/// A certificate's subject, issuer, validity and SHA-256 fingerprint; under
/// `--stable` the dates and the fingerprint are placeholders, named
/// `<tls.cert...>` for the session's own certificate and `<H.cert...>` for
/// another that handle H saw.
fn render_certificate(
    cert: &CertificateInfo,
    handle: &str,
    session: &Session,
    out: &mut String,
) -> fmt::Result {
    let self_signed = if cert.subject == cert.issuer {
        " (self-signed)"
    } else {
        ""
    };
    write!(out, "\n  subject   {}", cert.subject)?;
    write!(out, "\n  issuer    {}{self_signed}", cert.issuer)?;
    if !session.stable {
        write!(
            out,
            "\n  validity  {} to {}",
            cert.not_before, cert.not_after
        )?;
        return write!(out, "\n  SHA-256   {}", cert.sha256_fingerprint);
    }
    let owner = match session.session_cert_fingerprint() {
        Some(ours) if ours == cert.sha256_fingerprint => crate::tls::NAME.to_string(),
        _ => handle.to_string(),
    };
    write!(
        out,
        "\n  validity  <{owner}.cert.not_before> to <{owner}.cert.not_after>"
    )?;
    write!(out, "\n  SHA-256   <{owner}.cert.sha256>")
}

/// The `sockets` table, laid out like `netstat -tanp`, programs among the
/// sockets, and the notes that explain rows netstat would show otherwise.
fn render_table(rows: &[TableRow], session: &Session) -> String {
    let mut notes: Vec<Note> = Vec::new();
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| match row {
            TableRow::Socket(socket) => socket_cells(socket, session, &mut notes),
            TableRow::Program(program) => program_cells(program, session),
        })
        .collect();
    layout_table(&cells, &notes)
}

fn socket_cells(row: &SocketRow, session: &Session, notes: &mut Vec<Note>) -> [String; 7] {
    [
        row.name.clone(),
        match row.layer {
            Some(layer) => format!("{}+{layer}", row.kind.proto_name()),
            None => row.kind.proto_name().to_string(),
        },
        row.recv_q.to_string(),
        row.send_q.to_string(),
        table_addr(row.local.as_ref(), None, row, session),
        table_addr(row.foreign.as_ref(), row.local.as_ref(), row, session),
        state_cell(row, notes),
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

fn layout_table(cells: &[[String; 7]], notes: &[Note]) -> String {
    let header = [
        "Name",
        "Proto",
        "Recv-Q",
        "Send-Q",
        "Local Address",
        "Foreign Address",
        "State",
    ];
    let mut widths = header.map(columns);
    for row in cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(columns(cell));
        }
    }
    let numeric = |column: usize| column == 2 || column == 3;
    let format_row = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| pad(cell, widths[i], numeric(i)))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut lines = vec![format_row(&header.map(String::from))];
    lines.extend(cells.iter().map(|row| format_row(row)));
    if cells.is_empty() {
        lines.push("(no handles)".to_string());
    }
    for (index, note) in notes.iter().enumerate() {
        lines.push(format!("({}) {}", index + 1, note.text()));
    }
    lines.join("\n")
}

/// The state, and the number of the note under the table that explains
/// how the row differs from netstat's (`CLOSE (1)`). Notes are numbered
/// in the order they first appear.
fn state_cell(row: &SocketRow, notes: &mut Vec<Note>) -> String {
    let Some(note) = row.note else {
        return row.state.to_string();
    };
    let number = match notes.iter().position(|n| *n == note) {
        Some(index) => index + 1,
        None => {
            notes.push(note);
            notes.len()
        }
    };
    match row.state {
        "" => format!("({number})"),
        state => format!("{state} ({number})"),
    }
}

/// netstat's `*` for "any port" and, for a socket with no peer, its
/// family's wildcard (`0.0.0.0:*`, `[::]:*`, or `*` for Unix sockets).
fn table_addr(
    addr: Option<&SockAddr>,
    family: Option<&SockAddr>,
    row: &SocketRow,
    session: &Session,
) -> String {
    // The row's own connection says whose port each address is.
    let seen = Seen {
        local: row.local.as_ref(),
        peer: row.foreign.as_ref(),
    };
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
            _ => session.show_addr_seen(row.kind, a, seen),
        },
    }
}

/// How many columns a cell takes (one per character).
fn columns(text: &str) -> usize {
    text.chars().count()
}

/// A cell padded with spaces to `width` columns. Not `{:width$}`: a width
/// from user data (a handle name of 65,536 characters) is past what
/// `format!` accepts, and it panics.
fn pad(text: &str, width: usize, right_aligned: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(columns(text)));
    match right_aligned {
        true => fill + text,
        false => format!("{text}{fill}"),
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

//! `trace on`: under each command, the packets it caused on the session's
//! sockets (SPEC §16).
//!
//! The capture (`crate::capture`) sees the loopback packets of the
//! session's ports; this module decides which command each belongs to and
//! how its line reads. The interpreter calls [`before_line`] and
//! [`after_command`] only while a [`Tracer`] is on the session, so a script
//! without `trace` pays one `Option` check per line.
//!
//! After a command the capture settles (it waits, at most [`SETTLE`], while
//! an exchange the command started is unanswered), and the command's
//! packets are shown under its outcome. What arrives later, between two
//! commands, is shown before the next command's line, marked as such.
//! Under `--stable` only the packets the script decides are shown, with
//! only what the script decides (`Packet::shown_when_stable`,
//! `Detail::Stable`).

mod ends;

use rustc_hash::FxHashSet;
use socket2::SockAddr;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::capture::{
    write_description, Capture, CaptureError, Detail, Packet, TcpFlags, Transport, MAX_PORTS,
};
use crate::errors::Failure;
use crate::kind::Kind;
use crate::outcome::Outcome;
use crate::session::placeholders::Seen;
use crate::session::Session;
use ends::{Ends, Space};

/// The longest wait for the answer to an exchange a command started. The
/// wait ends as soon as the exchange completes; the cap only matters when
/// nobody answers (a dropped SYN), and a loaded machine needs room.
pub const SETTLE: Duration = Duration::from_secs(1);

/// The mark of a packet that arrived between two commands.
const BETWEEN: &str = "(between commands) ";

/// The capture of one session, and what the trace remembers between lines.
pub struct Tracer {
    capture: Capture,
    ends: Ends,
    /// Ports of peers the session's commands reached (`connect`, `sendto`)
    /// that no handle holds, newest last.
    reached: Vec<u16>,
    /// Every TCP connection a shown packet belonged to (ends in a fixed
    /// order): its later packets are shown even when no handle holds either
    /// end any more (the exchange after both closed, TIME_WAIT's answers).
    connections: FxHashSet<(SocketAddr, SocketAddr)>,
    /// `--stable` stand-ins for ports no handle of the session ever held,
    /// in order of first sight: `<unknown-1.port>`, ...
    unknown_ports: Vec<u16>,
    ephemeral: (u16, u16),
    pcap: Option<PathBuf>,
    /// Packets lost so far, as the kernel counted them.
    lost: u64,
    packets: Vec<Packet>,
    line: String,
}

impl Tracer {
    /// Starts capturing the session's packets, writing them to `pcap` too.
    pub fn start(session: &Session, pcap: Option<&Path>) -> Result<Tracer, CaptureError> {
        let ends = Ends::read(session);
        let ports = session_ports(session, &ends, &[]);
        let capture = Capture::open(&ports, pcap)?;
        Ok(Tracer {
            capture,
            ends,
            reached: Vec::new(),
            connections: FxHashSet::default(),
            unknown_ports: Vec::new(),
            ephemeral: ephemeral_ports(),
            pcap: pcap.map(Path::to_path_buf),
            lost: 0,
            packets: Vec::new(),
            line: String::new(),
        })
    }

    /// The `--pcap` file, if any.
    pub fn pcap(&self) -> Option<&Path> {
        self.pcap.as_deref()
    }

    /// A command is about to send to `port`: capture it from now on.
    pub fn reaching(&mut self, port: u16) {
        if self.reached.contains(&port) || self.capture.ports().binary_search(&port).is_ok() {
            return;
        }
        self.reached.push(port);
        let mut ports = self.capture.ports().to_vec();
        ports.push(port);
        ports.truncate(MAX_PORTS);
        // Too many ports: the trace goes on with those it has.
        let _ = self.capture.set_ports(&ports);
    }

    /// Ends the trace: whatever is still queued goes to the pcap file.
    pub fn finish(mut self) -> Result<(), CaptureError> {
        self.packets.clear();
        // Draining writes and flushes the file.
        self.capture.drain_into(&mut self.packets).map(drop)
    }

    /// Shows what arrived since the last command settled.
    fn show_arrived(&mut self, session: &Session) -> Result<(), CaptureError> {
        self.packets.clear();
        if self.capture.drain_into(&mut self.packets)? > 0 {
            self.show(session, true)?;
        }
        Ok(())
    }

    /// Shows what the command just run caused, once it has settled.
    fn show_caused(&mut self, session: &Session, moved: bool) -> Result<(), CaptureError> {
        if moved {
            self.ends.refresh(session);
            let ports = session_ports(session, &self.ends, &self.reached);
            self.capture.set_ports(&ports)?;
        }
        self.packets.clear();
        self.capture.settle(&mut self.packets, SETTLE)?;
        if !self.packets.is_empty() {
            self.show(session, false)?;
        }
        self.ends.commit();
        Ok(())
    }

    /// Writes the lines of `self.packets`, then how many the kernel lost.
    fn show(&mut self, session: &Session, between: bool) -> Result<(), CaptureError> {
        let packets = std::mem::take(&mut self.packets);
        for packet in &packets {
            if session.stable && !packet.shown_when_stable() {
                continue;
            }
            if self.describe(session, packet, between) {
                session.out.line(&self.line);
            }
        }
        self.packets = packets;
        let lost = self.capture.kernel_counts()?.dropped;
        if lost > self.lost {
            session.out.line(&format!(
                "  ({} packets lost: the kernel's capture queue was full)",
                lost - self.lost
            ));
            self.lost = lost;
        }
        Ok(())
    }

    /// Writes the packet's line into `self.line`; false when the packet
    /// is not the session's (another program reusing a port it closed).
    fn describe(&mut self, session: &Session, packet: &Packet, between: bool) -> bool {
        let (from, to) = packet.ends();
        let (from_space, to_space) = spaces(packet);
        // An ICMP error is about a packet `to` sent: to the quoted address.
        let to_peer = match &packet.transport {
            Transport::Icmp(icmp) => icmp.about.map_or(from, |quoted| quoted.dst),
            _ => from,
        };
        if packet
            .tcp()
            .is_some_and(|t| t.flags.contains(TcpFlags::SYN) && !t.flags.contains(TcpFlags::ACK))
        {
            self.ends.reopened(from, to);
        }
        let held_from = from_space.and_then(|space| self.ends.name(from, to, space));
        let held_to = to_space.and_then(|space| self.ends.name(to, to_peer, space));
        let connection = ends::pair(from, to);
        let tcp = packet.tcp().is_some();
        let known = tcp && self.connections.contains(&connection);
        if held_from.is_none() && held_to.is_none() && !known {
            return false;
        }
        let unknown = &mut self.unknown_ports;
        let from_label = label(
            session,
            held_from,
            from,
            from_space,
            unknown,
            self.ephemeral,
        );
        let to_label = label(session, held_to, to, to_space, unknown, self.ephemeral);
        if tcp && !known {
            self.connections.insert(connection);
        }
        self.line.clear();
        self.line.push_str("  ");
        if between {
            self.line.push_str(BETWEEN);
        }
        let detail = if session.stable {
            Detail::Stable
        } else {
            Detail::Full
        };
        let names = [from_label.as_deref(), to_label.as_deref()];
        write_description(&mut self.line, packet, names, detail);
        true
    }
}

/// How an end is shown: its handle's name; else its address (with
/// `--stable` placeholders for ports the kernel chose); `None` for an ICMP
/// end that has no port, which is shown as its IP address.
fn label<'a>(
    session: &Session,
    held: Option<&'a str>,
    end: SocketAddr,
    space: Option<Space>,
    unknown_ports: &mut Vec<u16>,
    ephemeral: (u16, u16),
) -> Option<Cow<'a, str>> {
    if let Some(name) = held {
        return Some(Cow::Borrowed(name));
    }
    let space = space?;
    if end.port() == 0 {
        return None;
    }
    let kind = kind_of(space, end);
    let kernel_chose = (ephemeral.0..=ephemeral.1).contains(&end.port());
    // A port some handle once held has its placeholder already.
    let placeheld = session.show_port(kind, end.port(), Seen::default()) != end.port().to_string();
    if session.stable && kernel_chose && !placeheld {
        return Some(Cow::Owned(unknown_placeholder(unknown_ports, end)));
    }
    Some(Cow::Owned(session.show_addr(kind, &SockAddr::from(end))))
}

/// `127.0.0.1:<unknown-1.port>`: a kernel-chosen port of a program outside
/// the session, the same stand-in for it every time.
fn unknown_placeholder(unknown_ports: &mut Vec<u16>, end: SocketAddr) -> String {
    let index = match unknown_ports.iter().position(|&p| p == end.port()) {
        Some(index) => index,
        None => {
            unknown_ports.push(end.port());
            unknown_ports.len() - 1
        }
    };
    let port = format!("<unknown-{}.port>", index + 1);
    match end {
        SocketAddr::V4(v4) => format!("{}:{port}", v4.ip()),
        SocketAddr::V6(v6) => format!("[{}]:{port}", v6.ip()),
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // Nothing captured is left out of the pcap file.
        self.packets.clear();
        let _ = self.capture.drain_into(&mut self.packets);
    }
}

/// Before a line is echoed: the packets that arrived since the last
/// command, marked `(between commands)`.
pub fn before_line(session: &mut Session) {
    with_tracer(session, |tracer, session| tracer.show_arrived(session));
}

/// After a command's outcome (or before its failure line): the packets it
/// caused. `outcome` is `None` for a failure.
pub fn after_command(session: &mut Session, outcome: Option<&Outcome>) {
    let moved = outcome.is_none_or(may_move);
    with_tracer(session, |tracer, session| {
        tracer.show_caused(session, moved)
    });
}

/// Runs `step` with the session's tracer taken out of it; a capture that
/// fails is stopped, and the transcript says why.
fn with_tracer(
    session: &mut Session,
    step: impl FnOnce(&mut Tracer, &Session) -> Result<(), CaptureError>,
) {
    let Some(mut tracer) = session.trace.take() else {
        return;
    };
    match step(&mut tracer, session) {
        Ok(()) => session.trace = Some(tracer),
        Err(error) => session.out.line(&format!("  (trace stopped: {error})")),
    }
}

/// Whether a command with this outcome may have bound, connected, accepted
/// or closed a socket, so the table of ends must be read again. Sending,
/// receiving and asserting never move a socket: the round trips that most
/// scripts are made of cost no extra system call.
fn may_move(outcome: &Outcome) -> bool {
    !matches!(
        outcome,
        Outcome::Sent { .. }
            | Outcome::Received(_)
            | Outcome::Expected { .. }
            | Outcome::Matched { .. }
            | Outcome::EndOfStreamExpected
            | Outcome::Saved { .. }
            | Outcome::Polled(_)
            | Outcome::Assigned { .. }
            | Outcome::Nothing
            | Outcome::Table(_)
    )
}

/// The ports to capture: the handles' (before and after the command), the
/// peers reached, then those of closed sockets, newest first, at most
/// [`MAX_PORTS`].
fn session_ports(session: &Session, ends: &Ends, reached: &[u16]) -> Vec<u16> {
    let mut ports: Vec<u16> = ends.ports().collect();
    ports.extend(reached.iter().rev());
    ports.extend(session.history.closed().map(|closed| closed.local.port()));
    let mut seen = FxHashSet::default();
    ports.retain(|port| seen.insert(*port));
    ports.truncate(MAX_PORTS);
    ports
}

/// The port space each end of a packet is named in; `None` for an end
/// that no handle can hold (the ICMP sender of an error).
fn spaces(packet: &Packet) -> (Option<Space>, Option<Space>) {
    match &packet.transport {
        Transport::Tcp(_) => (Some(Space::Tcp), Some(Space::Tcp)),
        Transport::Udp(_) => (Some(Space::Udp), Some(Space::Udp)),
        Transport::Icmp(icmp) => match icmp.about {
            Some(quoted) => (None, quoted_space(quoted.protocol)),
            None if icmp.is_echo_request() => (Some(Space::Icmp), None),
            None => (None, Some(Space::Icmp)),
        },
    }
}

fn quoted_space(protocol: u8) -> Option<Space> {
    match i32::from(protocol) {
        libc::IPPROTO_TCP => Some(Space::Tcp),
        libc::IPPROTO_UDP => Some(Space::Udp),
        libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6 => Some(Space::Icmp),
        _ => None,
    }
}

/// A socket kind of the end's port space and family, for placeholders.
fn kind_of(space: Space, end: SocketAddr) -> Kind {
    let name = match (space, end.is_ipv4()) {
        (Space::Tcp, true) => "tcp",
        (Space::Tcp, false) => "tcp6",
        (Space::Udp, true) => "udp",
        (Space::Udp, false) => "udp6",
        (Space::Icmp, _) => "icmp",
    };
    Kind::from_short(name).expect("a kind sockrepl knows")
}

/// The range the kernel picks ephemeral ports from.
fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut numbers = text.split_whitespace().map(str::parse::<u16>);
            Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// A capture error as a command's failure: the refusal keeps its errno,
/// so `fails EPERM trace on` can expect it, with the hint that names both
/// ways to get the right.
pub fn failure(error: CaptureError) -> Failure {
    use nix::errno::Errno;
    let with_hint = |errno: Errno, hint: String| Failure::Sys {
        errno,
        hint: Some(hint),
    };
    match error {
        CaptureError::NotPermitted => with_hint(Errno::EPERM, error.to_string()),
        CaptureError::Unsupported => with_hint(Errno::EAFNOSUPPORT, error.to_string()),
        CaptureError::Socket { call, ref source } => match source.raw_os_error() {
            Some(code) => with_hint(Errno::from_raw(code), format!("packet capture: {call}")),
            None => Failure::usage(error.to_string()),
        },
        CaptureError::Pcap {
            ref path,
            source: pcap_file::PcapError::IoError(ref io),
        } if io.raw_os_error().is_some() => with_hint(
            Errno::from_raw(io.raw_os_error().unwrap_or_default()),
            format!("cannot write {}", path.display()),
        ),
        other => Failure::usage(other.to_string()),
    }
}

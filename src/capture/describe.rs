//! A packet as one trace line: the direction by handle names, then what the
//! packet carries, in a fixed format:
//!
//! ```text
//! cli > srv  SYN seq=0 win=65495
//! srv > cli  SYN-ACK seq=0 ack=1 win=65483
//! cli > srv  ACK seq=1 ack=1 win=65536
//! cli > srv  PSH-ACK seq=1 ack=1 len=12 win=65536
//! u > v  UDP len=4
//! ping > 127.0.0.1  ICMP echo-request id=3 seq=1 (type 8, code 0)
//! ```
//!
//! The window is in bytes, scaled as Wireshark shows it. [`Detail::Stable`]
//! leaves out what the kernel decides (the window, an echo's identifier,
//! ECN flags) and keeps what the script decides: flags, relative numbers,
//! lengths.

use std::fmt::Write;
use std::net::SocketAddr;

use super::packet::{IcmpMessage, IpVersion, Packet, TcpFlags, TcpSegment, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything the line format has.
    Full,
    /// Only what the script decides, for `--stable` transcripts.
    Stable,
}

/// The packet's line. `name` gives the handle holding an end (`cli`);
/// an end it does not know is shown as its address (`127.0.0.1:41234`,
/// `[::1]:41234`, or just the IP address for an ICMP end).
pub fn describe<N, S>(packet: &Packet, name: N, detail: Detail) -> String
where
    N: Fn(SocketAddr) -> Option<S>,
    S: AsRef<str>,
{
    let mut line = String::with_capacity(64);
    let (from, to) = packet.ends();
    write_description(&mut line, packet, [name(from), name(to)], detail);
    line
}

/// As [`describe`], appending to `line` (no other allocation), with the
/// names of the sending and the receiving end given apart: an ICMP echo
/// with identifier 0 has the same address at both ends, and only its
/// position tells which one a raw socket holds.
pub fn write_description<S>(
    line: &mut String,
    packet: &Packet,
    names: [Option<S>; 2],
    detail: Detail,
) where
    S: AsRef<str>,
{
    let (from, to) = packet.ends();
    let [from_name, to_name] = names;
    write_end(line, from, from_name);
    line.push_str(" > ");
    write_end(line, to, to_name);
    line.push_str("  ");
    match &packet.transport {
        Transport::Tcp(segment) => write_tcp(line, segment, detail),
        Transport::Udp(datagram) => {
            let _ = write!(line, "UDP len={}", datagram.payload_len);
        }
        Transport::Icmp(icmp) => write_icmp(line, icmp, detail),
    }
}

fn write_end<S: AsRef<str>>(line: &mut String, end: SocketAddr, name: Option<S>) {
    // The common end, a handle's name, is pushed, not formatted.
    let _ = match name {
        Some(handle) => line.write_str(handle.as_ref()),
        None if end.port() == 0 => write!(line, "{}", end.ip()),
        None => write!(line, "{end}"),
    };
}

fn write_tcp(line: &mut String, segment: &TcpSegment, detail: Detail) {
    let flags = match detail {
        Detail::Full => segment.flags,
        // Whether ECN is negotiated is the machine's setting, not the script's.
        Detail::Stable => segment.flags.without(TcpFlags::ECE | TcpFlags::CWR),
    };
    write_flags(line, flags);
    push_field(line, " seq=", segment.relative_seq);
    if let Some(ack) = segment.relative_ack {
        push_field(line, " ack=", ack);
    }
    if segment.payload_len > 0 {
        push_field(line, " len=", segment.payload_len);
    }
    if detail == Detail::Full {
        push_field(line, " win=", segment.scaled_window);
    }
}

/// ` seq=1`: a segment line has four of these, and a traced round trip
/// shows several segments, so without the formatting machinery.
fn push_field(line: &mut String, label: &str, value: impl itoa::Integer) {
    line.push_str(label);
    line.push_str(itoa::Buffer::new().format(value));
}

/// `SYN`, `SYN-ACK`, `FIN-PSH-ACK`...; `none` for a segment with no flag.
fn write_flags(line: &mut String, flags: TcpFlags) {
    let mut first = true;
    for (flag, name) in TcpFlags::NAMED {
        if flags.contains(flag) {
            if !first {
                line.push('-');
            }
            line.push_str(name);
            first = false;
        }
    }
    if first {
        line.push_str("none");
    }
}

fn write_icmp(line: &mut String, icmp: &IcmpMessage, detail: Detail) {
    line.push_str(match icmp.version {
        IpVersion::V4 => "ICMP",
        IpVersion::V6 => "ICMPv6",
    });
    if let Some(name) = icmp_name(icmp) {
        line.push(' ');
        line.push_str(name);
    }
    if let Some(echo) = icmp.echo {
        // A ping socket's identifier is its port, which the kernel picks.
        if detail == Detail::Full {
            let _ = write!(line, " id={}", echo.id);
        }
        let _ = write!(line, " seq={}", echo.seq);
    }
    let _ = write!(line, " (type {}, code {})", icmp.kind, icmp.code);
}

/// The name of an ICMP message, as RFC 792 and RFC 4443 call them; for
/// "destination unreachable", which one.
fn icmp_name(icmp: &IcmpMessage) -> Option<&'static str> {
    match icmp.version {
        IpVersion::V4 => icmpv4_name(icmp.kind, icmp.code),
        IpVersion::V6 => icmpv6_name(icmp.kind, icmp.code),
    }
}

fn icmpv4_name(kind: u8, code: u8) -> Option<&'static str> {
    Some(match (kind, code) {
        (0, _) => "echo-reply",
        (3, 0) => "net-unreachable",
        (3, 1) => "host-unreachable",
        (3, 2) => "protocol-unreachable",
        (3, 3) => "port-unreachable",
        (3, 4) => "fragmentation-needed",
        (3, 13) => "administratively-prohibited",
        (3, _) => "destination-unreachable",
        (4, _) => "source-quench",
        (5, _) => "redirect",
        (8, _) => "echo-request",
        (11, _) => "time-exceeded",
        (12, _) => "parameter-problem",
        (13, _) => "timestamp-request",
        (14, _) => "timestamp-reply",
        _ => return None,
    })
}

fn icmpv6_name(kind: u8, code: u8) -> Option<&'static str> {
    Some(match (kind, code) {
        (1, 0) => "no-route",
        (1, 1) => "administratively-prohibited",
        (1, 3) => "address-unreachable",
        (1, 4) => "port-unreachable",
        (1, _) => "destination-unreachable",
        (2, _) => "packet-too-big",
        (3, _) => "time-exceeded",
        (4, _) => "parameter-problem",
        (128, _) => "echo-request",
        (129, _) => "echo-reply",
        (133, _) => "router-solicitation",
        (134, _) => "router-advertisement",
        (135, _) => "neighbor-solicitation",
        (136, _) => "neighbor-advertisement",
        (137, _) => "redirect",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::packet::{parse, tests::tcp4_frame, Echo, Quoted, UdpDatagram};
    use crate::capture::Flows;
    use std::time::Duration;

    fn names(end: SocketAddr) -> Option<&'static str> {
        match end.port() {
            40000 => Some("cli"),
            5000 => Some("srv"),
            _ => None,
        }
    }

    fn observed(flows: &mut Flows, frame: Vec<u8>) -> Packet {
        let mut packet = parse(&frame, Duration::ZERO).unwrap();
        flows.observe(&mut packet);
        packet
    }

    #[test]
    fn a_connection_reads_as_the_spec_writes_it() {
        let mut flows = Flows::new();
        let (c, s) = (1_000_000u32, 9_000_000u32);
        let ack = Some;
        let exchange = [
            tcp4_frame((40000, 5000), c, None, TcpFlags::SYN, b""),
            tcp4_frame((5000, 40000), s, ack(c + 1), TcpFlags::SYN, b""),
            tcp4_frame((40000, 5000), c + 1, ack(s + 1), TcpFlags::default(), b""),
            tcp4_frame(
                (40000, 5000),
                c + 1,
                ack(s + 1),
                TcpFlags::PSH,
                b"hello world!",
            ),
            tcp4_frame((40000, 5000), c + 13, ack(s + 1), TcpFlags::FIN, b""),
            tcp4_frame((5000, 40000), s + 1, ack(c + 14), TcpFlags::RST, b""),
        ];
        let lines: Vec<String> = exchange
            .into_iter()
            .map(|frame| describe(&observed(&mut flows, frame), names, Detail::Stable))
            .collect();
        assert_eq!(
            lines,
            [
                "cli > srv  SYN seq=0",
                "srv > cli  SYN-ACK seq=0 ack=1",
                "cli > srv  ACK seq=1 ack=1",
                "cli > srv  PSH-ACK seq=1 ack=1 len=12",
                "cli > srv  FIN-ACK seq=13 ack=1",
                "srv > cli  RST-ACK seq=1 ack=14",
            ]
        );
    }

    #[test]
    fn the_full_line_adds_the_window_and_ecn_flags() {
        let mut frame = tcp4_frame((40000, 5000), 7, None, TcpFlags::SYN, b"");
        frame[14 + 20 + 13] |= TcpFlags::ECE.0 | TcpFlags::CWR.0;
        let packet = observed(&mut Flows::new(), frame);
        assert_eq!(
            describe(&packet, names, Detail::Full),
            "cli > srv  SYN-ECE-CWR seq=0 win=65495"
        );
        assert_eq!(
            describe(&packet, names, Detail::Stable),
            "cli > srv  SYN seq=0"
        );
    }

    #[test]
    fn unnamed_ends_show_their_addresses() {
        let packet = Packet {
            timestamp: Duration::ZERO,
            src: "[::1]:41234".parse().unwrap(),
            dst: "[::1]:41235".parse().unwrap(),
            transport: Transport::Udp(UdpDatagram { payload_len: 0 }),
            frame_len: 62,
        };
        assert_eq!(
            describe(&packet, names, Detail::Stable),
            "[::1]:41234 > [::1]:41235  UDP len=0"
        );
    }

    #[test]
    fn icmp_shows_type_and_code() {
        let echo = |kind, id| Packet {
            timestamp: Duration::ZERO,
            src: "127.0.0.1:0".parse().unwrap(),
            dst: "127.0.0.1:0".parse().unwrap(),
            transport: Transport::Icmp(IcmpMessage {
                version: IpVersion::V4,
                kind,
                code: 0,
                echo: Some(Echo { id, seq: 1 }),
                about: None,
            }),
            frame_len: 98,
        };
        let ping = |end: SocketAddr| (end.port() == 7).then_some("ping");
        assert_eq!(
            describe(&echo(8, 7), ping, Detail::Full),
            "ping > 127.0.0.1  ICMP echo-request id=7 seq=1 (type 8, code 0)"
        );
        assert_eq!(
            describe(&echo(0, 7), ping, Detail::Stable),
            "127.0.0.1 > ping  ICMP echo-reply seq=1 (type 0, code 0)"
        );
        let unreachable = Packet {
            transport: Transport::Icmp(IcmpMessage {
                version: IpVersion::V6,
                kind: 1,
                code: 4,
                echo: None,
                about: Some(Quoted {
                    src: "[::1]:40000".parse().unwrap(),
                    dst: "[::1]:9".parse().unwrap(),
                    protocol: 17,
                }),
            }),
            src: "[::1]:0".parse().unwrap(),
            dst: "[::1]:0".parse().unwrap(),
            ..echo(0, 0)
        };
        assert_eq!(
            describe(&unreachable, names, Detail::Stable),
            "::1 > cli  ICMPv6 port-unreachable (type 1, code 4)"
        );
    }

    #[test]
    fn flags_are_named_in_wireshark_order() {
        let mut line = String::new();
        write_flags(
            &mut line,
            TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::URG,
        );
        assert_eq!(line, "FIN-PSH-ACK-URG");
        line.clear();
        write_flags(&mut line, TcpFlags::default());
        assert_eq!(line, "none");
    }
}

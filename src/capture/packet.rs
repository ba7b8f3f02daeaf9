//! One captured frame, parsed (with etherparse) into the few facts a trace
//! line shows: who sent it to whom, and for TCP its flags, numbers and
//! payload length, for UDP its length, for ICMP its type and code.
//!
//! Only headers are needed, so the capture may hand over a frame cut short:
//! lengths are read from the IP and UDP headers, never from the slice.
//! A `Packet` is plain `Copy` data: parsing allocates nothing.

use etherparse::{ip_number, Icmpv4Slice, Icmpv4Type, Icmpv6Slice, Icmpv6Type, LaxIpSlice};
use etherparse::{TcpHeaderSlice, TcpOptionElement, UdpHeaderSlice};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];

/// A packet the trace shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// When the kernel sent it, since the Unix epoch.
    pub timestamp: Duration,
    /// The sender: IP address and TCP/UDP port (port 0 for ICMP).
    pub src: SocketAddr,
    /// The receiver, likewise.
    pub dst: SocketAddr,
    pub transport: Transport,
    /// The whole frame's length on the wire, Ethernet header included,
    /// even when the capture kept only its headers.
    pub frame_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpSegment),
    Udp(UdpDatagram),
    Icmp(IcmpMessage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    pub flags: TcpFlags,
    /// The sequence number as sent.
    pub seq: u32,
    /// The acknowledgement number as sent (meaningful with ACK only).
    pub ack: u32,
    /// The window field as sent.
    pub window: u16,
    /// A SYN's window scale option (the shift count), if it has one.
    pub window_scale: Option<u8>,
    pub payload_len: u32,
    /// Relative to the connection's start, filled in by
    /// [`Flows::observe`](super::Flows::observe): the raw number until then.
    pub relative_seq: u32,
    /// Relative likewise; `None` when the ACK flag is not set.
    pub relative_ack: Option<u32>,
    /// The window in bytes, scaled as both SYNs agreed (set by `Flows`;
    /// the field as sent when the SYNs were not seen).
    pub scaled_window: u32,
    /// The pure ACK that ends a three-way handshake (set by `Flows`).
    pub completes_handshake: bool,
    /// The pure ACK that first acknowledges the other side's FIN (set by
    /// `Flows`): the close a command made is answered by it.
    pub acknowledges_fin: bool,
    /// A bare RST answering a pure ACK that `--stable` hides (set by
    /// `Flows`): an ACK the kernel's timing sent, reaching a socket gone.
    pub answers_hidden_ack: bool,
    /// Carries nothing its sender had not sent before (set by `Flows`): a
    /// retransmission, which the kernel's timers decide.
    pub retransmitted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram {
    pub payload_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpMessage {
    pub version: IpVersion,
    pub kind: u8,
    pub code: u8,
    /// Identifier and sequence number of an echo request or reply.
    pub echo: Option<Echo>,
    /// For an error (unreachable, time exceeded...): the packet it is about,
    /// as quoted in its payload.
    pub about: Option<Quoted>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub id: u16,
    pub seq: u16,
}

/// The start of the packet an ICMP error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Its IP protocol number (6 TCP, 17 UDP...).
    pub protocol: u8,
}

/// TCP flags, as the header's low byte holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Names in Wireshark's order (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR),
    /// which gives the forms the spec lists: `SYN-ACK`, `PSH-ACK`, `FIN-ACK`.
    pub const NAMED: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

impl Packet {
    pub fn ip_version(&self) -> IpVersion {
        if self.src.is_ipv4() {
            IpVersion::V4
        } else {
            IpVersion::V6
        }
    }

    pub fn tcp(&self) -> Option<&TcpSegment> {
        match &self.transport {
            Transport::Tcp(segment) => Some(segment),
            _ => None,
        }
    }

    /// Whether the script decided this packet, so `--stable` shows it: TCP
    /// segments that carry SYN, FIN, RST or data, the ACK that completes a
    /// handshake, the ACK that first acknowledges a FIN, and every UDP and
    /// ICMP packet. Other pure ACKs are left out: loopback timing decides
    /// whether they are sent alone, delayed, or folded into the next
    /// segment. A FIN's ACK is not: the peer's program cannot answer within
    /// the command that closed, so the kernel acknowledges it alone, and
    /// `settle` waits for it. A reset that answers a hidden ACK is hidden
    /// with it, and so is a retransmission: timers sent it, on a loaded
    /// machine only.
    pub fn shown_when_stable(&self) -> bool {
        match &self.transport {
            Transport::Tcp(segment) if segment.answers_hidden_ack || segment.retransmitted => false,
            Transport::Tcp(segment) => {
                let control = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST;
                segment.flags.intersects(control)
                    || segment.payload_len > 0
                    || segment.completes_handshake
                    || segment.acknowledges_fin
            }
            Transport::Udp(_) | Transport::Icmp(_) => true,
        }
    }

    /// The two ends to name, sender first. For TCP and UDP these are `src`
    /// and `dst`; for an ICMP echo the pinging end carries the echo
    /// identifier as its port (as a ping socket's local address does); an
    /// ICMP error is addressed to the socket that sent the quoted packet.
    pub fn ends(&self) -> (SocketAddr, SocketAddr) {
        let Transport::Icmp(icmp) = &self.transport else {
            return (self.src, self.dst);
        };
        match (icmp.echo, icmp.about) {
            (Some(echo), _) if icmp.is_echo_request() => (with_port(self.src, echo.id), self.dst),
            (Some(echo), _) => (self.src, with_port(self.dst, echo.id)),
            (None, Some(quoted)) => (self.src, quoted.src),
            (None, None) => (self.src, self.dst),
        }
    }
}

impl IcmpMessage {
    pub fn is_echo_request(&self) -> bool {
        match self.version {
            IpVersion::V4 => self.kind == 8,
            IpVersion::V6 => self.kind == 128,
        }
    }

    pub fn is_echo_reply(&self) -> bool {
        match self.version {
            IpVersion::V4 => self.kind == 0,
            IpVersion::V6 => self.kind == 129,
        }
    }
}

/// Parses an Ethernet frame from the loopback interface; `None` for
/// anything that is not TCP, UDP or ICMP over IP (or too short to tell).
pub fn parse(frame: &[u8], timestamp: Duration) -> Option<Packet> {
    let ethertype = frame.get(12..ETHERNET_HEADER_LEN)?;
    if ethertype != ETHERTYPE_IPV4 && ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let (ip, _) = LaxIpSlice::from_slice(&frame[ETHERNET_HEADER_LEN..]).ok()?;
    let (source, destination) = ip_addresses(&ip);
    let payload_len = ip_payload_len(&ip);
    let payload = ip.payload();
    let (src_port, dst_port, transport) = match payload.ip_number {
        ip_number::TCP => tcp(payload.payload, payload_len)?,
        ip_number::UDP => udp(payload.payload, payload_len)?,
        ip_number::ICMP => (0, 0, icmpv4(payload.payload)?),
        ip_number::IPV6_ICMP => (0, 0, icmpv6(payload.payload)?),
        _ => return None,
    };
    Some(Packet {
        timestamp,
        src: SocketAddr::new(source, src_port),
        dst: SocketAddr::new(destination, dst_port),
        transport,
        frame_len: (ETHERNET_HEADER_LEN + ip_total_len(&ip)) as u32,
    })
}

fn ip_addresses(ip: &LaxIpSlice) -> (IpAddr, IpAddr) {
    match ip {
        LaxIpSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        LaxIpSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
    }
}

/// The IP packet's length by its header (the slice may be cut short).
fn ip_total_len(ip: &LaxIpSlice) -> usize {
    match ip {
        LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => usize::from(v6.header().payload_length()) + 40,
    }
}

/// The transport header and payload's length by the IP header, falling
/// back to what the slice holds when the header gives none (a jumbogram).
fn ip_payload_len(ip: &LaxIpSlice) -> usize {
    let slice_len = ip.payload().payload.len();
    let by_header = match ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let headers_len =
                header.slice().len() + v4.extensions().auth.map_or(0, |a| a.slice().len());
            usize::from(header.total_len()).checked_sub(headers_len)
        }
        LaxIpSlice::Ipv6(v6) => {
            let declared = usize::from(v6.header().payload_length());
            (declared > 0)
                .then(|| declared.checked_sub(v6.extensions().slice().len()))
                .flatten()
        }
    };
    by_header.unwrap_or(slice_len)
}

fn tcp(slice: &[u8], ip_payload_len: usize) -> Option<(u16, u16, Transport)> {
    let header = TcpHeaderSlice::from_slice(slice).ok()?;
    let header_len = usize::from(header.data_offset()) * 4;
    let seq = header.sequence_number();
    let flags = TcpFlags(header.slice()[13]);
    let segment = TcpSegment {
        flags,
        seq,
        ack: header.acknowledgment_number(),
        window: header.window_size(),
        window_scale: if flags.contains(TcpFlags::SYN) {
            window_scale(&header)
        } else {
            None
        },
        payload_len: ip_payload_len.saturating_sub(header_len) as u32,
        relative_seq: seq,
        relative_ack: None,
        scaled_window: u32::from(header.window_size()),
        completes_handshake: false,
        acknowledges_fin: false,
        answers_hidden_ack: false,
        retransmitted: false,
    };
    Some((
        header.source_port(),
        header.destination_port(),
        Transport::Tcp(segment),
    ))
}

/// The window scale option's shift count.
fn window_scale(header: &TcpHeaderSlice) -> Option<u8> {
    header.options_iterator().find_map(|option| match option {
        Ok(TcpOptionElement::WindowScale(shift)) => Some(shift),
        _ => None,
    })
}

fn udp(slice: &[u8], ip_payload_len: usize) -> Option<(u16, u16, Transport)> {
    let header = UdpHeaderSlice::from_slice(slice).ok()?;
    const UDP_HEADER_LEN: usize = 8;
    // UDP's own length field is 0 in an IPv6 jumbogram: then IP's counts.
    let len = match usize::from(header.length()) {
        0 => ip_payload_len,
        declared => declared,
    };
    let datagram = UdpDatagram {
        payload_len: len.saturating_sub(UDP_HEADER_LEN) as u32,
    };
    Some((
        header.source_port(),
        header.destination_port(),
        Transport::Udp(datagram),
    ))
}

fn icmpv4(slice: &[u8]) -> Option<Transport> {
    let icmp = Icmpv4Slice::from_slice(slice).ok()?;
    let echo = match icmp.icmp_type() {
        Icmpv4Type::EchoRequest(header) | Icmpv4Type::EchoReply(header) => Some(header),
        _ => None,
    };
    // Destination unreachable, source quench, redirect, time exceeded,
    // parameter problem: the types that quote the packet they are about.
    let quotes = matches!(icmp.type_u8(), 3 | 4 | 5 | 11 | 12);
    Some(Transport::Icmp(IcmpMessage {
        version: IpVersion::V4,
        kind: icmp.type_u8(),
        code: icmp.code_u8(),
        echo: echo.map(|e| Echo {
            id: e.id,
            seq: e.seq,
        }),
        about: quotes.then(|| quoted(icmp.payload())).flatten(),
    }))
}

fn icmpv6(slice: &[u8]) -> Option<Transport> {
    let icmp = Icmpv6Slice::from_slice(slice).ok()?;
    let echo = match icmp.icmp_type() {
        Icmpv6Type::EchoRequest(header) | Icmpv6Type::EchoReply(header) => Some(header),
        _ => None,
    };
    // Types 1 to 4 are the errors, and quote the packet they are about.
    let quotes = (1..=4).contains(&icmp.type_u8());
    Some(Transport::Icmp(IcmpMessage {
        version: IpVersion::V6,
        kind: icmp.type_u8(),
        code: icmp.code_u8(),
        echo: echo.map(|e| Echo {
            id: e.id,
            seq: e.seq,
        }),
        about: quotes.then(|| quoted(icmp.payload())).flatten(),
    }))
}

/// The addresses and ports at the start of a quoted packet.
fn quoted(slice: &[u8]) -> Option<Quoted> {
    let (ip, _) = LaxIpSlice::from_slice(slice).ok()?;
    let (source, destination) = ip_addresses(&ip);
    let payload = ip.payload();
    let has_ports = matches!(payload.ip_number, ip_number::TCP | ip_number::UDP);
    let port = |at: usize| match payload.payload.get(at..at + 2) {
        Some(bytes) if has_ports => u16::from_be_bytes([bytes[0], bytes[1]]),
        _ => 0,
    };
    Some(Quoted {
        src: SocketAddr::new(source, port(0)),
        dst: SocketAddr::new(destination, port(2)),
        protocol: payload.ip_number.0,
    })
}

fn with_port(address: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(address.ip(), port)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    pub(crate) const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

    /// An IPv4 TCP frame as loopback carries it (zero MACs).
    pub(crate) fn tcp4_frame(
        ports: (u16, u16),
        seq: u32,
        ack: Option<u32>,
        flags: TcpFlags,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut builder = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(LOCALHOST, LOCALHOST, 64)
            .tcp(ports.0, ports.1, seq, 65495);
        if let Some(ack) = ack {
            builder = builder.ack(ack);
        }
        if flags.contains(TcpFlags::SYN) {
            builder = builder.syn();
        }
        if flags.contains(TcpFlags::FIN) {
            builder = builder.fin();
        }
        if flags.contains(TcpFlags::RST) {
            builder = builder.rst();
        }
        if flags.contains(TcpFlags::PSH) {
            builder = builder.psh();
        }
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn reads_a_tcp_segment() {
        let frame = tcp4_frame((40000, 5000), 1000, Some(7), TcpFlags::PSH, b"hello world!");
        let packet = parse(&frame, Duration::ZERO).unwrap();
        assert_eq!(packet.src, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(packet.dst, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(packet.ip_version(), IpVersion::V4);
        assert_eq!(packet.frame_len as usize, frame.len());
        let segment = packet.tcp().unwrap();
        assert_eq!(segment.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!((segment.seq, segment.ack, segment.window), (1000, 7, 65495));
        assert_eq!(segment.payload_len, 12);
    }

    #[test]
    fn reads_a_syn_s_window_scale() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(LOCALHOST, LOCALHOST, 64)
            .tcp(40000, 5000, 1, 65495)
            .syn()
            .options(&[
                etherparse::TcpOptionElement::MaximumSegmentSize(65495),
                etherparse::TcpOptionElement::WindowScale(7),
            ])
            .unwrap()
            .write(&mut frame, b"")
            .unwrap();
        let packet = parse(&frame, Duration::ZERO).unwrap();
        assert_eq!(packet.tcp().unwrap().window_scale, Some(7));
        let plain = tcp4_frame((40000, 5000), 1, Some(1), TcpFlags::default(), b"");
        assert_eq!(
            parse(&plain, Duration::ZERO)
                .unwrap()
                .tcp()
                .unwrap()
                .window_scale,
            None
        );
    }

    #[test]
    fn lengths_come_from_the_headers_when_the_frame_is_cut_short() {
        let frame = tcp4_frame((40000, 5000), 1, Some(1), TcpFlags::PSH, &[b'x'; 1000]);
        let packet = parse(&frame[..80], Duration::ZERO).unwrap();
        assert_eq!(packet.tcp().unwrap().payload_len, 1000);
        assert_eq!(packet.frame_len as usize, frame.len());

        let mut datagram = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv6([0; 16], [0; 16], 64)
            .udp(40000, 5000)
            .write(&mut datagram, &[0; 3000])
            .unwrap();
        let packet = parse(&datagram[..70], Duration::ZERO).unwrap();
        assert_eq!(
            packet.transport,
            Transport::Udp(UdpDatagram { payload_len: 3000 })
        );
        assert_eq!(packet.ip_version(), IpVersion::V6);
    }

    #[test]
    fn reads_an_echo_request_and_names_the_pinger_by_its_identifier() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(LOCALHOST, LOCALHOST, 64)
            .icmpv4_echo_request(42, 3)
            .write(&mut frame, b"ping")
            .unwrap();
        let packet = parse(&frame, Duration::ZERO).unwrap();
        let Transport::Icmp(icmp) = packet.transport else {
            panic!("not ICMP: {packet:?}");
        };
        assert_eq!((icmp.kind, icmp.code), (8, 0));
        assert_eq!(icmp.echo, Some(Echo { id: 42, seq: 3 }));
        assert_eq!(packet.ends().0, "127.0.0.1:42".parse().unwrap());
        assert_eq!(packet.ends().1, "127.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn an_icmp_error_is_addressed_to_the_sender_of_the_packet_it_quotes() {
        let mut offending = Vec::new();
        PacketBuilder::ipv4(LOCALHOST, LOCALHOST, 64)
            .udp(40000, 9)
            .write(&mut offending, b"anyone?")
            .unwrap();
        let mut frame = Vec::new();
        let unreachable = etherparse::icmpv4::DestUnreachableHeader::Port;
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(LOCALHOST, LOCALHOST, 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(unreachable))
            .write(&mut frame, &offending)
            .unwrap();
        let packet = parse(&frame, Duration::ZERO).unwrap();
        let Transport::Icmp(icmp) = packet.transport else {
            panic!("not ICMP: {packet:?}");
        };
        assert_eq!((icmp.kind, icmp.code), (3, 3));
        let about = icmp.about.unwrap();
        assert_eq!(
            (about.src.port(), about.dst.port(), about.protocol),
            (40000, 9, 17)
        );
        assert_eq!(packet.ends().1, "127.0.0.1:40000".parse().unwrap());
    }

    #[test]
    fn ignores_what_is_not_ip() {
        let mut arp = tcp4_frame((1, 2), 0, None, TcpFlags::SYN, b"");
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse(&arp, Duration::ZERO), None);
        assert_eq!(parse(&arp[..10], Duration::ZERO), None);
    }

    #[test]
    fn only_segments_the_script_decides_are_shown_when_stable() {
        let parsed = |flags, payload: &[u8]| {
            parse(
                &tcp4_frame((1, 2), 5, Some(9), flags, payload),
                Duration::ZERO,
            )
            .unwrap()
        };
        assert!(parsed(TcpFlags::SYN, b"").shown_when_stable());
        assert!(parsed(TcpFlags::FIN, b"").shown_when_stable());
        assert!(parsed(TcpFlags::RST, b"").shown_when_stable());
        assert!(parsed(TcpFlags::PSH, b"data").shown_when_stable());
        assert!(!parsed(TcpFlags::default(), b"").shown_when_stable());
        let mut fin_ack = parsed(TcpFlags::default(), b"");
        if let Transport::Tcp(segment) = &mut fin_ack.transport {
            segment.acknowledges_fin = true;
        }
        assert!(fin_ack.shown_when_stable());
    }
}

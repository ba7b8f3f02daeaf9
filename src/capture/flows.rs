//! TCP connections as the trace sees them, both directions of a 4-tuple
//! together. They give each segment its sequence and acknowledgement
//! numbers relative to the connection's start, and its window scaled as the
//! SYNs agreed, by Wireshark's rules, so the trace matches what students
//! see there; they mark the ACK that completes a
//! handshake and the ACK that first acknowledges a FIN (the pure ACKs
//! `--stable` shows); and they tell whether an
//! exchange the last command started is still under way (a handshake, a
//! FIN, or an ICMP echo request and its reply), so the caller can wait for
//! its answer before printing.

use rustc_hash::{FxHashMap, FxHashSet};
use std::net::{IpAddr, SocketAddr};

use super::packet::{IcmpMessage, Packet, TcpFlags, TcpSegment, Transport};

/// Every TCP connection seen, by 4-tuple.
#[derive(Debug, Default)]
pub struct Flows {
    table: FxHashMap<FlowKey, Flow>,
    /// Counts commands (see [`Flows::begin_command`]), so waiting is only
    /// for exchanges the current command started.
    command: u64,
    /// The ICMP echo requests of the current command whose reply has not
    /// been seen: (sender, receiver, identifier, sequence number). Every
    /// echo request captured is on loopback, so the kernel answers it at
    /// once; a raw socket's `sendto` then shows the request and its reply.
    echoes: FxHashSet<(IpAddr, IpAddr, u16, u16)>,
}

/// The two ends in a fixed order, so both directions find the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    low: SocketAddr,
    high: SocketAddr,
}

#[derive(Debug, Default, Clone, Copy)]
struct Flow {
    /// Indexed 0 for the `low` end, 1 for the `high` end.
    sides: [Side; 2],
    awaiting: Awaiting,
    reset: bool,
    /// The command during which the flow last started waiting for an answer.
    waiting_since: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Side {
    /// What this side's relative sequence numbers count from.
    base: Option<u32>,
    /// The sequence number of this side's SYN.
    isn: Option<u32>,
    /// The sequence number just past this side's FIN.
    fin_end: Option<u32>,
    fin_acked: bool,
    /// What this side's last segment acknowledged, if it was a pure ACK
    /// that `--stable` hides (a reset answering it is hidden too).
    hidden_ack: Option<u32>,
    /// Just past the last sequence number this side has sent (its SYN and
    /// FIN count one each): a segment that ends before is a retransmission.
    sent_end: Option<u32>,
    /// Whether this side's SYN was seen, and its window scale option.
    syn_seen: bool,
    window_scale: Option<u8>,
}

/// The handshake's next expected step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    #[default]
    Nothing,
    /// A SYN went out: a SYN-ACK (or RST) is due.
    SynAck,
    /// A SYN-ACK went out: the ACK acknowledging `ack` is due from this side.
    HandshakeAckFrom(usize, u32),
}

impl Flows {
    pub fn new() -> Flows {
        Flows::default()
    }

    /// Number of connections seen.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Fills in a TCP segment's relative numbers and handshake mark, and
    /// follows the connection's state; other packets pass unchanged.
    pub fn observe(&mut self, packet: &mut Packet) {
        if let Transport::Icmp(icmp) = &packet.transport {
            self.follow_echo(packet.src.ip(), packet.dst.ip(), icmp);
        }
        let Transport::Tcp(segment) = &mut packet.transport else {
            return;
        };
        let (key, side) = FlowKey::of(packet.src, packet.dst);
        let command = self.command;
        let flow = self.table.entry(key).or_default();
        if flow.starts_anew(side, segment) {
            *flow = Flow::default();
        }
        flow.set_bases(side, segment);
        segment.relative_seq = segment.seq.wrapping_sub(flow.sides[side].base.unwrap_or(0));
        segment.relative_ack = segment.flags.contains(TcpFlags::ACK).then(|| {
            segment
                .ack
                .wrapping_sub(flow.sides[1 - side].base.unwrap_or(0))
        });
        segment.scaled_window = flow.scaled_window(side, segment);
        flow.follow(side, segment, command);
    }

    /// Whether an exchange that the current command started still waits
    /// for its answer: a SYN not yet answered, a SYN-ACK or a FIN not yet
    /// acknowledged (and no RST since). Exchanges older than the current
    /// command are not counted: a SYN the peer drops stays unanswered for a
    /// second or more, and later commands should not wait for it.
    pub fn exchange_in_progress(&self) -> bool {
        !self.echoes.is_empty()
            || self
                .table
                .values()
                .any(|flow| flow.waiting_since == self.command && flow.waiting())
    }

    /// Marks the start of a new command: from now on only exchanges it
    /// starts count as in progress.
    pub fn begin_command(&mut self) {
        self.command += 1;
        self.echoes.clear();
    }

    /// An echo request waits for its reply; the reply ends the wait.
    fn follow_echo(&mut self, src: IpAddr, dst: IpAddr, icmp: &IcmpMessage) {
        let Some(echo) = icmp.echo else { return };
        if icmp.is_echo_request() {
            self.echoes.insert((src, dst, echo.id, echo.seq));
        } else if icmp.is_echo_reply() {
            self.echoes.remove(&(dst, src, echo.id, echo.seq));
        }
    }
}

impl FlowKey {
    /// The flow's key, and which side of it `src` is.
    fn of(src: SocketAddr, dst: SocketAddr) -> (FlowKey, usize) {
        if src <= dst {
            (
                FlowKey {
                    low: src,
                    high: dst,
                },
                0,
            )
        } else {
            (
                FlowKey {
                    low: dst,
                    high: src,
                },
                1,
            )
        }
    }
}

impl Flow {
    /// A SYN with a new initial sequence number on a 4-tuple already seen
    /// is a new connection reusing it (a retransmitted SYN keeps its ISN).
    fn starts_anew(&self, side: usize, segment: &TcpSegment) -> bool {
        let this = &self.sides[side];
        segment.flags.contains(TcpFlags::SYN)
            && this.base.is_some()
            && this.isn != Some(segment.seq)
    }

    /// Wireshark's rules: a side's first segment sets its base, at its ISN
    /// for a SYN and one before its sequence number otherwise (so a
    /// connection caught mid-stream also counts from 1); the first ACK seen
    /// sets the other side's base, one before what it acknowledges.
    fn set_bases(&mut self, side: usize, segment: &TcpSegment) {
        let syn = segment.flags.contains(TcpFlags::SYN);
        let this = &mut self.sides[side];
        if this.base.is_none() {
            this.base = Some(if syn {
                segment.seq
            } else {
                segment.seq.wrapping_sub(1)
            });
        }
        if syn {
            this.isn = Some(segment.seq);
            this.syn_seen = true;
            this.window_scale = segment.window_scale;
        }
        let other = &mut self.sides[1 - side];
        if other.base.is_none() && segment.flags.contains(TcpFlags::ACK) {
            other.base = Some(segment.ack.wrapping_sub(1));
        }
    }

    /// The window in bytes: shifted by the sender's scale once both SYNs
    /// offered scaling (RFC 7323), never in a SYN; as sent when a SYN was
    /// missed, the scale then being unknown.
    fn scaled_window(&self, side: usize, segment: &TcpSegment) -> u32 {
        let window = u32::from(segment.window);
        let [this, other] = [self.sides[side], self.sides[1 - side]];
        let agreed = this.syn_seen && other.syn_seen && other.window_scale.is_some();
        match this.window_scale {
            Some(shift) if agreed && !segment.flags.contains(TcpFlags::SYN) => {
                window << shift.min(14)
            }
            _ => window,
        }
    }

    /// Moves the handshake and the FINs along with this segment.
    fn follow(&mut self, side: usize, segment: &mut TcpSegment, command: u64) {
        let flags = segment.flags;
        if flags.contains(TcpFlags::RST) {
            // A bare RST answers a segment that carried an ACK, with that
            // ACK as its sequence number.
            segment.answers_hidden_ack = !flags.contains(TcpFlags::ACK)
                && self.sides[1 - side].hidden_ack == Some(segment.seq);
            self.reset = true;
            self.awaiting = Awaiting::Nothing;
            return;
        }
        self.mark_retransmission(side, segment);
        if flags.contains(TcpFlags::ACK) {
            self.take_ack(side, segment);
        }
        let control = TcpFlags::SYN | TcpFlags::FIN;
        let pure = flags.contains(TcpFlags::ACK)
            && !flags.intersects(control)
            && segment.payload_len == 0
            && !segment.completes_handshake
            && !segment.acknowledges_fin;
        self.sides[side].hidden_ack = pure.then_some(segment.ack);
        if flags.contains(TcpFlags::SYN) {
            self.awaiting = if flags.contains(TcpFlags::ACK) {
                Awaiting::HandshakeAckFrom(1 - side, segment.seq.wrapping_add(1))
            } else {
                Awaiting::SynAck
            };
            self.waiting_since = command;
        }
        // A FIN sent again was answered, or will be, as the first one.
        if flags.contains(TcpFlags::FIN) && !segment.retransmitted {
            let this = &mut self.sides[side];
            this.fin_end = Some(
                segment
                    .seq
                    .wrapping_add(segment.payload_len)
                    .wrapping_add(1),
            );
            this.fin_acked = false;
            self.waiting_since = command;
        }
    }

    /// A segment that carries nothing this side had not sent before is a
    /// retransmission: the kernel's timers sent it, not the script.
    fn mark_retransmission(&mut self, side: usize, segment: &mut TcpSegment) {
        let flags = segment.flags;
        let occupies = segment.payload_len
            + u32::from(flags.contains(TcpFlags::SYN))
            + u32::from(flags.contains(TcpFlags::FIN));
        if occupies == 0 {
            return;
        }
        let end = segment.seq.wrapping_add(occupies);
        let this = &mut self.sides[side];
        match this.sent_end {
            Some(sent) if sequence_reached(sent, end) => segment.retransmitted = true,
            _ => this.sent_end = Some(end),
        }
    }

    /// What an acknowledgement from `side` settles.
    fn take_ack(&mut self, side: usize, segment: &mut TcpSegment) {
        if let Awaiting::HandshakeAckFrom(from, ack) = self.awaiting {
            if from == side && segment.ack == ack && !segment.flags.contains(TcpFlags::SYN) {
                self.awaiting = Awaiting::Nothing;
                segment.completes_handshake =
                    !segment.flags.contains(TcpFlags::FIN) && segment.payload_len == 0;
            }
        }
        let other = &mut self.sides[1 - side];
        if let Some(fin_end) = other.fin_end {
            if !other.fin_acked && sequence_reached(segment.ack, fin_end) {
                other.fin_acked = true;
                segment.acknowledges_fin = !segment
                    .flags
                    .intersects(TcpFlags::FIN | TcpFlags::SYN | TcpFlags::RST)
                    && segment.payload_len == 0;
            }
        }
    }

    fn waiting(&self) -> bool {
        let fin_unacked = self
            .sides
            .iter()
            .any(|side| side.fin_end.is_some() && !side.fin_acked);
        !self.reset && (self.awaiting != Awaiting::Nothing || fin_unacked)
    }
}

/// `at` is `target` or beyond it, in 32-bit sequence space.
fn sequence_reached(at: u32, target: u32) -> bool {
    at.wrapping_sub(target) < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::packet::{parse, tests::tcp4_frame};
    use std::time::Duration;

    const CLIENT: u16 = 40000;
    const SERVER: u16 = 5000;
    const CLIENT_ISN: u32 = 0xffff_fff0; // wraps around during the exchange
    const SERVER_ISN: u32 = 7_000_000;

    /// Feeds a segment through `flows`: `from_client` picks the direction.
    fn segment(
        flows: &mut Flows,
        from_client: bool,
        seq: u32,
        ack: Option<u32>,
        flags: TcpFlags,
        payload: &[u8],
    ) -> TcpSegment {
        let ports = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let mut packet =
            parse(&tcp4_frame(ports, seq, ack, flags, payload), Duration::ZERO).unwrap();
        flows.observe(&mut packet);
        *packet.tcp().unwrap()
    }

    fn numbers(segment: TcpSegment) -> (u32, Option<u32>) {
        (segment.relative_seq, segment.relative_ack)
    }

    /// SYN, SYN-ACK, ACK; returns the client's and server's next sequence numbers.
    fn handshake(flows: &mut Flows) -> (u32, u32) {
        segment(flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        segment(
            flows,
            false,
            SERVER_ISN,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::SYN,
            b"",
        );
        segment(
            flows,
            true,
            CLIENT_ISN.wrapping_add(1),
            Some(SERVER_ISN + 1),
            TcpFlags::default(),
            b"",
        );
        (CLIENT_ISN.wrapping_add(1), SERVER_ISN + 1)
    }

    #[test]
    fn numbers_count_from_each_side_s_initial_sequence_number() {
        let mut flows = Flows::new();
        let syn = segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        let syn_ack = segment(
            &mut flows,
            false,
            SERVER_ISN,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::SYN,
            b"",
        );
        let (c, s) = (CLIENT_ISN.wrapping_add(1), SERVER_ISN + 1);
        let ack = segment(&mut flows, true, c, Some(s), TcpFlags::default(), b"");
        let data = segment(&mut flows, true, c, Some(s), TcpFlags::PSH, b"hello world!");
        let reply = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(12)),
            TcpFlags::PSH,
            b"hi",
        );
        let fin = segment(
            &mut flows,
            true,
            c.wrapping_add(12),
            Some(s + 2),
            TcpFlags::FIN,
            b"",
        );
        assert_eq!(numbers(syn), (0, None));
        assert_eq!(numbers(syn_ack), (0, Some(1)));
        assert_eq!(numbers(ack), (1, Some(1)));
        assert_eq!(numbers(data), (1, Some(1)));
        assert_eq!(numbers(reply), (1, Some(13)));
        assert_eq!(numbers(fin), (13, Some(3)));
        assert_eq!(flows.len(), 1);
    }

    #[test]
    fn a_connection_caught_mid_stream_counts_from_one_as_wireshark_does() {
        let mut flows = Flows::new();
        let first = segment(&mut flows, true, 1000, Some(5000), TcpFlags::PSH, b"abc");
        let answer = segment(
            &mut flows,
            false,
            5000,
            Some(1003),
            TcpFlags::default(),
            b"",
        );
        assert_eq!(numbers(first), (1, Some(1)));
        assert_eq!(numbers(answer), (1, Some(4)));
    }

    #[test]
    fn a_new_syn_on_a_reused_four_tuple_starts_the_numbers_again() {
        let mut flows = Flows::new();
        handshake(&mut flows);
        let again = segment(&mut flows, true, 123, None, TcpFlags::SYN, b"");
        let answer = segment(&mut flows, false, 456, Some(124), TcpFlags::SYN, b"");
        assert_eq!(numbers(again), (0, None));
        assert_eq!(numbers(answer), (0, Some(1)));
    }

    #[test]
    fn a_retransmitted_syn_is_the_same_connection() {
        let mut flows = Flows::new();
        segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        segment(
            &mut flows,
            false,
            SERVER_ISN,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::SYN,
            b"",
        );
        let retransmitted = segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        let ack = segment(
            &mut flows,
            true,
            CLIENT_ISN.wrapping_add(1),
            Some(SERVER_ISN + 1),
            TcpFlags::default(),
            b"",
        );
        assert_eq!(numbers(retransmitted), (0, None));
        assert_eq!(numbers(ack), (1, Some(1)));
    }

    #[test]
    fn only_the_ack_that_ends_the_handshake_is_marked() {
        let mut flows = Flows::new();
        segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        segment(
            &mut flows,
            false,
            SERVER_ISN,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::SYN,
            b"",
        );
        let (c, s) = (CLIENT_ISN.wrapping_add(1), SERVER_ISN + 1);
        assert!(
            segment(&mut flows, true, c, Some(s), TcpFlags::default(), b"").completes_handshake
        );
        segment(&mut flows, true, c, Some(s), TcpFlags::PSH, b"x");
        assert!(
            !segment(
                &mut flows,
                false,
                s,
                Some(c.wrapping_add(1)),
                TcpFlags::default(),
                b""
            )
            .completes_handshake
        );
        assert!(
            !segment(
                &mut flows,
                true,
                c.wrapping_add(1),
                Some(s),
                TcpFlags::default(),
                b""
            )
            .completes_handshake
        );
    }

    #[test]
    fn the_handshake_is_in_progress_until_its_third_segment() {
        let mut flows = Flows::new();
        assert!(!flows.exchange_in_progress());
        segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        assert!(flows.exchange_in_progress());
        segment(
            &mut flows,
            false,
            SERVER_ISN,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::SYN,
            b"",
        );
        assert!(flows.exchange_in_progress());
        segment(
            &mut flows,
            true,
            CLIENT_ISN.wrapping_add(1),
            Some(SERVER_ISN + 1),
            TcpFlags::default(),
            b"",
        );
        assert!(!flows.exchange_in_progress());
    }

    #[test]
    fn a_refused_connection_is_settled_by_its_rst() {
        let mut flows = Flows::new();
        segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        segment(
            &mut flows,
            false,
            0,
            Some(CLIENT_ISN.wrapping_add(1)),
            TcpFlags::RST,
            b"",
        );
        assert!(!flows.exchange_in_progress());
    }

    #[test]
    fn a_fin_is_in_progress_until_acknowledged() {
        let mut flows = Flows::new();
        let (c, s) = handshake(&mut flows);
        flows.begin_command();
        segment(&mut flows, true, c, Some(s), TcpFlags::FIN, b"bye");
        assert!(flows.exchange_in_progress());
        segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(3)),
            TcpFlags::default(),
            b"",
        );
        assert!(
            flows.exchange_in_progress(),
            "acknowledges the data, not the FIN"
        );
        segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(4)),
            TcpFlags::default(),
            b"",
        );
        assert!(!flows.exchange_in_progress());
    }

    #[test]
    fn only_the_first_pure_ack_of_a_fin_is_marked() {
        let mut flows = Flows::new();
        let (c, s) = handshake(&mut flows);
        let fin = segment(&mut flows, true, c, Some(s), TcpFlags::FIN, b"");
        assert!(!fin.acknowledges_fin);
        let early = segment(&mut flows, false, s, Some(c), TcpFlags::default(), b"");
        assert!(
            !early.acknowledges_fin,
            "acknowledges what came before the FIN"
        );
        let ack = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(1)),
            TcpFlags::default(),
            b"",
        );
        assert!(ack.acknowledges_fin);
        let again = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(1)),
            TcpFlags::default(),
            b"",
        );
        assert!(!again.acknowledges_fin, "a duplicate is not marked");
        let answer = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(1)),
            TcpFlags::FIN,
            b"",
        );
        assert!(!answer.acknowledges_fin, "a FIN is shown for itself");
        let last = segment(
            &mut flows,
            true,
            c.wrapping_add(1),
            Some(s + 1),
            TcpFlags::default(),
            b"",
        );
        assert!(last.acknowledges_fin);
    }

    #[test]
    fn a_segment_sent_again_is_a_retransmission() {
        let mut flows = Flows::new();
        let first = segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        let again = segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        assert!(!first.retransmitted && again.retransmitted);
        let mut flows = Flows::new();
        let (c, s) = handshake(&mut flows);
        let data = segment(&mut flows, true, c, Some(s), TcpFlags::PSH, b"abc");
        let resent = segment(&mut flows, true, c, Some(s), TcpFlags::PSH, b"abc");
        let more = segment(
            &mut flows,
            true,
            c.wrapping_add(3),
            Some(s),
            TcpFlags::FIN,
            b"d",
        );
        let fin_again = segment(
            &mut flows,
            true,
            c.wrapping_add(3),
            Some(s),
            TcpFlags::FIN,
            b"d",
        );
        assert!(!data.retransmitted && resent.retransmitted);
        assert!(!more.retransmitted && fin_again.retransmitted);
        let ack = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(5)),
            TcpFlags::default(),
            b"",
        );
        assert!(ack.acknowledges_fin);
        let fin_once_more = segment(
            &mut flows,
            true,
            c.wrapping_add(3),
            Some(s),
            TcpFlags::FIN,
            b"d",
        );
        let ack_again = segment(
            &mut flows,
            false,
            s,
            Some(c.wrapping_add(5)),
            TcpFlags::default(),
            b"",
        );
        assert!(fin_once_more.retransmitted && !ack_again.acknowledges_fin);
        assert!(!flows.exchange_in_progress());
    }

    #[test]
    fn a_reset_answering_a_hidden_ack_is_marked() {
        let mut flows = Flows::new();
        let (c, s) = handshake(&mut flows);
        // A duplicate ACK reaches a port whose socket has gone: the reset
        // answering it is the kernel's timing, like the ACK itself.
        segment(&mut flows, true, c, Some(s), TcpFlags::default(), b"");
        let reset = segment(&mut flows, false, s, None, TcpFlags::RST, b"");
        assert!(reset.answers_hidden_ack);
        // Data is the script's: the reset answering it is shown.
        let mut flows = Flows::new();
        let (c, s) = handshake(&mut flows);
        segment(&mut flows, true, c, Some(s), TcpFlags::PSH, b"late");
        let reset = segment(&mut flows, false, s, None, TcpFlags::RST, b"");
        assert!(!reset.answers_hidden_ack);
    }

    #[test]
    fn an_exchange_from_an_earlier_command_is_not_waited_for() {
        let mut flows = Flows::new();
        segment(&mut flows, true, CLIENT_ISN, None, TcpFlags::SYN, b"");
        flows.begin_command();
        assert!(!flows.exchange_in_progress());
    }

    /// `segment`, with a window and the SYN's window scale option.
    fn windowed(
        flows: &mut Flows,
        from_client: bool,
        flags: TcpFlags,
        window: u16,
        scale: Option<u8>,
    ) -> u32 {
        let ports = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let ack = (!flags.contains(TcpFlags::SYN) || !from_client).then_some(1);
        let mut packet = parse(&tcp4_frame(ports, 1, ack, flags, b""), Duration::ZERO).unwrap();
        let Transport::Tcp(segment) = &mut packet.transport else {
            unreachable!()
        };
        segment.window = window;
        segment.window_scale = scale;
        flows.observe(&mut packet);
        packet.tcp().unwrap().scaled_window
    }

    #[test]
    fn windows_are_scaled_once_both_syns_offered_scaling() {
        let mut flows = Flows::new();
        assert_eq!(
            windowed(&mut flows, true, TcpFlags::SYN, 65495, Some(7)),
            65495
        );
        assert_eq!(
            windowed(&mut flows, false, TcpFlags::SYN, 65483, Some(6)),
            65483
        );
        assert_eq!(
            windowed(&mut flows, true, TcpFlags::default(), 512, None),
            512 << 7
        );
        assert_eq!(
            windowed(&mut flows, false, TcpFlags::default(), 512, None),
            512 << 6
        );
    }

    #[test]
    fn windows_are_as_sent_when_scaling_was_not_agreed_or_not_seen() {
        let mut flows = Flows::new();
        windowed(&mut flows, true, TcpFlags::SYN, 65495, Some(7));
        windowed(&mut flows, false, TcpFlags::SYN, 65483, None);
        assert_eq!(
            windowed(&mut flows, true, TcpFlags::default(), 512, None),
            512
        );
        let mut mid_stream = Flows::new();
        assert_eq!(
            windowed(&mut mid_stream, true, TcpFlags::default(), 512, None),
            512
        );
    }

    #[test]
    fn an_echo_request_is_in_progress_until_its_reply() {
        use crate::capture::packet::{Echo, IpVersion};
        let icmp = |kind, from: &str, to: &str| Packet {
            timestamp: Duration::ZERO,
            src: from.parse().unwrap(),
            dst: to.parse().unwrap(),
            transport: Transport::Icmp(IcmpMessage {
                version: IpVersion::V4,
                kind,
                code: 0,
                echo: Some(Echo { id: 0, seq: 3 }),
                about: None,
            }),
            frame_len: 42,
        };
        let mut flows = Flows::new();
        flows.observe(&mut icmp(8, "127.0.0.1:0", "127.0.0.12:0"));
        assert!(flows.exchange_in_progress(), "the request waits");
        flows.observe(&mut icmp(0, "127.0.0.1:0", "127.0.0.12:0"));
        assert!(flows.exchange_in_progress(), "a reply the other way round");
        flows.observe(&mut icmp(0, "127.0.0.12:0", "127.0.0.1:0"));
        assert!(!flows.exchange_in_progress(), "answered");
        flows.observe(&mut icmp(8, "127.0.0.1:0", "127.0.0.1:0"));
        flows.begin_command();
        assert!(!flows.exchange_in_progress(), "only the command's own");
    }

    #[test]
    fn serial_comparison_wraps() {
        assert!(sequence_reached(5, 0xffff_fff0));
        assert!(sequence_reached(10, 10));
        assert!(!sequence_reached(0xffff_fff0, 5));
    }
}

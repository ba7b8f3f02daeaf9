//! The capture socket's kernel filter: a classic BPF program that the
//! kernel runs on every frame crossing the loopback interface. It keeps the
//! session's packets (TCP and UDP on its ports, and ICMP) and drops the rest
//! before they are copied anywhere, so another process moving a GiB over
//! loopback costs the session nothing.
//!
//! Loopback shows every packet twice, once leaving and once arriving. The
//! program keeps the leaving copy (`PACKET_OUTGOING`): the kernel queues it
//! while the system call that sent it is still running, so once a command
//! returns, the packets it sent are already waiting to be read.

use libc::sock_filter;

/// The most ports one filter can match (4 instructions each; the kernel
/// takes at most 4096).
pub const MAX_PORTS: usize = 1000;

/// More ports were asked for than one filter can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPorts {
    pub asked: usize,
}

// Opcodes (linux/bpf_common.h, linux/filter.h), spelled out once here.
const LD_B_ABS: u16 = 0x30; // A = byte at k
const LD_H_ABS: u16 = 0x28; // A = big-endian half-word at k
const LD_H_IND: u16 = 0x48; // A = half-word at X + k
const LDX_B_MSH: u16 = 0xb1; // X = 4 * (byte at k & 0xf)
const LD_MEM: u16 = 0x60; // A = M[k]
const ST: u16 = 0x02; // M[k] = A
const JMP_JA: u16 = 0x05; // skip k instructions
const JMP_JEQ_K: u16 = 0x15; // A == k ?
const JMP_JSET_K: u16 = 0x45; // A & k != 0 ?
const RET_K: u16 = 0x06; // keep k bytes (0: drop)

/// Where the kernel's pseudo-loads read the packet type (linux/filter.h).
const PKTTYPE: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
const PACKET_OUTGOING: u32 = libc::PACKET_OUTGOING as u32;

const ETHERTYPE_OFFSET: u32 = 12;
const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IP_START: u32 = 14;
const IPV4_PROTOCOL: u32 = IP_START + 9;
const IPV4_FRAGMENT: u32 = IP_START + 6;
const IPV4_FRAGMENT_OFFSET_MASK: u32 = 0x1fff;
const IPV6_NEXT_HEADER: u32 = IP_START + 6;
const IPV6_TRANSPORT: u32 = IP_START + 40;
const TCP: u32 = libc::IPPROTO_TCP as u32;
const UDP: u32 = libc::IPPROTO_UDP as u32;
const ICMP: u32 = libc::IPPROTO_ICMP as u32;
const ICMPV6: u32 = libc::IPPROTO_ICMPV6 as u32;
/// Scratch memory slot that holds the source port while the destination
/// port is in A.
const SOURCE_PORT_SLOT: u32 = 0;

/// The filter for a session on `ports`: keep up to `snap_len` bytes of each
/// outgoing loopback frame that is ICMP, ICMPv6, or TCP/UDP with either
/// port in `ports` (IPv4 or IPv6); drop everything else.
///
/// IPv6 extension headers are not followed (tcpdump's `port` does not
/// either); loopback traffic carries none. IPv4 fragments after the first
/// hold no ports and are dropped.
pub fn session_filter(ports: &[u16], snap_len: u32) -> Result<Vec<sock_filter>, TooManyPorts> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    if ports.len() > MAX_PORTS {
        return Err(TooManyPorts { asked: ports.len() });
    }
    let ipv6 = ipv6_section(snap_len);
    let ipv4 = ipv4_section(snap_len, ipv6.len());
    let mut program = outgoing_only();
    program.extend(ethertype_dispatch(ipv4.len()));
    program.extend(ipv4);
    program.extend(ipv6);
    program.extend(port_match(&ports, snap_len));
    Ok(program)
}

/// Drops the arriving copy of each loopback packet.
fn outgoing_only() -> Vec<sock_filter> {
    vec![
        stmt(LD_B_ABS, PKTTYPE),
        jump_if(JMP_JEQ_K, PACKET_OUTGOING, 1, 0),
        stmt(RET_K, 0),
    ]
}

/// Goes on to the IPv4 section just after it, or past it to the IPv6 one.
fn ethertype_dispatch(ipv4_len: usize) -> Vec<sock_filter> {
    vec![
        stmt(LD_H_ABS, ETHERTYPE_OFFSET),
        jump_if(JMP_JEQ_K, ETHERTYPE_IPV4, 2, 0),
        jump_if(JMP_JEQ_K, ETHERTYPE_IPV6, short(ipv4_len + 1), 0),
        stmt(RET_K, 0),
    ]
}

/// Keeps ICMP; for TCP and UDP leaves the source port in the scratch slot
/// and the destination port in A, and jumps over the IPv6 section to the
/// port match.
fn ipv4_section(snap_len: u32, ipv6_len: usize) -> Vec<sock_filter> {
    let mut section = vec![stmt(LD_B_ABS, IPV4_PROTOCOL)];
    section.extend(transport_dispatch(ICMP, snap_len));
    section.extend([
        stmt(LD_H_ABS, IPV4_FRAGMENT),
        jump_if(JMP_JSET_K, IPV4_FRAGMENT_OFFSET_MASK, 0, 1),
        stmt(RET_K, 0),
        stmt(LDX_B_MSH, IP_START),
        stmt(LD_H_IND, IP_START),
        stmt(ST, SOURCE_PORT_SLOT),
        stmt(LD_H_IND, IP_START + 2),
        stmt(JMP_JA, ipv6_len as u32),
    ]);
    section
}

/// As the IPv4 section, for a fixed 40-byte header; falls through to the
/// port match.
fn ipv6_section(snap_len: u32) -> Vec<sock_filter> {
    let mut section = vec![stmt(LD_B_ABS, IPV6_NEXT_HEADER)];
    section.extend(transport_dispatch(ICMPV6, snap_len));
    section.extend([
        stmt(LD_H_ABS, IPV6_TRANSPORT),
        stmt(ST, SOURCE_PORT_SLOT),
        stmt(LD_H_ABS, IPV6_TRANSPORT + 2),
    ]);
    section
}

/// With the IP protocol in A: keeps `icmp`, drops all but TCP and UDP,
/// and falls through for those.
fn transport_dispatch(icmp: u32, snap_len: u32) -> [sock_filter; 5] {
    [
        jump_if(JMP_JEQ_K, icmp, 0, 1),
        stmt(RET_K, snap_len),
        jump_if(JMP_JEQ_K, TCP, 2, 0),
        jump_if(JMP_JEQ_K, UDP, 1, 0),
        stmt(RET_K, 0),
    ]
}

/// Keeps the frame when the destination port (in A) or the source port
/// (in the scratch slot) is one of `ports`.
fn port_match(ports: &[u16], snap_len: u32) -> Vec<sock_filter> {
    let mut section = Vec::with_capacity(4 * ports.len() + 2);
    section.extend(keep_if_one_of(ports, snap_len));
    section.push(stmt(LD_MEM, SOURCE_PORT_SLOT));
    section.extend(keep_if_one_of(ports, snap_len));
    section.push(stmt(RET_K, 0));
    section
}

fn keep_if_one_of(ports: &[u16], snap_len: u32) -> impl Iterator<Item = sock_filter> + '_ {
    ports.iter().flat_map(move |&port| {
        [
            jump_if(JMP_JEQ_K, u32::from(port), 0, 1),
            stmt(RET_K, snap_len),
        ]
    })
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_if(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// A conditional jump's offset; the sections are small enough by design.
fn short(offset: usize) -> u8 {
    u8::try_from(offset).expect("filter sections are shorter than 256 instructions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    const SNAP: u32 = 256;
    const PACKET_HOST: u8 = libc::PACKET_HOST;
    const OUTGOING: u8 = libc::PACKET_OUTGOING;

    /// A classic BPF interpreter for the instructions this module emits, so
    /// the program's logic is checked without a kernel.
    fn run(program: &[sock_filter], frame: &[u8], pkttype: u8) -> u32 {
        let (mut a, mut x, mut memory, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        let byte = |at: u32| frame.get(at as usize).copied().map(u32::from);
        let half = |at: u32| Some(byte(at)? << 8 | byte(at + 1)?);
        for _ in 0..program.len() {
            let insn = program[pc];
            pc += 1;
            let loaded = match insn.code {
                LD_B_ABS if insn.k == PKTTYPE => Some(u32::from(pkttype)),
                LD_B_ABS => byte(insn.k),
                LD_H_ABS => half(insn.k),
                LD_H_IND => half(x + insn.k),
                _ => None,
            };
            match insn.code {
                LD_B_ABS | LD_H_ABS | LD_H_IND => match loaded {
                    Some(value) => a = value,
                    None => return 0, // reading past the end drops, as in the kernel
                },
                LDX_B_MSH => x = 4 * (byte(insn.k).unwrap_or(0) & 0xf),
                LD_MEM => a = memory[insn.k as usize],
                ST => memory[insn.k as usize] = a,
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K | JMP_JSET_K => {
                    let taken = if insn.code == JMP_JEQ_K {
                        a == insn.k
                    } else {
                        a & insn.k != 0
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                RET_K => return insn.k,
                other => panic!("opcode {other:#x} not interpreted"),
            }
        }
        panic!("program ran off its end");
    }

    fn tcp4(source: u16, destination: u16) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(source, destination, 1, 1024)
            .write(&mut frame, b"hello")
            .unwrap();
        frame
    }

    fn udp6(source: u16, destination: u16) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv6([0; 16], [0; 16], 64)
            .udp(source, destination)
            .write(&mut frame, b"hi")
            .unwrap();
        frame
    }

    fn filter(ports: &[u16]) -> Vec<sock_filter> {
        session_filter(ports, SNAP).unwrap()
    }

    #[test]
    fn keeps_tcp_and_udp_on_a_session_port_either_way() {
        let program = filter(&[5000, 6000]);
        assert_eq!(run(&program, &tcp4(5000, 40000), OUTGOING), SNAP);
        assert_eq!(run(&program, &tcp4(40000, 6000), OUTGOING), SNAP);
        assert_eq!(run(&program, &udp6(6000, 40000), OUTGOING), SNAP);
        assert_eq!(run(&program, &udp6(40000, 5000), OUTGOING), SNAP);
    }

    #[test]
    fn drops_other_ports() {
        let program = filter(&[5000]);
        assert_eq!(run(&program, &tcp4(40000, 40001), OUTGOING), 0);
        assert_eq!(run(&program, &udp6(40000, 40001), OUTGOING), 0);
    }

    #[test]
    fn drops_the_arriving_copy() {
        let program = filter(&[5000]);
        assert_eq!(run(&program, &tcp4(5000, 5000), PACKET_HOST), 0);
    }

    #[test]
    fn keeps_icmp_of_both_families_even_without_ports() {
        let program = filter(&[]);
        let mut ping4 = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut ping4, b"")
            .unwrap();
        let mut ping6 = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv6([0; 16], [0; 16], 64)
            .icmpv6_echo_request(7, 1)
            .write(&mut ping6, b"")
            .unwrap();
        assert_eq!(run(&program, &ping4, OUTGOING), SNAP);
        assert_eq!(run(&program, &ping6, OUTGOING), SNAP);
        assert_eq!(run(&program, &tcp4(5000, 5000), OUTGOING), 0);
    }

    #[test]
    fn drops_frames_that_are_not_ip() {
        let mut arp = tcp4(5000, 5000);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(run(&filter(&[5000]), &arp, OUTGOING), 0);
    }

    #[test]
    fn reads_ports_after_ipv4_options() {
        let mut frame = Vec::new();
        let mut ip = etherparse::Ipv4Header::new(
            0,
            64,
            etherparse::ip_number::TCP,
            [127, 0, 0, 1],
            [127, 0, 0, 1],
        )
        .unwrap();
        ip.options = [1, 1, 1, 1].into(); // four NOPs: IHL 6
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
            .tcp(40000, 5000, 1, 1024)
            .write(&mut frame, b"")
            .unwrap();
        assert_eq!(frame[14] & 0xf, 6);
        assert_eq!(run(&filter(&[5000]), &frame, OUTGOING), SNAP);
        assert_eq!(run(&filter(&[40001]), &frame, OUTGOING), 0);
    }

    #[test]
    fn drops_ipv4_fragments_after_the_first() {
        let mut frame = tcp4(5000, 5000);
        frame[IPV4_FRAGMENT as usize + 1] = 0x10; // offset 16 (×8 bytes)
        assert_eq!(run(&filter(&[5000]), &frame, OUTGOING), 0);
    }

    #[test]
    fn refuses_more_ports_than_the_kernel_takes() {
        let ports: Vec<u16> = (1..=MAX_PORTS as u16 + 1).collect();
        assert_eq!(
            session_filter(&ports, SNAP).unwrap_err().asked,
            MAX_PORTS + 1
        );
        let program = session_filter(&ports[..MAX_PORTS], SNAP).unwrap();
        assert!(program.len() <= libc::BPF_MAXINSNS as usize);
    }

    #[test]
    fn duplicate_ports_count_once() {
        assert_eq!(filter(&[5000, 5000, 5000]).len(), filter(&[5000]).len());
    }

    proptest! {
        #[test]
        fn keeps_exactly_the_session_ports(
            ports in proptest::collection::vec(1u16.., 0..20),
            source in 1u16..,
            destination in 1u16..,
            ipv6 in any::<bool>(),
        ) {
            let frame = if ipv6 { udp6(source, destination) } else { tcp4(source, destination) };
            let wanted = ports.contains(&source) || ports.contains(&destination);
            let kept = run(&filter(&ports), &frame, OUTGOING);
            prop_assert_eq!(kept, if wanted { SNAP } else { 0 });
        }
    }
}

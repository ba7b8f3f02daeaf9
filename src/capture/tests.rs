//! The capture against the real kernel: loopback connections made here,
//! captured, described, written to pcap and checked against tshark when it
//! is installed. Capturing needs root or CAP_NET_RAW: without it each test
//! says why it skips. Ports are chosen by the kernel (port 0), except inside
//! a network namespace a test makes for itself.

use super::*;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;

/// The brief bound on waiting for an exchange's answer after a command.
const SETTLE: Duration = Duration::from_millis(1000);

fn open_or_skip(ports: &[u16], pcap: Option<&Path>) -> Option<Capture> {
    match Capture::open(ports, pcap) {
        Ok(capture) => Some(capture),
        Err(CaptureError::NotPermitted) => {
            eprintln!("skipped: capturing packets needs root or CAP_NET_RAW");
            None
        }
        Err(error) => panic!("cannot capture: {error}"),
    }
}

/// The handles of one connection, named as a script would name them.
struct Ends {
    client: SocketAddr,
    server: SocketAddr,
}

impl Ends {
    fn name(&self, end: SocketAddr) -> Option<&'static str> {
        match end {
            end if end == self.client => Some("cli"),
            end if end == self.server => Some("srv"),
            _ => None,
        }
    }
}

/// TCP lines only: ICMP from other programs on this machine's loopback
/// would otherwise reach these tests.
fn tcp_lines(packets: &[Packet], ends: &Ends, detail: Detail) -> Vec<String> {
    packets
        .iter()
        .filter(|p| p.tcp().is_some())
        // Other tests of this process talk on loopback too, and the kernel
        // hands their ports out again: keep the exchange's own packets.
        .filter(|p| ends.name(p.src).is_some() && ends.name(p.dst).is_some())
        .filter(|p| detail == Detail::Full || p.shown_when_stable())
        .map(|p| describe(p, |end| ends.name(end), detail))
        .collect()
}

/// Closes a connection now: its FIN leaves whatever else holds the socket.
fn close(stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// One connection as a lesson runs it, settling after each step: connect,
/// accept, a request and a reply, then each side closes. Returns the
/// packets of each step.
fn exchange(capture: &mut Capture, host: IpAddr) -> (Ends, Vec<Vec<Packet>>) {
    let mut steps = Vec::new();
    let mut settle = |capture: &mut Capture| {
        let mut packets = Vec::new();
        capture.settle(&mut packets, SETTLE).unwrap();
        steps.push(packets);
    };
    let listener = TcpListener::bind((host, 0)).unwrap();
    let server = listener.local_addr().unwrap();
    capture.set_ports(&[server.port()]).unwrap();
    settle(capture);
    let mut client = TcpStream::connect(server).unwrap();
    let ends = Ends {
        client: client.local_addr().unwrap(),
        server,
    };
    settle(capture);
    let (mut accepted, _) = listener.accept().unwrap();
    settle(capture);
    client.write_all(b"hello").unwrap();
    settle(capture);
    let mut request = [0; 5];
    accepted.read_exact(&mut request).unwrap();
    accepted.write_all(b"world!").unwrap();
    settle(capture);
    let mut reply = [0; 6];
    client.read_exact(&mut reply).unwrap();
    settle(capture);
    // shutdown, then close: a child another test forks at this moment
    // holds a copy of every socket until it execs, so a close alone may
    // send its FIN only after the settling ended.
    close(client);
    settle(capture);
    close(accepted);
    settle(capture);
    (ends, steps)
}

const EXCHANGE_WHEN_STABLE: [&str; 9] = [
    "cli > srv  SYN seq=0",
    "srv > cli  SYN-ACK seq=0 ack=1",
    "cli > srv  ACK seq=1 ack=1",
    "cli > srv  PSH-ACK seq=1 ack=1 len=5",
    "srv > cli  PSH-ACK seq=1 ack=6 len=6",
    "cli > srv  FIN-ACK seq=6 ack=7",
    "srv > cli  ACK seq=7 ack=7",
    "srv > cli  FIN-ACK seq=7 ack=7",
    "cli > srv  ACK seq=7 ack=8",
];

#[test]
fn a_connection_is_traced_once_per_packet_over_ipv4_and_ipv6() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    for host in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        let (ends, steps) = exchange(&mut capture, host);
        let packets: Vec<Packet> = steps.concat();
        assert_eq!(
            tcp_lines(&packets, &ends, Detail::Stable),
            EXCHANGE_WHEN_STABLE,
            "over {host}"
        );
        // Loopback shows each packet twice; a second copy would repeat one.
        let mut seen = HashSet::new();
        for packet in packets.iter().filter(|p| p.tcp().is_some()) {
            let tcp = packet.tcp().unwrap();
            let key = (packet.src, tcp.flags, tcp.seq, tcp.ack, tcp.payload_len);
            assert!(seen.insert(key), "seen twice: {packet:?}");
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let times: Vec<Duration> = packets.iter().map(|p| p.timestamp).collect();
        assert!(
            times.windows(2).all(|pair| pair[0] <= pair[1]),
            "in order: {times:?}"
        );
        assert!(
            times.iter().all(|&t| now - t < Duration::from_secs(60)),
            "kernel clock: {times:?}"
        );
        let full = tcp_lines(&packets, &ends, Detail::Full);
        assert!(full.iter().all(|line| line.contains(" win=")), "{full:?}");
        assert!(
            full.len() > EXCHANGE_WHEN_STABLE.len(),
            "pure ACKs shown in full: {full:?}"
        );
    }
    assert_eq!(capture.kernel_counts().unwrap().dropped, 0);
}

#[test]
fn each_command_s_packets_are_there_when_it_returns() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    let (ends, steps) = exchange(&mut capture, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let per_step: Vec<Vec<String>> = steps
        .iter()
        .map(|packets| tcp_lines(packets, &ends, Detail::Stable))
        .collect();
    let expected: [&[&str]; 8] = [
        &[],
        &EXCHANGE_WHEN_STABLE[0..3],
        &[],
        &EXCHANGE_WHEN_STABLE[3..4],
        &EXCHANGE_WHEN_STABLE[4..5],
        &[],
        &EXCHANGE_WHEN_STABLE[5..7],
        &EXCHANGE_WHEN_STABLE[7..9],
    ];
    assert_eq!(per_step, expected);
}

#[test]
fn the_same_exchange_traces_the_same_fifty_times() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    let mut first: Option<Vec<Vec<String>>> = None;
    for run in 0..50 {
        let (ends, steps) = exchange(&mut capture, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let lines: Vec<Vec<String>> = steps
            .iter()
            .map(|packets| tcp_lines(packets, &ends, Detail::Stable))
            .collect();
        match &first {
            None => first = Some(lines),
            Some(first) => assert_eq!(&lines, first, "run {run} differs"),
        }
    }
    assert_eq!(first.unwrap().concat(), EXCHANGE_WHEN_STABLE);
}

#[test]
fn other_ports_stay_in_the_kernel_until_added() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    sender.send_to(b"unseen", to).unwrap();
    assert!(udp_only(capture.drain().unwrap()).is_empty());
    capture.set_ports(&[to.port()]).unwrap();
    sender.send_to(b"seen", to).unwrap();
    let packets = udp_only(capture.drain().unwrap());
    let ends = |end: SocketAddr| (end == to).then_some("v");
    let lines: Vec<String> = packets
        .iter()
        .map(|p| describe(p, ends, Detail::Stable))
        .collect();
    assert_eq!(
        lines,
        [format!("{} > v  UDP len=4", sender.local_addr().unwrap())]
    );
}

fn udp_only(packets: Vec<Packet>) -> Vec<Packet> {
    packets
        .into_iter()
        .filter(|p| matches!(p.transport, Transport::Udp(_)))
        .collect()
}

#[test]
fn a_busy_loopback_is_dropped_by_the_kernel() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    let session = UdpSocket::bind("127.0.0.1:0").unwrap();
    capture
        .set_ports(&[session.local_addr().unwrap().port()])
        .unwrap();
    // Another program's transfer: 256 MiB over a connection not ours.
    const TOTAL: usize = 256 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0; 1 << 20];
        let mut total = 0;
        while total < TOTAL {
            match stream.read(&mut buffer).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        total
    });
    let mut source = TcpStream::connect(address).unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..TOTAL / chunk.len() {
        source.write_all(&chunk).unwrap();
    }
    drop(source);
    assert_eq!(sink.join().unwrap(), TOTAL);
    let counts = capture.kernel_counts().unwrap();
    let leaked: Vec<Packet> = capture
        .drain()
        .unwrap()
        .into_iter()
        .filter(|p| p.src.port() == address.port() || p.dst.port() == address.port())
        .collect();
    assert!(
        leaked.is_empty(),
        "{} packets of the transfer reached the session",
        leaked.len()
    );
    // ICMP from elsewhere may pass the filter; the transfer's thousands of
    // segments must not have.
    assert!(counts.kept < 100, "the filter kept {} frames", counts.kept);
}

/// 20,000 one-byte round trips on one connection, draining after every
/// `drain_every` of the four calls of each; returns the data segments seen
/// and the kernel's counts.
fn round_trips(capture: &mut Capture, drain_every: usize) -> (usize, KernelCounts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    capture.set_ports(&[address.port()]).unwrap();
    let mut client = TcpStream::connect(address).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut packets = Vec::new();
    let mut byte = [0u8; 1];
    for call in 0..4 * 20_000 {
        match call % 4 {
            0 => client.write_all(b"x").unwrap(),
            1 => server.read_exact(&mut byte).unwrap(),
            2 => server.write_all(b"y").unwrap(),
            _ => client.read_exact(&mut byte).unwrap(),
        }
        if call % drain_every == 0 {
            capture.drain_into(&mut packets).unwrap();
        }
    }
    for _ in 0..10 {
        if capture.drain_into(&mut packets).unwrap() == 0 {
            break;
        }
    }
    let data = packets
        .iter()
        .filter(|p| p.tcp().is_some_and(|t| t.payload_len == 1))
        .count();
    (data, capture.kernel_counts().unwrap())
}

#[test]
fn twenty_thousand_round_trips_lose_nothing_when_drained_after_each_call() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    let (data, counts) = round_trips(&mut capture, 1);
    assert_eq!(counts.dropped, 0);
    assert_eq!(data, 40_000);
}

#[test]
fn with_root_the_queue_holds_twenty_thousand_round_trips_undrained() {
    let Some(mut capture) = open_or_skip(&[], None) else {
        return;
    };
    if capture.socket.queue_limit() < 64 << 20 {
        eprintln!("skipped: the receive queue could not be raised past net.core.rmem_max (needs CAP_NET_ADMIN)");
        return;
    }
    let (data, counts) = round_trips(&mut capture, usize::MAX);
    assert_eq!(counts.dropped, 0);
    assert_eq!(data, 40_000);
}

#[test]
fn the_pcap_file_reads_back_and_agrees_with_wireshark() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("trace.pcap");
    let Some(mut capture) = open_or_skip(&[], Some(&path)) else {
        return;
    };
    let (ends, steps) = exchange(&mut capture, IpAddr::V6(Ipv6Addr::LOCALHOST));
    capture.finish().unwrap();
    let ours: Vec<Packet> = steps
        .concat()
        .into_iter()
        .filter(|p| ends.name(p.src).is_some() && ends.name(p.dst).is_some())
        .collect();

    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::ETHERNET);
    let mut read_back = Vec::new();
    while let Some(record) = reader.next_packet() {
        let record = record.unwrap();
        assert_eq!(record.data.len(), record.orig_len as usize, "kept whole");
        let packet = packet::parse(&record.data, record.timestamp).unwrap();
        if ends.name(packet.src).is_some() && ends.name(packet.dst).is_some() {
            read_back.push((packet.src, packet.tcp().unwrap().seq, packet.frame_len));
        }
    }
    let expected: Vec<_> = ours
        .iter()
        .map(|p| (p.src, p.tcp().unwrap().seq, p.frame_len))
        .collect();
    assert_eq!(read_back, expected);
    compare_with_tshark(&path, &ours, ends.server.port());
}

#[test]
fn a_connection_caught_mid_stream_is_numbered_as_wireshark_does() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("mid.pcap");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(server).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    client.write_all(b"before the trace").unwrap();
    let mut skipped = [0; 16];
    accepted.read_exact(&mut skipped).unwrap();
    let Some(mut capture) = open_or_skip(&[server.port()], Some(&path)) else {
        return;
    };
    let mut packets = Vec::new();
    client.write_all(b"abc").unwrap();
    capture.settle(&mut packets, SETTLE).unwrap();
    accepted.write_all(b"de").unwrap();
    capture.settle(&mut packets, SETTLE).unwrap();
    close(client);
    close(accepted);
    capture.settle(&mut packets, SETTLE).unwrap();
    capture.finish().unwrap();
    let first = packets.iter().find(|p| p.tcp().is_some()).unwrap();
    let ends = Ends {
        client: first.src,
        server,
    };
    let lines = tcp_lines(&packets, &ends, Detail::Stable);
    assert_eq!(
        lines[..2],
        [
            "cli > srv  PSH-ACK seq=1 ack=1 len=3",
            "srv > cli  PSH-ACK seq=1 ack=4 len=2"
        ]
    );
    compare_with_tshark(&path, &packets, server.port());
}

/// tshark's relative numbers and scaled windows for the file's segments of
/// `port`, against ours.
fn compare_with_tshark(path: &Path, ours: &[Packet], port: u16) {
    let fields = [
        "-T",
        "fields",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
        "-e",
        "tcp.window_size",
    ];
    let filter = format!("tcp.port == {port}");
    // A HOME of its own: tshark reads its profile there.
    let home = path.parent().unwrap();
    let Ok(output) = Command::new("tshark")
        .env("HOME", home)
        .arg("-r")
        .arg(path)
        .args(["-Y", &filter])
        .args(fields)
        .output()
    else {
        eprintln!("tshark not installed: its reading of the pcap file is not checked");
        return;
    };
    assert!(
        output.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let ours: Vec<String> = ours
        .iter()
        .filter_map(|p| p.tcp())
        .map(|t| {
            // tshark shows 0 where the ACK flag is clear; we show nothing.
            let ack = t.relative_ack.unwrap_or(0);
            format!(
                "{}\t{ack}\t{}\t{}",
                t.relative_seq, t.payload_len, t.scaled_window
            )
        })
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn without_cap_net_raw_the_error_names_both_ways() {
    // Capabilities belong to a thread: drop CAP_NET_RAW in one of our own.
    let outcome = std::thread::spawn(|| {
        if !drop_effective_capability(CAP_NET_RAW) {
            return None;
        }
        Some(Capture::open(&[], None).map(|_| ()))
    })
    .join()
    .unwrap();
    match outcome {
        None => eprintln!("skipped: cannot change this thread's capabilities"),
        Some(result) => {
            let error = result.unwrap_err();
            assert!(matches!(error, CaptureError::NotPermitted), "{error:?}");
            let message = error.to_string();
            assert!(
                message.contains("root or CAP_NET_RAW") && message.contains("--netns"),
                "{message}"
            );
        }
    }
}

const CAP_NET_RAW: u32 = 13;

/// Clears `capability` from the calling thread's effective set.
fn drop_effective_capability(capability: u32) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write the header and two data structs.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return false;
        }
        data[0].effective &= !(1 << capability);
        libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) == 0
    }
}

#[test]
fn captures_in_the_network_namespace_of_the_calling_thread() {
    // A namespace of our own: fixed ports are safe, and nothing else pings.
    std::thread::spawn(|| {
        // SAFETY: unshare affects only this thread, which ends with the test.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "skipped: cannot make a network namespace: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        bring_loopback_up();
        let Some(mut capture) = open_or_skip(&[7000], None) else {
            return;
        };
        let udp = UdpSocket::bind("127.0.0.1:7000").unwrap();
        udp.send_to(b"anyone?", "127.0.0.1:9").unwrap();
        let mut packets = Vec::new();
        capture.settle(&mut packets, SETTLE).unwrap();
        let names = |end: SocketAddr| (end.port() == 7000).then_some("u");
        let lines: Vec<String> = packets
            .iter()
            .map(|p| describe(p, names, Detail::Stable))
            .collect();
        assert_eq!(
            lines,
            [
                "u > 127.0.0.1:9  UDP len=7",
                "127.0.0.1 > u  ICMP port-unreachable (type 3, code 3)"
            ]
        );
    })
    .join()
    .unwrap();
}

/// `ip link set lo up`, for the thread's new network namespace.
fn bring_loopback_up() {
    // Any socket will do for the ioctls, even with lo still down.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let fd = socket.as_raw_fd();
    // SAFETY: ifreq is plain data; the ioctls read and write one.
    unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
            *slot = *byte as libc::c_char;
        }
        assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request), 0);
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &request), 0);
    }
}

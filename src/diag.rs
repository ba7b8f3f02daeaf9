//! The kernel's own list of TCP sockets on the session's ports, read the way
//! `ss` reads it (NETLINK_SOCK_DIAG, inet_diag), for `sockets --all`: it
//! shows the sockets no handle holds, such as the TIME_WAIT an active close
//! leaves, or a connection completed but not yet accepted. A row's inode
//! tells which handle holds it (compare [`socket_inode`] of the handle's
//! descriptor); 0 means no file does.
//!
//! The kernel filters by port itself, with the same bytecode `ss` sends for
//! `sport = :P or dport = :P`, so a busy machine's other sockets never
//! cross into the session.

use nix::sys::socket::{
    recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// One kernel TCP socket, as `ss -tan` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    /// The state as netstat spells it: `ESTABLISHED`, `TIME_WAIT`, `LISTEN`...
    pub state: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes not yet read; for a listener, connections not yet accepted.
    pub recv_q: u32,
    /// Bytes not yet acknowledged; for a listener, its backlog (as ss shows it).
    pub send_q: u32,
    /// The socket's inode, as `fstat` gives it for a descriptor; 0 when no
    /// file holds the socket (TIME_WAIT, not yet accepted).
    pub inode: u64,
}

/// TCP's states by number (include/net/tcp_states.h), spelled as netstat
/// spells them.
const TCP_STATES: [&str; 13] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

// From linux/netlink.h, linux/sock_diag.h and linux/inet_diag.h.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const NETLINK_HEADER_LEN: usize = 16;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_EQ: u8 = 11;
const INET_DIAG_BC_D_EQ: u8 = 12;
/// Every state (1 << state for each), as `ss -a` asks.
const ALL_STATES: u32 = 0xfff;
/// inet_diag_msg: family, state, timer, retrans, sockid (48), expires,
/// rqueue, wqueue, uid, inode.
const DIAG_MESSAGE_LEN: usize = 72;

/// The TCP sockets of this network namespace with a local or remote port
/// in `ports`, IPv4 then IPv6, in the kernel's order.
pub fn tcp_sockets(ports: &[u16]) -> io::Result<Vec<TcpRow>> {
    if ports.is_empty() {
        return Ok(Vec::new());
    }
    let netlink = open_netlink()?;
    let filter = port_filter(ports);
    let mut rows = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        let request = dump_request(family as u8, &filter)?;
        sendto(
            netlink.as_raw_fd(),
            &request,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )?;
        read_dump(&netlink, &mut rows)?;
    }
    Ok(rows)
}

/// The inode of the socket open at `fd`, to match against [`TcpRow::inode`].
pub fn socket_inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(nix::sys::stat::fstat(fd)?.st_ino)
}

fn open_netlink() -> io::Result<OwnedFd> {
    let netlink = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    // The kernel answers at once; the timeout only guards against a kernel
    // that never ends its dump.
    setsockopt(&netlink, sockopt::ReceiveTimeout, &TimeVal::new(2, 0))?;
    Ok(netlink)
}

/// Bytecode that accepts a socket whose local or remote port is one of
/// `ports`: `ss`'s `sport = :P or dport = :P or ...`. Each test jumps past
/// the next one's unconditional jump to the end when it fails; the last
/// test's failure overshoots the end, which rejects.
fn port_filter(ports: &[u16]) -> Vec<u8> {
    let tests: Vec<(u8, u16)> = ports
        .iter()
        .flat_map(|&port| [(INET_DIAG_BC_S_EQ, port), (INET_DIAG_BC_D_EQ, port)])
        .collect();
    const TEST_LEN: usize = 8;
    const JUMP_LEN: usize = 4;
    let total = tests.len() * (TEST_LEN + JUMP_LEN) - JUMP_LEN;
    let mut code = Vec::with_capacity(total);
    for (index, &(test, port)) in tests.iter().enumerate() {
        push_op(
            &mut code,
            test,
            TEST_LEN as u8,
            (TEST_LEN + JUMP_LEN) as u16,
        );
        push_op(&mut code, 0, 0, port);
        if index + 1 < tests.len() {
            let to_end = (total - code.len()) as u16;
            push_op(&mut code, INET_DIAG_BC_JMP, JUMP_LEN as u8, to_end);
        }
    }
    code
}

/// One inet_diag_bc_op: if the test holds, skip `yes` bytes, else `no`.
fn push_op(code: &mut Vec<u8>, test: u8, yes: u8, no: u16) {
    code.extend([test, yes]);
    code.extend(no.to_ne_bytes());
}

/// A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of `family` in every
/// state, filtered by `bytecode`.
fn dump_request(family: u8, bytecode: &[u8]) -> io::Result<Vec<u8>> {
    let attribute_len = 4 + bytecode.len();
    let total = NETLINK_HEADER_LEN + 56 + attribute_len;
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "too many ports for one query");
    let attribute_len = u16::try_from(attribute_len).map_err(|_| too_long())?;
    let mut request = Vec::with_capacity(total);
    request.extend((total as u32).to_ne_bytes());
    request.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend([0; 8]); // sequence number, port id
                            // inet_diag_req_v2: family, protocol, extensions, pad, states, sockid.
    request.extend([family, libc::IPPROTO_TCP as u8, 0, 0]);
    request.extend(ALL_STATES.to_ne_bytes());
    request.extend([0; 48]);
    request.extend(attribute_len.to_ne_bytes());
    request.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    request.extend(bytecode);
    Ok(request)
}

/// Reads the dump's messages until NLMSG_DONE, appending a row for each.
fn read_dump(netlink: &OwnedFd, rows: &mut Vec<TcpRow>) -> io::Result<()> {
    // Each read brings many rows; even a machine with a million sockets on
    // the session's ports would end long before this.
    const MOST_READS: usize = 100_000;
    let mut buffer = vec![0u8; 64 << 10];
    for _ in 0..MOST_READS {
        let len = recv(netlink.as_fd().as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        if read_messages(&buffer[..len], rows)? {
            return Ok(());
        }
    }
    Err(io::Error::other("the kernel's socket list did not end"))
}

/// Rows from one read; true when the dump has ended.
fn read_messages(mut bytes: &[u8], rows: &mut Vec<TcpRow>) -> io::Result<bool> {
    while bytes.len() >= NETLINK_HEADER_LEN {
        let len = u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
        if len < NETLINK_HEADER_LEN || len > bytes.len() {
            return Err(io::Error::other("a malformed netlink message"));
        }
        let body = &bytes[NETLINK_HEADER_LEN..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => return Err(netlink_error(body)),
            SOCK_DIAG_BY_FAMILY => rows.extend(row(body)),
            _ => {}
        }
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    Ok(false)
}

/// An NLMSG_ERROR's errno (negated in the message).
fn netlink_error(body: &[u8]) -> io::Error {
    match body.get(0..4) {
        Some(code) => io::Error::from_raw_os_error(-i32::from_ne_bytes(code.try_into().unwrap())),
        None => io::Error::other("a malformed netlink error"),
    }
}

/// An inet_diag_msg as a row.
fn row(message: &[u8]) -> Option<TcpRow> {
    if message.len() < DIAG_MESSAGE_LEN {
        return None;
    }
    let word = |at: usize| u32::from_ne_bytes(message[at..at + 4].try_into().unwrap());
    let port = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]);
    let family = i32::from(message[0]);
    Some(TcpRow {
        state: TCP_STATES
            .get(usize::from(message[1]))
            .copied()
            .unwrap_or("UNKNOWN"),
        local: SocketAddr::new(address(family, &message[8..24])?, port(4)),
        remote: SocketAddr::new(address(family, &message[24..40])?, port(6)),
        recv_q: word(56),
        send_q: word(60),
        inode: u64::from(word(68)),
    })
}

fn address(family: i32, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        libc::AF_INET => Some(Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..4]).ok()?).into()),
        libc::AF_INET6 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::process::Command;

    /// Runs inet_diag bytecode as the kernel does (net/ipv4/inet_diag.c).
    fn accepts(code: &[u8], local: u16, remote: u16) -> bool {
        let mut at = 0usize;
        for _ in 0..code.len() {
            if at >= code.len() {
                break;
            }
            let (test, yes) = (code[at], usize::from(code[at + 1]));
            let no = usize::from(u16::from_ne_bytes([code[at + 2], code[at + 3]]));
            let operand = || u16::from_ne_bytes([code[at + 6], code[at + 7]]);
            let holds = match test {
                INET_DIAG_BC_S_EQ => local == operand(),
                INET_DIAG_BC_D_EQ => remote == operand(),
                INET_DIAG_BC_JMP => false,
                other => panic!("op {other} not interpreted"),
            };
            at += if holds { yes } else { no };
        }
        at == code.len()
    }

    #[test]
    fn the_filter_keeps_sockets_with_a_session_port_at_either_end() {
        let code = port_filter(&[5000, 6000, 7000]);
        for port in [5000, 6000, 7000] {
            assert!(accepts(&code, port, 40000));
            assert!(accepts(&code, 40000, port));
        }
        assert!(!accepts(&code, 40000, 40001));
        let one = port_filter(&[5000]);
        assert!(accepts(&one, 5000, 1) && accepts(&one, 1, 5000) && !accepts(&one, 1, 2));
    }

    /// State, Recv-Q, Send-Q, local and peer address, as `ss -tan` prints them.
    type SsRow = (String, u32, u32, String, String);

    /// What `ss -tan` says about the sockets on `port`.
    fn ss_rows(port: u16) -> Option<BTreeSet<SsRow>> {
        let filter = format!("( sport = :{port} or dport = :{port} )");
        let output = Command::new("ss")
            .args(["-tanH", "state", "all", &filter])
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let rows = text
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let state = match fields[0] {
                    "ESTAB" => "ESTABLISHED".to_owned(),
                    other => other.replace("FIN-WAIT-", "FIN_WAIT").replace('-', "_"),
                };
                let queue = |at: usize| fields[at].parse().unwrap();
                (
                    state,
                    queue(1),
                    queue(2),
                    fields[3].to_owned(),
                    fields[4].to_owned(),
                )
            })
            .collect();
        Some(rows)
    }

    fn our_rows(rows: &[TcpRow]) -> BTreeSet<SsRow> {
        rows.iter()
            .map(|r| {
                (
                    r.state.to_owned(),
                    r.recv_q,
                    r.send_q,
                    as_ss(r.local),
                    as_ss(r.remote),
                )
            })
            .collect()
    }

    /// An address as ss prints it: port 0 (a listener's peer) is `*`.
    fn as_ss(address: SocketAddr) -> String {
        let text = address.to_string();
        match text.strip_suffix(":0") {
            Some(host) => format!("{host}:*"),
            None => text,
        }
    }

    /// The rows of one connection and its listener: the port may still
    /// have TIME_WAITs of an earlier process that had it.
    fn ours(rows: Vec<TcpRow>, client: SocketAddr, server: SocketAddr) -> Vec<TcpRow> {
        rows.into_iter()
            .filter(|r| {
                r.local == client
                    || r.remote == client
                    || (r.local == server && r.state == "LISTEN")
            })
            .collect()
    }

    fn ss_ours(port: u16, client: SocketAddr, server: SocketAddr) -> Option<BTreeSet<SsRow>> {
        let (client, server) = (as_ss(client), as_ss(server));
        let rows = ss_rows(port)?;
        let listener = |row: &SsRow| row.3 == server && row.0 == "LISTEN";
        Some(
            rows.into_iter()
                .filter(|r| r.3 == client || r.4 == client || listener(r))
                .collect(),
        )
    }

    #[test]
    fn a_time_wait_after_an_active_close_shows_as_ss_shows_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = TcpStream::connect(server).unwrap();
        let client_address = client.local_addr().unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        drop(client); // the active close
        let mut rest = Vec::new();
        accepted.read_to_end(&mut rest).unwrap();
        drop(accepted);
        let query = || {
            ours(
                tcp_sockets(&[server.port()]).unwrap(),
                client_address,
                server,
            )
        };
        let rows = wait_for(query, |rows| rows.iter().any(|r| r.state == "TIME_WAIT"));
        assert_eq!(rows.len(), 2, "{rows:?}");
        let time_wait = rows.iter().find(|r| r.state == "TIME_WAIT").unwrap();
        assert_eq!(
            (time_wait.local, time_wait.remote),
            (client_address, server)
        );
        assert_eq!(time_wait.inode, 0, "no file holds a TIME_WAIT");
        let listening = rows.iter().find(|r| r.state == "LISTEN").unwrap();
        assert_eq!(listening.inode, socket_inode(listener.as_fd()).unwrap());
        match ss_ours(server.port(), client_address, server) {
            Some(theirs) => assert_eq!(our_rows(&rows), theirs),
            None => eprintln!("ss not installed: its view is not compared"),
        }
    }

    #[test]
    fn a_connection_not_yet_accepted_has_no_inode() {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = TcpStream::connect(server).unwrap();
        let client_address = client.local_addr().unwrap();
        let query = || {
            ours(
                tcp_sockets(&[server.port()]).unwrap(),
                client_address,
                server,
            )
        };
        let rows = wait_for(query, |rows| rows.len() == 3);
        let inodes: BTreeSet<u64> = rows.iter().map(|r| r.inode).collect();
        let expected: BTreeSet<u64> = [
            0,
            socket_inode(listener.as_fd()).unwrap(),
            socket_inode(client.as_fd()).unwrap(),
        ]
        .into();
        assert_eq!(inodes, expected, "{rows:?}");
        let listening = rows.iter().find(|r| r.state == "LISTEN").unwrap();
        assert_eq!(listening.recv_q, 1, "one connection waits to be accepted");
        match ss_ours(server.port(), client_address, server) {
            Some(theirs) => assert_eq!(our_rows(&rows), theirs),
            None => eprintln!("ss not installed: its view is not compared"),
        }
    }

    #[test]
    fn the_kernel_takes_a_filter_for_many_ports() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ports: Vec<u16> = (1..2000).chain([port]).collect();
        let rows = tcp_sockets(&ports).unwrap();
        assert!(
            rows.iter()
                .any(|r| r.local.port() == port && r.state == "LISTEN"),
            "{rows:?}"
        );
    }

    #[test]
    fn no_ports_no_rows() {
        assert_eq!(tcp_sockets(&[]).unwrap(), []);
    }

    /// `query`'s rows once `ready` holds (the peer's side of a close runs
    /// in the kernel's own time), at most a second later.
    fn wait_for(query: impl Fn() -> Vec<TcpRow>, ready: impl Fn(&[TcpRow]) -> bool) -> Vec<TcpRow> {
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = query();
            if ready(&rows) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        rows
    }
}

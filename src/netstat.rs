//! What the kernel says about a socket, for the `sockets` table: its TCP
//! state from TCP_INFO and its queues from FIONREAD/SIOCOUTQ, read the way
//! `netstat` and `ss` read them; and, as [`Note`]s under the table, where
//! a row is not what `netstat` would show, and why.

use socket2::SockAddr;
use std::collections::HashMap;
use std::os::fd::{BorrowedFd, RawFd};

use crate::handle::{Handle, SocketIo};
use crate::kind::{Family, Kind, SockType};

/// One row of the `sockets` table, before addresses are rendered.
#[derive(Debug)]
pub struct SocketRow {
    pub name: String,
    pub kind: Kind,
    pub recv_q: u64,
    pub send_q: u64,
    pub local: Option<SockAddr>,
    pub foreign: Option<SockAddr>,
    pub state: &'static str,
    /// A protocol layered on the socket (`tls`), shown beside its own.
    pub layer: Option<&'static str>,
    /// Why netstat would show this row otherwise, or not at all.
    pub note: Option<Note>,
}

/// Where the table and netstat part ways, told in a note under the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A TCP socket in CLOSE: neither listening nor connected.
    NotListed,
    /// In CLOSE after a connection that waits in TIME_WAIT without it.
    TimeWaitApart,
    /// A datagram socket's Recv-Q: the size of the next datagram.
    NextDatagram,
    /// `sockets --all`: a TIME_WAIT no handle holds.
    TimeWait,
    /// `sockets --all`: completed by the kernel, not yet accepted.
    NotAccepted,
    /// `sockets --all`: closed by the script, still being ended.
    Closing,
    /// `sockets --all`: on a port of the session, held by no handle of it.
    Elsewhere,
}

impl Note {
    /// The note's sentence.
    pub fn text(self) -> &'static str {
        match self {
            Note::NotListed => {
                "netstat and ss do not list a TCP socket that neither listens nor is connected"
            }
            Note::TimeWaitApart => {
                "netstat and ss do not list this socket: its connection waits in TIME_WAIT \
                 apart from it (sockets --all shows it)"
            }
            Note::NextDatagram => {
                "Recv-Q is the size of the next datagram; netstat shows the kernel memory \
                 the queue takes"
            }
            Note::TimeWait => {
                "no handle holds it: the side that closed first keeps the connection in \
                 TIME_WAIT for 60 s (netstat shows it without a program)"
            }
            Note::NotAccepted => {
                "no handle holds it yet: the kernel completed the handshake, and accept \
                 will return it"
            }
            Note::Closing => {
                "no handle holds it: the script closed it, and the kernel is still ending \
                 the connection"
            }
            Note::Elsewhere => "no handle of this session holds it",
        }
    }
}

/// The receive and send queues of this network namespace's TCP sockets, as
/// netstat reads them from /proc/net/tcp and /proc/net/tcp6, by inode.
#[derive(Debug, Default)]
pub struct ProcTcp {
    queues: HashMap<u64, (u64, u64)>,
}

impl ProcTcp {
    /// Reads the tables (nothing when /proc is not there: the ioctls stand in).
    pub fn load() -> Self {
        let mut queues = HashMap::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            // sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ...
            for fields in text
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
            {
                let (Some(queue), Some(inode)) = (fields.get(4), fields.get(9)) else {
                    continue;
                };
                let Some((tx, rx)) = queue.split_once(':') else {
                    continue;
                };
                let parsed = (
                    u64::from_str_radix(rx, 16),
                    u64::from_str_radix(tx, 16),
                    inode.parse(),
                );
                if let (Ok(rx), Ok(tx), Ok(inode)) = parsed {
                    queues.insert(inode, (rx, tx));
                }
            }
        }
        ProcTcp { queues }
    }

    /// (Recv-Q, Send-Q) of the socket open at `fd`.
    fn queues(&self, fd: BorrowedFd) -> Option<(u64, u64)> {
        let inode = nix::sys::stat::fstat(fd).ok()?.st_ino;
        self.queues.get(&inode).copied()
    }
}

/// The names Linux gives TCP states, in tcpi_state order (include/net/tcp_states.h).
const TCP_STATES: [&str; 13] = [
    "?",
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

pub fn socket_row(handle: &Handle, socket: &SocketIo, proc_tcp: &ProcTcp) -> SocketRow {
    let fd = handle.fd();
    let kind = socket.kind;
    let tcp = kind.socktype == SockType::Stream && kind.family != Family::Unix;
    let info = if tcp { tcp_info(fd) } else { None };
    let (state, recv_q, send_q) = match info {
        // Netstat's own numbers, from /proc/net/tcp: for a listener Recv-Q
        // is its accept queue and Send-Q 0 (ss shows the backlog there;
        // `listen` shows it here); a FIN not yet read counts as one byte.
        Some(info) => {
            let (recv_q, send_q) = proc_tcp
                .queues(handle.as_fd())
                .unwrap_or_else(|| (inq(fd), outq(fd)));
            (tcp_state_name(info.tcpi_state), recv_q, send_q)
        }
        // Datagram sockets: FIONREAD is the size of the next datagram
        // (netstat shows the kernel memory the queue takes instead).
        None => (other_state(handle, kind), inq(fd), outq(fd)),
    };
    let inet = kind.family != Family::Unix;
    let note = match state {
        "CLOSE" if tcp => Some(Note::NotListed),
        _ if inet && !kind.is_stream() && recv_q > 0 => Some(Note::NextDatagram),
        _ => None,
    };
    SocketRow {
        name: handle.name.clone(),
        kind,
        recv_q,
        send_q,
        local: handle.local_addr(),
        foreign: handle.peer_addr(),
        state,
        note,
        layer: handle.io.layer(),
    }
}

/// Whether a TCP handle's row is about to change by itself over loopback:
/// an acknowledgement is on its way (a handshake or a FIN not yet
/// acknowledged, or sent bytes the peer holds but has not acknowledged:
/// its delayed ACK comes within a few tens of milliseconds). `sockets`
/// reads again a moment later, so Send-Q and the state are where they
/// stand and not a snapshot taken half way through a loopback round trip.
pub fn in_flight(handle: &Handle) -> bool {
    let Some(info) = tcp_info(handle.fd()) else {
        return false;
    };
    let loopback = handle
        .peer_addr()
        .and_then(|peer| peer.as_socket())
        .is_some_and(|peer| peer.ip().to_canonical().is_loopback());
    let waiting = matches!(
        tcp_state_name(info.tcpi_state),
        "SYN_SENT" | "SYN_RECV" | "FIN_WAIT1" | "CLOSING" | "LAST_ACK"
    );
    loopback && (waiting || info.tcpi_unacked > 0)
}

fn tcp_state_name(state: u8) -> &'static str {
    TCP_STATES.get(usize::from(state)).copied().unwrap_or("?")
}

/// States netstat shows for sockets that are not TCP.
fn other_state(handle: &Handle, kind: Kind) -> &'static str {
    if handle.is_listening() {
        "LISTEN"
    } else if handle.peer_addr().is_some() {
        if kind.family == Family::Unix {
            "CONNECTED"
        } else {
            "ESTABLISHED"
        }
    } else {
        ""
    }
}

/// The kernel's TCP_INFO for a TCP socket (its state, queues...).
pub fn tcp_info(fd: RawFd) -> Option<libc::tcp_info> {
    // SAFETY: tcp_info is plain data; the kernel fills at most `len` bytes.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info)
    }
}

/// Bytes waiting to be read (FIONREAD, which is SIOCINQ for sockets).
pub fn inq(fd: RawFd) -> u64 {
    queue_ioctl(fd, libc::FIONREAD)
}

/// Bytes sent but not yet acknowledged (SIOCOUTQ, which is TIOCOUTQ).
fn outq(fd: RawFd) -> u64 {
    queue_ioctl(fd, libc::TIOCOUTQ)
}

fn queue_ioctl(fd: RawFd, request: libc::Ioctl) -> u64 {
    let mut count: libc::c_int = 0;
    // SAFETY: both requests write one int.
    let rc = unsafe { libc::ioctl(fd, request, &mut count) };
    if rc == 0 {
        count.max(0) as u64
    } else {
        0
    }
}

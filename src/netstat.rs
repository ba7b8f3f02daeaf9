//! What the kernel says about a socket, for the `sockets` table: its TCP
//! state from TCP_INFO and its queues from FIONREAD/SIOCOUTQ, read the way
//! `netstat` and `ss` read them.

use socket2::SockAddr;
use std::os::fd::RawFd;

use crate::handle::Handle;
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

pub fn socket_row(handle: &Handle) -> SocketRow {
    let fd = handle.fd();
    let kind = handle.kind;
    let tcp = kind.socktype == SockType::Stream && kind.family != Family::Unix;
    let info = if tcp { tcp_info(fd) } else { None };
    let (state, recv_q, send_q) = match info {
        // As netstat shows a listener: Recv-Q is its accept queue (connections
        // the kernel completed, waiting for accept) and Send-Q is 0. (ss shows
        // the backlog there instead; `listen` already shows the backlog.)
        Some(info) if info.tcpi_state == 10 => ("LISTEN", info.tcpi_unacked.into(), 0),
        Some(info) => (tcp_state_name(info.tcpi_state), inq(fd), outq(fd)),
        None => (other_state(handle), inq(fd), outq(fd)),
    };
    SocketRow {
        name: handle.name.clone(),
        kind,
        recv_q,
        send_q,
        local: handle.local_addr(),
        foreign: handle.peer_addr(),
        state,
    }
}

fn tcp_state_name(state: u8) -> &'static str {
    TCP_STATES.get(usize::from(state)).copied().unwrap_or("?")
}

/// States netstat shows for sockets that are not TCP.
fn other_state(handle: &Handle) -> &'static str {
    if handle.listening {
        "LISTEN"
    } else if handle.peer_addr().is_some() {
        if handle.kind.family == Family::Unix {
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

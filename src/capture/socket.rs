//! The packet socket behind the trace: `AF_PACKET` bound to the loopback
//! interface of the calling thread's network namespace, non-blocking, with
//! the kernel filter attached before it can receive anything, kernel
//! timestamps, and a receive queue deep enough for long scripts.

use libc::sock_filter;
use nix::errno::Errno;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, LinkAddr, MsgFlags};
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::CaptureError;

/// How much the kernel may hold for us between two drains. Loopback
/// packets are charged at their whole buffer's size (a few KiB each, even
/// when the filter keeps only the headers), so 64 MiB holds tens of
/// thousands. Only root (`CAP_NET_ADMIN`) can go past `net.core.rmem_max`;
/// others get that cap.
const RECEIVE_BUFFER: usize = 64 << 20;

pub(crate) struct LoopbackSocket {
    fd: OwnedFd,
    /// Room for the timestamp control message, reused by every receive.
    control: Vec<u8>,
}

/// A frame now in the caller's buffer.
pub(crate) struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// When the kernel saw the packet, since the Unix epoch.
    pub timestamp: Duration,
}

/// The kernel's counts since they were last read (reading resets them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Statistics {
    /// Frames the filter kept (queued or dropped).
    pub kept: u64,
    /// Frames kept but dropped because the receive queue was full.
    pub dropped: u64,
}

impl LoopbackSocket {
    pub fn open(filter: &[sock_filter]) -> Result<LoopbackSocket, CaptureError> {
        let socket = LoopbackSocket {
            fd: create()?,
            control: nix::cmsg_space!(libc::timespec),
        };
        // Protocol 0 receives nothing: the filter is in place before the
        // bind below starts the flow, so no unfiltered frame slips in.
        socket.attach(filter)?;
        setsockopt(&socket.fd, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| CaptureError::from_call("SO_TIMESTAMPNS", e.into()))?;
        socket.deepen_receive_queue();
        socket.bind_to_loopback()?;
        Ok(socket)
    }

    /// Replaces the kernel filter (atomically: no frame sees none).
    pub fn attach(&self, filter: &[sock_filter]) -> Result<(), CaptureError> {
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: `program` points at `filter`, alive for the call; the
        // kernel copies it.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&program as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        check(rc, "SO_ATTACH_FILTER")
    }

    /// Reads the next queued frame into `buffer`; `None` when none is queued.
    pub fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<Received>, CaptureError> {
        // Signals are the only thing that interrupts a non-blocking read.
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let mut iov = [IoSliceMut::new(buffer)];
            let result = recvmsg::<LinkAddr>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut self.control),
                MsgFlags::MSG_TRUNC,
            );
            let message = match result {
                Ok(message) => message,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(CaptureError::from_call("recvmsg", errno.into())),
            };
            let timestamp = message
                .cmsgs()
                .ok()
                .and_then(|mut messages| {
                    messages.find_map(|m| match m {
                        ControlMessageOwned::ScmTimestampns(t) => {
                            Some(Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
                        }
                        _ => None,
                    })
                })
                .unwrap_or_else(now);
            let len = message.bytes.min(buffer.len());
            return Ok(Some(Received { len, timestamp }));
        }
        Ok(None)
    }

    /// The kernel's counts since the last call (PACKET_STATISTICS).
    pub fn statistics(&self) -> Result<Statistics, CaptureError> {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes of a plain struct.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        check(rc, "PACKET_STATISTICS")?;
        Ok(Statistics {
            kept: u64::from(stats.tp_packets),
            dropped: u64::from(stats.tp_drops),
        })
    }

    /// The receive queue's limit in bytes, as the kernel set it.
    #[cfg(test)]
    pub fn queue_limit(&self) -> usize {
        nix::sys::socket::getsockopt(&self.fd, sockopt::RcvBuf).unwrap_or(0)
    }

    /// Raises the queue limit, past `rmem_max` when allowed to; a smaller
    /// queue still works (drops are reported), so failure is not an error.
    fn deepen_receive_queue(&self) {
        if setsockopt(&self.fd, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
            let _ = setsockopt(&self.fd, sockopt::RcvBuf, &RECEIVE_BUFFER);
        }
    }

    fn bind_to_loopback(&self) -> Result<(), CaptureError> {
        let index = nix::net::if_::if_nametoindex("lo").map_err(|_| CaptureError::NoLoopback)?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        address.sll_ifindex = index as i32;
        // SAFETY: `address` is a complete sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(rc, "bind")
    }
}

impl AsFd for LoopbackSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for LoopbackSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn create() -> Result<OwnedFd, CaptureError> {
    let kind = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, kind, 0) };
    if fd < 0 {
        return Err(CaptureError::from_call(
            "socket(AF_PACKET)",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(rc: libc::c_int, call: &'static str) -> Result<(), CaptureError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(CaptureError::from_call(call, io::Error::last_os_error()))
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

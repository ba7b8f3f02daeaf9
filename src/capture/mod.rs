//! The packets behind each call, for `trace on [--pcap FILE]` (SPEC §16):
//! a capture on the loopback interface of the current network namespace
//! that sees only the session's packets, parses them into [`Packet`]s with
//! Wireshark's relative sequence numbers, describes each as one line, and
//! writes them to a pcap file on request.
//!
//! The pieces, each in its own file: [`bpf`] the kernel filter, `socket`
//! the packet socket, [`packet`] parsing, [`flows`] connection state,
//! [`describe`] the line format, `pcap` the file. [`Capture`] ties them
//! together; the command layer owns one while tracing is on.

pub mod bpf;
pub mod describe;
mod error;
pub mod flows;
pub mod packet;
mod pcap;
mod socket;
#[cfg(test)]
mod tests;

pub use bpf::{TooManyPorts, MAX_PORTS};
pub use describe::{describe, write_description, Detail};
pub use error::CaptureError;
pub use flows::Flows;
pub use packet::{
    Echo, IcmpMessage, IpVersion, Packet, Quoted, TcpFlags, TcpSegment, Transport, UdpDatagram,
};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use pcap::PcapFile;
use socket::LoopbackSocket;

/// Bytes kept of each frame when no pcap file wants all of it: enough for
/// Ethernet, IP and TCP headers with options, and the headers an ICMP
/// error quotes.
const HEADERS_SNAP_LEN: u32 = 256;

/// The most frames one drain reads, so that a flood cannot hold the
/// session; what is left stays queued for the next drain.
pub const DRAIN_LIMIT: usize = 100_000;

/// A running capture of the session's packets.
pub struct Capture {
    socket: LoopbackSocket,
    ports: Vec<u16>,
    snap_len: u32,
    flows: Flows,
    pcap: Option<PcapFile>,
    /// One frame's room, reused by every receive.
    frame: Vec<u8>,
    counts: KernelCounts,
}

/// What the kernel counted for this capture since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Frames the filter kept.
    pub kept: u64,
    /// Frames kept but lost because the receive queue was full: the trace
    /// misses them, and the caller should say so.
    pub dropped: u64,
}

impl Capture {
    /// Starts capturing the packets of `ports` (TCP or UDP, either end)
    /// and all ICMP, writing every one to `pcap` when given. Needs root or
    /// CAP_NET_RAW, which any user has in a network namespace of its own
    /// ([`CaptureError::NotPermitted`]).
    pub fn open(ports: &[u16], pcap: Option<&Path>) -> Result<Capture, CaptureError> {
        let snap_len = if pcap.is_some() {
            pcap::SNAP_LEN
        } else {
            HEADERS_SNAP_LEN
        };
        let socket = LoopbackSocket::open(&bpf::session_filter(ports, snap_len)?)?;
        let pcap = pcap.map(PcapFile::create).transpose()?;
        Ok(Capture {
            socket,
            ports: sorted(ports),
            snap_len,
            flows: Flows::new(),
            pcap,
            frame: vec![0; snap_len as usize],
            counts: KernelCounts::default(),
        })
    }

    /// Captures the packets of `ports` from now on (the session bound or
    /// connected another socket): the kernel filter is replaced at once.
    pub fn set_ports(&mut self, ports: &[u16]) -> Result<(), CaptureError> {
        let ports = sorted(ports);
        if ports != self.ports {
            self.socket
                .attach(&bpf::session_filter(&ports, self.snap_len)?)?;
            self.ports = ports;
        }
        Ok(())
    }

    /// The ports captured, sorted, each once.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Everything the kernel has queued now, in order, without waiting.
    pub fn drain(&mut self) -> Result<Vec<Packet>, CaptureError> {
        let mut packets = Vec::new();
        self.drain_into(&mut packets)?;
        Ok(packets)
    }

    /// As [`Capture::drain`], appending to `packets` (which keeps what was
    /// read before an error); returns how many were appended. Reads at most
    /// [`DRAIN_LIMIT`] frames.
    pub fn drain_into(&mut self, packets: &mut Vec<Packet>) -> Result<usize, CaptureError> {
        let before = packets.len();
        let mut written = false;
        for _ in 0..DRAIN_LIMIT {
            let Some(received) = self.socket.receive(&mut self.frame)? else {
                break;
            };
            let bytes = &self.frame[..received.len];
            let parsed = packet::parse(bytes, received.timestamp);
            if let Some(mut packet) = parsed {
                self.flows.observe(&mut packet);
                packets.push(packet);
            }
            if let Some(pcap) = &mut self.pcap {
                let frame_len = parsed.map_or(received.len as u32, |p| p.frame_len);
                pcap.write(received.timestamp, bytes, frame_len)?;
                written = true;
            }
        }
        if let (true, Some(pcap)) = (written, &mut self.pcap) {
            pcap.flush()?;
        }
        Ok(packets.len() - before)
    }

    /// What the command just run caused: drains, and while an exchange it
    /// started is still under way (a SYN unanswered, a SYN-ACK or FIN not
    /// yet acknowledged) waits for more, at most `max_wait` in all. Returns
    /// whether everything settled. Call it once after every command: it also
    /// marks where the next command begins.
    pub fn settle(
        &mut self,
        packets: &mut Vec<Packet>,
        max_wait: Duration,
    ) -> Result<bool, CaptureError> {
        let deadline = Instant::now() + max_wait;
        self.drain_into(packets)?;
        let settled = loop {
            if !self.flows.exchange_in_progress() {
                break true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            self.wait_readable(left)?;
            self.drain_into(packets)?;
        };
        self.flows.begin_command();
        Ok(settled)
    }

    /// The kernel's counts since the capture opened; a rise in `dropped`
    /// means packets were lost.
    pub fn kernel_counts(&mut self) -> Result<KernelCounts, CaptureError> {
        let new = self.socket.statistics()?;
        self.counts.kept += new.kept;
        self.counts.dropped += new.dropped;
        Ok(self.counts)
    }

    /// The connections seen so far.
    pub fn flows(&self) -> &Flows {
        &self.flows
    }

    /// Ends the capture, reporting a pcap file that could not be completed.
    pub fn finish(mut self) -> Result<(), CaptureError> {
        match &mut self.pcap {
            Some(pcap) => pcap.flush(),
            None => Ok(()),
        }
    }

    /// Waits until a frame is queued or `timeout` passes.
    fn wait_readable(&self, timeout: Duration) -> Result<(), CaptureError> {
        // poll counts whole milliseconds: round up so a short wait still waits.
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(errno) => Err(CaptureError::from_call("poll(2)", errno.into())),
        }
    }
}

/// The capture's descriptor, for the caller's own poll loop: readable when
/// a packet is queued.
impl AsFd for Capture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Capture {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// `addr` with an IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]:80`, what a
/// `tcp6` socket reports when it talks IPv4) written as IPv4, which is how
/// its packets carry it.
pub fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn sorted(ports: &[u16]) -> Vec<u16> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    ports
}

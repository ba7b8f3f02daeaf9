//! The packets behind each call, for `trace on [--pcap FILE]` (SPEC §16).
//!
//! The pieces, each in its own file: [`bpf`] the kernel filter, [`packet`]
//! parsing, [`flows`] connection state.

pub mod bpf;
pub mod flows;
pub mod packet;

pub use bpf::{TooManyPorts, MAX_PORTS};
pub use flows::Flows;
pub use packet::{
    Echo, IcmpMessage, IpVersion, Packet, Quoted, TcpFlags, TcpSegment, Transport, UdpDatagram,
};

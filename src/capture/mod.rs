//! The packets behind each call, for `trace on [--pcap FILE]` (SPEC §16).
//!
//! The pieces, each in its own file: [`bpf`] the kernel filter, [`packet`]
//! parsing, [`flows`] connection state, [`describe`] the line format.

pub mod bpf;
pub mod describe;
pub mod flows;
pub mod packet;

pub use bpf::{TooManyPorts, MAX_PORTS};
pub use describe::{describe, write_description, Detail};
pub use flows::Flows;
pub use packet::{
    Echo, IcmpMessage, IpVersion, Packet, Quoted, TcpFlags, TcpSegment, Transport, UdpDatagram,
};

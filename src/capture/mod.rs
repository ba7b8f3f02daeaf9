//! The packets behind each call, for `trace on [--pcap FILE]` (SPEC §16).
//!
//! The pieces, each in its own file: [`packet`] parsing.

pub mod packet;

pub use packet::{
    Echo, IcmpMessage, IpVersion, Packet, Quoted, TcpFlags, TcpSegment, Transport, UdpDatagram,
};

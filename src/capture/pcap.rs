//! `trace on --pcap FILE`: every captured frame written to FILE in the
//! classic pcap format (not pcapng), link type Ethernet, microsecond
//! timestamps, which every version of Wireshark and tcpdump reads.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::error::CaptureError;

/// The most bytes of one frame the file holds: loopback frames are at most
/// 64 KiB plus headers; this is tcpdump's default.
pub(crate) const SNAP_LEN: u32 = 262_144;

pub(crate) struct PcapFile {
    writer: PcapWriter<SharedFile>,
    /// The same file as the writer's, to flush it: `PcapWriter` gives no
    /// access to its writer short of ending it.
    file: SharedFile,
    path: PathBuf,
}

/// A buffered file that two owners can write and flush.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

impl PcapFile {
    pub fn create(path: &Path) -> Result<PcapFile, CaptureError> {
        let fail = |source| CaptureError::Pcap {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(|e| fail(PcapError::IoError(e)))?;
        let header = PcapHeader {
            snaplen: SNAP_LEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::new(file))));
        let writer = PcapWriter::with_header(file.clone(), header).map_err(fail)?;
        Ok(PcapFile {
            writer,
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends a frame: `captured` is what the capture kept of it,
    /// `frame_len` its length on the wire.
    pub fn write(
        &mut self,
        timestamp: Duration,
        captured: &[u8],
        frame_len: u32,
    ) -> Result<(), CaptureError> {
        let captured = &captured[..captured.len().min(SNAP_LEN as usize)];
        let orig_len = frame_len.max(captured.len() as u32);
        let packet = PcapPacket::new(timestamp, orig_len, captured);
        self.writer
            .write_packet(&packet)
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Pushes what is buffered to the file, so it can be read while the
    /// session goes on.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        let flushed = self.file.flush();
        flushed.map_err(|e| self.failed(PcapError::IoError(e)))
    }

    fn failed(&self, source: PcapError) -> CaptureError {
        CaptureError::Pcap {
            path: self.path.clone(),
            source,
        }
    }
}

//! Why a capture could not start or go on, worded for the transcript: the
//! permission error names both ways to get the right to capture.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::bpf::{TooManyPorts, MAX_PORTS};

#[derive(Debug)]
pub enum CaptureError {
    /// The kernel refused the packet socket (EPERM, EACCES).
    NotPermitted,
    /// This kernel has no packet sockets (EAFNOSUPPORT).
    Unsupported,
    /// The network namespace has no interface named `lo`.
    NoLoopback,
    TooManyPorts(TooManyPorts),
    /// A system call on the packet socket failed.
    Socket {
        call: &'static str,
        source: io::Error,
    },
    /// The `--pcap` file could not be created or written.
    Pcap {
        path: PathBuf,
        source: pcap_file::PcapError,
    },
}

impl CaptureError {
    /// The error of a failed system call, with the two refusals that mean
    /// something to the user given their own variants.
    pub(crate) fn from_call(call: &'static str, source: io::Error) -> CaptureError {
        match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => CaptureError::NotPermitted,
            Some(libc::EAFNOSUPPORT) => CaptureError::Unsupported,
            _ => CaptureError::Socket { call, source },
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotPermitted => write!(
                f,
                "capturing packets needs root or CAP_NET_RAW, or run with --netns"
            ),
            CaptureError::Unsupported => {
                write!(
                    f,
                    "capturing packets needs AF_PACKET sockets, which this kernel lacks"
                )
            }
            CaptureError::NoLoopback => {
                write!(f, "this network namespace has no loopback interface (lo)")
            }
            CaptureError::TooManyPorts(too_many) => write!(
                f,
                "cannot trace {} ports at once (at most {MAX_PORTS})",
                too_many.asked
            ),
            CaptureError::Socket { call, source } => write!(f, "packet capture: {call}: {source}"),
            CaptureError::Pcap { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Socket { source, .. } => Some(source),
            CaptureError::Pcap { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<TooManyPorts> for CaptureError {
    fn from(too_many: TooManyPorts) -> CaptureError {
        CaptureError::TooManyPorts(too_many)
    }
}

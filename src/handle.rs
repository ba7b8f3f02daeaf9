//! A handle: one named kernel socket and what sockrepl remembers about it.

use socket2::{SockAddr, Socket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::kind::Kind;

pub struct Handle {
    pub name: String,
    pub socket: Socket,
    pub kind: Kind,
    /// `settimeout`: `None` follows the session default; `Some(None)` blocks forever.
    pub timeout: Option<Option<Duration>>,
    /// `setblocking off` makes calls that would block fail with EAGAIN.
    pub blocking: bool,
    /// A Unix socket file this handle's `bind` created, removed on close.
    pub bound_path: Option<BoundFile>,
    /// Whether the script chose the local port itself (so it is shown as is).
    pub port_chosen: bool,
    /// `shutdown read|both` ran: an end of stream now is ours, not the peer's.
    pub reading_shut: bool,
    /// How many connections `accept` has taken, for the default names `srv-1`, `srv-2`...
    pub accepted: u32,
    /// Creation order, so `sockets` lists handles as they were made.
    pub serial: u64,
}

impl Handle {
    pub fn new(name: String, socket: Socket, kind: Kind, serial: u64) -> Self {
        Handle {
            name,
            socket,
            kind,
            timeout: None,
            blocking: true,
            bound_path: None,
            port_chosen: false,
            reading_shut: false,
            accepted: 0,
            serial,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Whether the socket listens, as the kernel says (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        self.socket.is_listener().unwrap_or(false)
    }

    pub fn local_addr(&self) -> Option<SockAddr> {
        self.socket.local_addr().ok()
    }

    pub fn peer_addr(&self) -> Option<SockAddr> {
        self.socket.peer_addr().ok()
    }

    /// Closes the socket and removes the Unix socket file it bound, if that
    /// file is still the one it bound: another program may have replaced it.
    pub fn close(self) -> Option<PathBuf> {
        drop(self.socket);
        let bound = self.bound_path?;
        if !bound.is_still_there() {
            return None;
        }
        std::fs::remove_file(&bound.path).ok().map(|_| bound.path)
    }
}

/// The socket file a `bind` created, and which file it was (device and
/// inode), so that closing never removes somebody else's socket.
#[derive(Debug, Clone)]
pub struct BoundFile {
    pub path: PathBuf,
    identity: (u64, u64),
}

impl BoundFile {
    /// Remembers the file just created at `path`.
    pub fn new(path: PathBuf) -> Option<Self> {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        Some(BoundFile {
            path,
            identity: (meta.dev(), meta.ino()),
        })
    }

    fn is_still_there(&self) -> bool {
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity)
    }
}

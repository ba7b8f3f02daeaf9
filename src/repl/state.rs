//! What the shell's helpers (completion, highlighting, the notification
//! watcher) know about the session, shared with the main thread.
//!
//! The `Session` itself stays on the main thread; after each command the
//! shell publishes a snapshot of its handles here. While a command runs the
//! watcher is paused, so it never polls a descriptor the command closes.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};

use super::notify::{observe, Seen};
use crate::address::format_sockaddr;
use crate::kind::Kind;
use crate::session::Session;

/// One live handle, as the helpers see it.
#[derive(Debug, Clone)]
pub struct HandleInfo {
    pub name: String,
    pub serial: u64,
    pub fd: RawFd,
    /// The socket kind; `None` for a handle that is not a socket.
    pub kind: Option<Kind>,
    pub listening: bool,
    /// The user shut down reading: POLLRDHUP no longer means the peer closed.
    pub reading_shut: bool,
    pub connected: bool,
    /// The local address as `${H.addr}` gives it, when bound.
    pub local: Option<String>,
    /// The local port, when it is an Internet socket with a port.
    pub port: Option<u16>,
}

#[derive(Debug)]
pub struct Shared {
    pub handles: Vec<HandleInfo>,
    /// A command is running: the watcher must not touch any descriptor.
    pub paused: bool,
    /// `set notify on|off`.
    pub notify: bool,
    /// The shell is leaving: the watcher ends.
    pub stop: bool,
    /// What each handle held when the running command started.
    pub before_command: Vec<(u64, Seen)>,
    /// Handles whose queue or bytes went down during the last command (the
    /// user took them), as they are now: the watcher lowers its memory to
    /// these, so what arrives later is announced even if it is less.
    pub taken: Vec<(u64, Seen)>,
    /// The variables that have a value, for `${` completion.
    pub variables: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SharedState(Arc<Mutex<Shared>>);

impl SharedState {
    pub fn new() -> Self {
        SharedState(Arc::new(Mutex::new(Shared {
            handles: Vec::new(),
            paused: true,
            notify: true,
            stop: false,
            before_command: Vec::new(),
            taken: Vec::new(),
            variables: Vec::new(),
        })))
    }

    /// The shared state; a helper that panicked while holding it left
    /// nothing half-written that matters, so a poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes the session's handles and lets the watcher run again.
    pub fn publish(&self, session: &Session) {
        let handles = snapshot(session);
        let mut shared = self.lock();
        let before = std::mem::take(&mut shared.before_command);
        // Added to, not replaced: typed-ahead commands may run several
        // times before the watcher looks again.
        let taken: Vec<(u64, Seen)> = handles
            .iter()
            .filter_map(|handle| {
                let (_, was) = before.iter().find(|(serial, _)| *serial == handle.serial)?;
                let now = observe(handle);
                (now.bytes < was.bytes || now.queue < was.queue).then_some((handle.serial, now))
            })
            .collect();
        shared.taken.extend(taken);
        shared.handles = handles;
        shared.variables = session.vars.names();
        shared.paused = false;
    }

    /// Stops the watcher touching descriptors until the next `publish`,
    /// remembering what each handle holds as the command starts.
    pub fn pause(&self) {
        let mut shared = self.lock();
        shared.paused = true;
        shared.before_command = shared
            .handles
            .iter()
            .map(|h| (h.serial, observe(h)))
            .collect();
    }

    pub fn handles(&self) -> Vec<HandleInfo> {
        self.lock().handles.clone()
    }

    /// The names of the variables that have a value.
    pub fn variables(&self) -> Vec<String> {
        self.lock().variables.clone()
    }
}

impl Default for SharedState {
    fn default() -> Self {
        Self::new()
    }
}

/// The session's handles, in the order they were made.
pub fn snapshot(session: &Session) -> Vec<HandleInfo> {
    session
        .handles()
        .into_iter()
        .map(|handle| {
            let local = handle.local_addr();
            let port = local
                .as_ref()
                .and_then(|a| a.as_socket())
                .map(|a| a.port())
                .filter(|&p| p != 0);
            let local = local
                .filter(|a| !is_unbound(a))
                .map(|a| format_sockaddr(&a));
            HandleInfo {
                name: handle.name.clone(),
                serial: handle.serial,
                fd: handle.fd(),
                kind: handle.kind(),
                listening: handle.is_listening(),
                reading_shut: handle.socket().is_ok_and(|s| s.reading_shut),
                connected: handle.peer_addr().is_some(),
                local,
                port,
            }
        })
        .collect()
}

/// An address that says nothing: port 0 on an Internet socket, or an
/// unnamed Unix socket.
fn is_unbound(addr: &socket2::SockAddr) -> bool {
    match addr.as_socket() {
        Some(inet) => inet.port() == 0,
        None => addr.as_pathname().is_none() && addr.as_abstract_namespace().is_none(),
    }
}

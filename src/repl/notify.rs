//! Live notifications: while the prompt waits, a watcher thread looks at
//! the session's sockets and reports what happened on them above the line
//! being edited (`[srv] connection waiting`, `[conn] 12 bytes ready`,
//! `[conn] peer closed`, `[cli] error: ECONNRESET ...`).
//!
//! It never reads data: poll(2) with no wait, FIONREAD for the byte count,
//! TCP_INFO for the accept queue and the TCP state. Each event is reported
//! once: the watcher remembers what it last saw of each handle and speaks
//! only when that grows or changes. It runs only while the shell is at its
//! prompt (see `state`), so it never races a command.

use std::collections::HashMap;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::errno::Errno;
use rustyline::ExternalPrinter;

use super::state::{HandleInfo, SharedState};
use super::style::{Palette, NOTICE};
use crate::errors::describe_errno;
use crate::kind::{Family, SockType};
use crate::netstat::{inq, tcp_info};

/// How often the watcher looks: fast enough to feel live, cheap enough to ignore.
const INTERVAL: Duration = Duration::from_millis(100);

/// What the watcher saw of one handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Connections waiting in a listening socket's accept queue.
    pub queue: u32,
    /// Bytes waiting to be read (the next datagram's size on a datagram socket).
    pub bytes: u64,
    /// The peer shut its side down: the next read sees end of stream.
    pub closed: bool,
    /// An error is pending on the socket.
    pub error: bool,
    /// The kernel's TCP state (tcpi_state), 0 when not TCP.
    pub tcp_state: u8,
}

/// Starts the watcher; it ends when the shared state says `stop`.
pub fn spawn<P>(shared: SharedState, mut printer: P, palette: Palette) -> JoinHandle<()>
where
    P: ExternalPrinter + Send + 'static,
{
    thread::spawn(move || {
        let mut memory: HashMap<u64, Seen> = HashMap::new();
        loop {
            thread::sleep(INTERVAL);
            let messages = {
                let mut shared = shared.lock();
                if shared.stop {
                    return;
                }
                if shared.paused {
                    continue;
                }
                for (serial, now) in std::mem::take(&mut shared.taken) {
                    if let Some(seen) = memory.get_mut(&serial) {
                        seen.bytes = seen.bytes.min(now.bytes);
                        seen.queue = seen.queue.min(now.queue);
                    }
                }
                let messages = look(&shared.handles, &mut memory);
                if shared.notify {
                    messages
                } else {
                    Vec::new()
                }
            };
            for (handle, text) in messages {
                let line = format!("{} {text}", palette.paint(NOTICE, &format!("[{handle}]")));
                if printer.print(line).is_err() {
                    return;
                }
            }
        }
    })
}

/// Looks at every handle once; returns the new events as (handle, text).
pub fn look(handles: &[HandleInfo], memory: &mut HashMap<u64, Seen>) -> Vec<(String, String)> {
    memory.retain(|serial, _| handles.iter().any(|h| h.serial == *serial));
    let mut messages = Vec::new();
    for handle in handles {
        let now = observe(handle);
        let before = memory.insert(handle.serial, now).unwrap_or_default();
        for text in events(handle, before, now) {
            messages.push((handle.name.clone(), text));
        }
    }
    messages
}

/// What changed between two looks, worded for the user.
pub fn events(handle: &HandleInfo, before: Seen, now: Seen) -> Vec<String> {
    let mut texts = Vec::new();
    if now.queue > before.queue {
        texts.push(match now.queue {
            1 => "connection waiting (accept it)".to_string(),
            n => format!("{n} connections waiting"),
        });
    }
    if now.bytes > before.bytes {
        texts.push(if is_stream(handle) {
            match now.bytes {
                1 => "1 byte ready".to_string(),
                n => format!("{n} bytes ready"),
            }
        } else {
            format!("datagram ready ({} bytes)", now.bytes)
        });
    }
    if now.closed && !before.closed {
        texts.push("peer closed".to_string());
    }
    if now.error && !before.error {
        texts.push(format!(
            "error: {}",
            pending_error(handle, before.tcp_state)
        ));
    }
    texts
}

/// The pending error, without reading it (SO_ERROR would clear it and the
/// user's next call would not see it): a TCP reset is named by the state
/// the socket was in, as the kernel's tcp_reset() does.
fn pending_error(handle: &HandleInfo, last_state: u8) -> String {
    const SYN_SENT: u8 = 2;
    const CLOSE_WAIT: u8 = 8;
    if !is_tcp(handle) || last_state == 0 {
        return format!("pending (getsockopt {} SO_ERROR shows it)", handle.name);
    }
    let errno = match last_state {
        SYN_SENT => Errno::ECONNREFUSED,
        CLOSE_WAIT => Errno::EPIPE,
        _ => Errno::ECONNRESET,
    };
    describe_errno(errno)
}

/// A byte stream: a stream socket (or, later, a program's output).
fn is_stream(handle: &HandleInfo) -> bool {
    handle
        .kind
        .is_none_or(|kind| kind.socktype == SockType::Stream)
}

fn is_tcp(handle: &HandleInfo) -> bool {
    handle
        .kind
        .is_some_and(|kind| kind.socktype == SockType::Stream && kind.family != Family::Unix)
}

/// One look at a socket, without reading from it.
pub fn observe(handle: &HandleInfo) -> Seen {
    let mut poll = libc::pollfd {
        fd: handle.fd,
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    let revents = if ready > 0 { poll.revents } else { 0 };
    let info = if is_tcp(handle) {
        tcp_info(handle.fd)
    } else {
        None
    };
    let mut seen = Seen {
        error: revents & libc::POLLERR != 0,
        tcp_state: info.map_or(0, |i| i.tcpi_state),
        ..Seen::default()
    };
    if handle.listening {
        seen.queue = match info {
            Some(info) => info.tcpi_unacked,
            None => u32::from(revents & libc::POLLIN != 0),
        };
        return seen;
    }
    if revents & libc::POLLIN != 0 {
        seen.bytes = inq(handle.fd);
    }
    let stream = is_stream(handle);
    seen.closed =
        stream && handle.connected && !handle.reading_shut && revents & libc::POLLRDHUP != 0;
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Session;
    use crate::transcript::Transcript;
    use std::io::Write;

    #[test]
    fn one_byte_is_one_byte_not_one_bytes() {
        let handle = HandleInfo {
            name: "b".into(),
            serial: 1,
            fd: -1,
            kind: crate::kind::Kind::from_short("tcp"),
            listening: false,
            reading_shut: false,
            connected: true,
            local: None,
            port: None,
        };
        let now = Seen {
            bytes: 1,
            ..Seen::default()
        };
        assert_eq!(events(&handle, Seen::default(), now), ["1 byte ready"]);
    }

    fn session_with_listener() -> (Session, u16) {
        let mut session = Session::new(Transcript::memory(), false);
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(8).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        // The socket listens: the handle knows it from the kernel.
        session
            .insert_socket("srv", socket, crate::kind::Kind::from_short("tcp").unwrap())
            .unwrap();
        (session, port)
    }

    #[test]
    fn reports_a_waiting_connection_once() {
        let (session, port) = session_with_listener();
        let mut memory = HashMap::new();
        assert!(look(&super::super::state::snapshot(&session), &mut memory).is_empty());
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let handles = super::super::state::snapshot(&session);
        let first = look(&handles, &mut memory);
        assert_eq!(
            first,
            [(
                "srv".to_string(),
                "connection waiting (accept it)".to_string()
            )]
        );
        assert!(look(&handles, &mut memory).is_empty(), "reported twice");
    }

    #[test]
    fn reports_bytes_then_peer_close() {
        let (mut session, port) = session_with_listener();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (conn, _) = session
            .handle("srv")
            .unwrap()
            .socket()
            .unwrap()
            .accept()
            .unwrap();
        session
            .insert_socket("conn", conn, crate::kind::Kind::from_short("tcp").unwrap())
            .unwrap();
        let handles = super::super::state::snapshot(&session);
        let mut memory = HashMap::new();
        look(&handles, &mut memory);
        client.write_all(b"hello world!").unwrap();
        drop(client);
        std::thread::sleep(Duration::from_millis(50));
        let events: Vec<String> = look(&handles, &mut memory)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(events, ["12 bytes ready", "peer closed"]);
        assert!(look(&handles, &mut memory).is_empty(), "reported twice");
    }
}

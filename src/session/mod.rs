//! Step three of a line's path: the session that commands run against.
//!
//! Commands look handles up by name here, wait on them through it (so the
//! transcript is flushed before every wait), and show addresses through it
//! (so `--stable` placeholders, in [`placeholders`], are applied in one
//! place). Run-time `${...}` expansion lives in [`expand`].

pub mod expand;
pub mod history;
pub mod placeholders;
mod tls;
pub mod variables;

use rustc_hash::FxHashMap;
use socket2::{SockAddr, Socket};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::format_sockaddr;
use crate::data::one_line;
use crate::errors::Failure;
use crate::handle::{Handle, ProgramIo};
use crate::kind::{Kind, SockType};
use crate::outcome::Endpoint;
use crate::program::{Program, DEFAULT_GRACE};
use crate::transcript::Transcript;
use crate::wait::CommandDeadline;
use history::History;
use placeholders::{Placeholders, Seen};
use variables::{LineEnding, Variables};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One ARG of a `source` line: its bytes and how the transcript shows it.
#[derive(Debug, Clone)]
pub struct SourceArg {
    pub bytes: Vec<u8>,
    pub shown: String,
    pub captured: bool,
}

/// How long `retry` pauses when a socket keeps saying "ready" but its call
/// keeps saying "would block".
const RETRY_PAUSE: Duration = Duration::from_millis(1);

pub struct Session {
    handles: FxHashMap<String, Handle>,
    next_serial: u64,
    /// `timeout`/`--timeout`: the default for blocking commands.
    pub default_timeout: Option<Duration>,
    /// `--stable`: kernel-chosen values shown as placeholders.
    pub stable: bool,
    /// At the shell's prompt, where `help` also lists the shell's own commands.
    pub interactive: bool,
    /// `--allow-exec`: scripts may start programs.
    pub allow_exec: bool,
    /// The directory of the script running now: programs named with a `/`
    /// are found from here, and run here (SPEC §13).
    pub script_dir: PathBuf,
    /// How many handles are programs, so that reaping between commands
    /// costs nothing in a session without any.
    programs: usize,
    placeholders: Placeholders,
    tmp_dir: Option<PathBuf>,
    /// `let`, `--as`, `--set`...: the script's variables.
    pub vars: Variables,
    /// What `sendline` ends a line with.
    pub line_ending: LineEnding,
    /// The ARGs of each `source FILE ARG...` running, innermost last.
    pub source_args: Vec<Vec<SourceArg>>,
    /// The sockets closed so far, whose connections the kernel may still hold.
    pub history: History,
    /// `trace on`: the capture of the session's packets (boxed: the
    /// interpreter only asks whether it is there).
    pub trace: Option<Box<crate::trace::Tracer>>,
    /// The session's own TLS certificate (`${tls.cert}`), once made.
    tls_cert: Option<crate::tls::SessionCert>,
    pub out: Transcript,
}

impl Session {
    pub fn new(out: Transcript, stable: bool) -> Self {
        Session {
            handles: FxHashMap::default(),
            next_serial: 0,
            default_timeout: Some(DEFAULT_TIMEOUT),
            stable,
            interactive: false,
            allow_exec: false,
            script_dir: PathBuf::from("."),
            programs: 0,
            placeholders: Placeholders::default(),
            tmp_dir: None,
            vars: Variables::default(),
            line_ending: LineEnding::default(),
            source_args: Vec::new(),
            history: History::default(),
            trace: None,
            tls_cert: None,
            out,
        }
    }

    /// The handle named `name`. Inline, as nearly every command asks for
    /// one and finds it: the failure is built out of line.
    #[inline]
    pub fn handle(&self, name: &str) -> Result<&Handle, Failure> {
        match self.handles.get(name) {
            Some(handle) => Ok(handle),
            None => Err(self.no_such_handle(name)),
        }
    }

    /// "no handle named con (did you mean conn?)".
    #[cold]
    #[inline(never)]
    fn no_such_handle(&self, name: &str) -> Failure {
        let suggestion =
            crate::suggest::did_you_mean(name, self.handles.keys().map(String::as_str))
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
        Failure::UnknownHandle(format!("no handle named {name}{suggestion}"))
    }

    pub fn handle_mut(&mut self, name: &str) -> Result<&mut Handle, Failure> {
        if !self.handles.contains_key(name) {
            return Err(self.no_such_handle(name));
        }
        Ok(self.handles.get_mut(name).expect("checked just above"))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.handles.contains_key(name)
    }

    /// Fails when `name` is taken, before anything is made for it.
    pub fn check_free(&self, name: &str) -> Result<(), Failure> {
        if self.contains(name) {
            return Err(Failure::usage(format!(
                "a handle named {name} already exists (close it first)"
            )));
        }
        Ok(())
    }

    /// Adds a socket under a new name.
    pub fn insert_socket(
        &mut self,
        name: &str,
        socket: Socket,
        kind: Kind,
    ) -> Result<&mut Handle, Failure> {
        self.check_free(name)?;
        socket.set_nonblocking(true)?;
        self.next_serial += 1;
        let io = Box::new(crate::handle::SocketIo::new(socket, kind));
        let handle = Handle::new(name.to_string(), io, self.next_serial);
        Ok(self.handles.entry(name.to_string()).or_insert(handle))
    }

    /// Adds a started program under a new name (checked free before it started).
    pub fn insert_program(&mut self, name: &str, program: Program) -> &mut Handle {
        self.next_serial += 1;
        self.programs += 1;
        let io = Box::new(ProgramIo::new(program));
        let handle = Handle::new(name.to_string(), io, self.next_serial);
        self.handles.entry(name.to_string()).or_insert(handle)
    }

    pub fn remove(&mut self, name: &str) -> Result<Handle, Failure> {
        let handle = self
            .handles
            .remove(name)
            .ok_or_else(|| self.no_such_handle(name))?;
        self.history.note_closed(&handle);
        if handle.io.as_program().is_some() {
            self.programs -= 1;
        }
        Ok(handle)
    }

    /// Tells the trace, when it is on, that a command is about to reach
    /// `target`: packets to a port no handle holds are captured from now on.
    pub fn reaching(&mut self, target: &SockAddr) {
        if let (Some(trace), Some(inet)) = (&mut self.trace, target.as_socket()) {
            trace.reaching(inet.port());
        }
    }

    /// Reaps every program that has exited, so none stays a zombie
    /// between commands; never blocks.
    pub fn reap_programs(&mut self) {
        if self.programs == 0 {
            return;
        }
        for handle in self.handles.values_mut() {
            if let Some(program) = handle.io.as_program_mut() {
                program.status_now();
            }
        }
    }

    /// The live handles in the order they were made.
    pub fn handles(&self) -> Vec<&Handle> {
        let mut handles: Vec<&Handle> = self.handles.values().collect();
        handles.sort_by_key(|h| h.serial);
        handles
    }

    /// Closes every handle, removing the Unix socket files they bound.
    /// Programs are ended first, all together: SIGTERM to every group,
    /// one shared grace period, SIGKILL to what still runs, all reaped.
    pub fn close_all(&mut self) {
        self.end_programs(DEFAULT_GRACE);
        self.programs = 0;
        for (_, handle) in self.handles.drain() {
            handle.close();
        }
        if let Some(dir) = self.tmp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Ends every program handle's process group (sharing one `grace`)
    /// and reaps them; the handles stay, closed quickly later.
    pub fn end_programs(&mut self, grace: Duration) {
        if self.programs == 0 {
            return;
        }
        let mut running: Vec<&mut Program> = self
            .handles
            .values_mut()
            .filter_map(|handle| handle.io.as_program_mut())
            .map(ProgramIo::program_mut)
            .collect();
        crate::program::terminate_all(&mut running, grace);
    }

    /// When a blocking command on this handle must give up: its timeout,
    /// counted from the command's first wait (see [`CommandDeadline`]).
    pub fn deadline(&self, handle: &Handle) -> CommandDeadline {
        CommandDeadline::new(handle.timeout.resolve(self.default_timeout))
    }

    /// Runs a call the way a blocking socket would: on EAGAIN, wait for
    /// `events` and try again until the deadline; in non-blocking mode,
    /// EAGAIN is the answer.
    pub fn retry<T>(
        &self,
        handle: &Handle,
        events: i16,
        deadline: &CommandDeadline,
        what: &str,
        mut call: impl FnMut(&Handle) -> io::Result<T>,
    ) -> Result<T, Failure> {
        let mut polled = false;
        loop {
            match call(handle) {
                Ok(value) => return Ok(value),
                Err(e) => self.before_retry(handle, e, events, deadline, what, &mut polled)?,
            }
        }
    }

    /// What [`Session::retry`] does after a call failed with `error`: fails,
    /// or waits (then the call is tried again). Out of line, as the call
    /// usually succeeds at once.
    #[cold]
    #[inline(never)]
    fn before_retry(
        &self,
        handle: &Handle,
        error: io::Error,
        events: i16,
        deadline: &CommandDeadline,
        what: &str,
        polled: &mut bool,
    ) -> Result<(), Failure> {
        match error.kind() {
            io::ErrorKind::Interrupted => return Ok(()),
            io::ErrorKind::WouldBlock if handle.blocking() => {}
            _ => return Err(error.into()),
        }
        let deadline = deadline.start();
        if deadline.expired() {
            return Err(deadline.timeout(what));
        }
        if *polled && handle.io.passes_through() {
            // Ready by poll(2) yet still EAGAIN (a unix-dgram
            // sender whose receiver is full): wait a little
            // rather than spin. (Under TLS a wake-up may bring
            // part of a record only: that is no spin.)
            let pause = deadline.remaining().unwrap_or(RETRY_PAUSE).min(RETRY_PAUSE);
            crate::wait::sleep(pause)?;
        }
        self.out.flush();
        let _label = crate::wait::waiting_for(|| wait_label(handle, events));
        handle.io.wait_ready(events, deadline, what)?;
        *polled = true;
        Ok(())
    }

    /// Remembers a port or autobound name the kernel chose for `handle`, so
    /// that `--stable` can show it as `<handle.port>`.
    pub fn note_kernel_choice(&mut self, name: &str) {
        let Some(handle) = self.handles.get(name) else {
            return;
        };
        let Ok(socket) = handle.socket() else {
            return;
        };
        // A connection's peer, which the kernel forgets once it has ended.
        if socket.kind.is_stream() {
            if let Ok(peer) = socket.peer_addr() {
                self.history.note_peer(handle.serial, &peer);
            }
        }
        // A raw socket's "port" is its protocol number, not a kernel choice.
        if socket.port_chosen || socket.kind.socktype == SockType::Raw {
            return;
        }
        if let Ok(local) = socket.local_addr() {
            let kind = socket.kind;
            let peer = socket.peer_addr().ok();
            self.placeholders
                .note_local(name, kind, &local, peer.as_ref());
        }
    }

    /// Gives a peer's port a placeholder when no handle of this session
    /// chose it (the peer is another program, whose kernel picked it), so
    /// `--stable` hides it too: `<conn.peer.port>`.
    pub fn note_peer_port(&mut self, name: &str) {
        let Some(handle) = self.handles.get(name) else {
            return;
        };
        let Ok(socket) = handle.socket() else {
            return;
        };
        if let Ok(peer) = socket.peer_addr() {
            let kind = socket.kind;
            let local = socket.local_addr().ok();
            if !self.holds(kind, &peer) {
                self.placeholders
                    .note_peer(name, kind, &peer, local.as_ref());
            }
            if kind.is_stream() {
                self.history.note_peer(handle.serial, &peer);
            }
        }
    }

    /// Gives the port of the last datagram's sender a placeholder when no
    /// handle of this session holds it: `<u.from.port>`.
    pub fn note_datagram_sender(&mut self, name: &str) {
        let Some(Ok(socket)) = self.handles.get(name).map(Handle::socket) else {
            return;
        };
        if let Some(from) = socket.last_from() {
            let kind = socket.kind;
            if !self.holds(kind, &from) {
                self.placeholders.note_sender(name, kind, &from);
            }
        }
    }

    /// Whether a socket of this session is bound to `addr` in `kind`'s
    /// port space: then it is no peer outside the session, and its port,
    /// chosen by the script or already named after its handle, needs no
    /// `<H.from.port>` of its own.
    fn holds(&self, kind: Kind, addr: &SockAddr) -> bool {
        let Some(inet) = addr.as_socket() else {
            return false;
        };
        let same = |local: SocketAddr| {
            local.port() == inet.port()
                && (local.ip().to_canonical() == inet.ip().to_canonical()
                    || local.ip().is_unspecified())
        };
        self.handles.values().any(|handle| {
            handle.socket().is_ok_and(|socket| {
                socket.kind.port_space() == kind.port_space()
                    && socket
                        .local_addr()
                        .ok()
                        .and_then(|local| local.as_socket())
                        .is_some_and(same)
            })
        })
    }

    /// An address as the transcript shows it, with no connection to say
    /// whose port it is (see [`Session::show_addr_seen`]).
    pub fn show_addr(&self, kind: Kind, addr: &SockAddr) -> String {
        self.show_addr_seen(kind, addr, Seen::default())
    }

    /// An address as the transcript shows it, as seen on a connection:
    /// `seen` tells apart two handles the kernel gave the same port.
    pub fn show_addr_seen(&self, kind: Kind, addr: &SockAddr, seen: Seen) -> String {
        if let (SockType::Raw, Some(inet)) = (kind.socktype, addr.as_socket()) {
            // A raw socket has no ports: the kernel reports its protocol there.
            return match inet {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            };
        }
        // A Unix path may hold any byte but NUL: a peer's `\n` must not
        // forge a transcript line.
        let written = || one_line(&format_sockaddr(addr)).into_owned();
        if !self.stable {
            return written();
        }
        match self.placeholders.show_addr(kind, addr, seen) {
            Some(shown) => shown,
            None => self.hide_tmp(&written()),
        }
    }

    /// An endpoint as the transcript shows it.
    pub fn show(&self, endpoint: &Endpoint) -> String {
        let seen = match endpoint.seen_on.as_deref() {
            Some((local, peer)) => Seen {
                local: Some(local),
                peer: peer.as_ref(),
            },
            None => Seen::default(),
        };
        self.show_addr_seen(endpoint.kind, &endpoint.addr, seen)
    }

    /// A port as the transcript shows it (of the connection `seen`).
    pub fn show_port(&self, kind: Kind, port: u16, seen: Seen) -> String {
        match self.placeholders.port(kind, port, seen) {
            Some(placeholder) if self.stable => placeholder.to_string(),
            _ => port.to_string(),
        }
    }

    pub fn show_fd(&self, handle: &Handle) -> String {
        if self.stable {
            format!("<{}.fd>", handle.name)
        } else {
            handle.fd().to_string()
        }
    }

    /// Text as the transcript shows it: under `--stable`, the private
    /// directory of `${tmp}` (which holds the process id) becomes `<tmp>`.
    pub fn hide_tmp(&self, text: &str) -> String {
        match &self.tmp_dir {
            Some(dir) if self.stable => text.replace(&*dir.to_string_lossy(), "<tmp>"),
            _ => text.to_string(),
        }
    }

    /// A file path as the transcript shows it (`${tmp}` as `<tmp>` under `--stable`).
    pub fn show_path(&self, path: &std::path::Path) -> String {
        self.hide_tmp(&one_line(&path.display().to_string()))
    }

    /// The private directory `${tmp}` names, made on first use.
    pub fn tmp_dir(&mut self) -> Result<PathBuf, Failure> {
        if let Some(dir) = &self.tmp_dir {
            return Ok(dir.clone());
        }
        // A sandbox made its ${tmp} before Landlock, the one place it may write.
        if let Some(dir) = crate::sandbox::tmp_dir() {
            self.tmp_dir = Some(dir.clone());
            return Ok(dir);
        }
        use std::os::unix::fs::DirBuilderExt;
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        // A new directory only this user can enter: one that already
        // exists (someone else's) is never used.
        loop {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("sockrepl-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    self.tmp_dir = Some(dir.clone());
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => {
                    return Err(Failure::usage(crate::errors::file_error(
                        "create", &dir, &e,
                    )))
                }
            }
        }
    }
}

/// What a wait on `handle` for `events` is for, as the shell says it
/// during a long wait: "a connection on srv", "data on conn".
pub fn wait_label(handle: &Handle, events: i16) -> String {
    if events & libc::POLLOUT != 0 {
        format!("room to send on {}", handle.name)
    } else if handle.is_listening() {
        format!("a connection on {}", handle.name)
    } else {
        format!("data on {}", handle.name)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn try_bound(kind: Kind, port: u16) -> Option<Socket> {
        let socket = Socket::new(kind.domain(), kind.sock_type(), None).expect("a new socket");
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        socket.bind(&addr.into()).ok().map(|()| socket)
    }

    /// A UDP and a TCP socket bound to the same port number (other tests
    /// may hold that number in TCP: try a few).
    fn same_port_pair(udp: Kind, tcp: Kind) -> (Socket, Socket, u16) {
        for _ in 0..50 {
            let u = try_bound(udp, 0).expect("udp bind");
            let port = u.local_addr().unwrap().as_socket().unwrap().port();
            if let Some(t) = try_bound(tcp, port) {
                return (u, t, port);
            }
        }
        panic!("no port number free for both UDP and TCP in 50 tries");
    }

    #[test]
    fn tcp_and_udp_ports_of_the_same_number_keep_their_own_placeholders() {
        let (tcp, udp) = (
            Kind::from_short("tcp").unwrap(),
            Kind::from_short("udp").unwrap(),
        );
        let mut session = Session::new(Transcript::memory(), true);
        // The kernel may hand the same number out in both spaces; force it.
        let (u, t, port) = same_port_pair(udp, tcp);
        session.insert_socket("u", u, udp).unwrap();
        session.insert_socket("t", t, tcp).unwrap();
        session.note_kernel_choice("u");
        session.note_kernel_choice("t");
        let addr = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        assert_eq!(session.show_addr(udp, &addr), "127.0.0.1:<u.port>");
        assert_eq!(session.show_addr(tcp, &addr), "127.0.0.1:<t.port>");
    }
}

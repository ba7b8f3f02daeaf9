//! `connect` and `connect_ex`: start a connection (TCP's three-way
//! handshake) or fix a datagram socket's peer.

use nix::errno::Errno;
use socket2::SockAddr;

use std::time::Duration;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::address::Address;
use crate::duration::{format_duration, parse_duration};
use crate::errors::Failure;
use crate::lexer::{Piece, Var, Word};
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::wait::{wait_for, waiting_for, Deadline};

pub const SPECS: &[Spec] = &[CONNECT, CONNECT_EX];

pub const CONNECT: Spec = Spec {
    name: "connect",
    synopsis: "connect NAME ADDR [--retry DUR]",
    summary: "Connect to ADDR; fails with the errno (ECONNREFUSED when nothing listens there). \
              Waits at most the timeout for the handshake. With --retry, a refused connection \
              (or a Unix path not there yet) is tried again until DUR has passed: for a server \
              that is still starting.",
    python: "s.connect(('127.0.0.1', 65432))",
    example: "connect cli ${srv.addr}",
    args: &[Slot::Handle(Fits::NotListening), Slot::Addr],
    repeats: false,
    flags: &[Flag::with("--retry", Slot::Value)],
    scope: Scope::Language,
    parse: |args| Connect::parse(args, false).map(Command::from),
};

pub const CONNECT_EX: Spec = Spec {
    name: "connect_ex",
    synopsis: "connect_ex NAME ADDR",
    summary:
        "Connect, but never fail: show 0 or the errno name, as Python's connect_ex returns it.",
    python: "err = s.connect_ex(('127.0.0.1', 65432))",
    example: "connect_ex cli 127.0.0.1:1",
    args: &[Slot::Handle(Fits::NotListening), Slot::Addr],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Connect::parse(args, true).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Connect {
    name: String,
    addr: Arg<Address>,
    never_fail: bool,
    /// `--retry DUR`: how long a refused connection is tried again.
    retry: Option<Arg<Duration>>,
}

impl Connect {
    pub fn parse(args: &mut Args, never_fail: bool) -> Result<Self, SyntaxError> {
        let retry = match never_fail {
            false => args.option_arg("--retry", parse_duration)?,
            true => None,
        };
        Ok(Connect {
            name: args.handle()?,
            addr: args.arg("ADDR", Address::parse)?,
            never_fail,
            retry,
        })
    }

}

impl Run for Connect {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let addr = session.resolve(&self.addr)?.into_owned();
        let handle = session.handle(&self.name)?;
        let (kind, deadline) = (handle.socket()?.kind, session.deadline(handle).start());
        if let Address::UnixPath(path) = &addr {
            crate::sandbox::check(path, crate::sandbox::Use::Reach)?;
        }
        let target = addr.resolve(kind, deadline)?;
        session.reaching(&target);
        let shown = session.show_addr(kind, &target);
        let result = match &self.retry {
            Some(retry) => {
                let retry = *session.resolve(retry)?;
                self.connect_retrying(session, &target, &shown, retry)
            }
            None => self.connect(session, &target, &shown),
        };
        if result.is_ok() || matches!(result, Err(Failure::Sys { .. })) {
            session.note_kernel_choice(&self.name);
        }
        if result.is_ok() && self.addr_was_captured(session) {
            // A server's port read from its output is the kernel's choice
            // for another program: `<NAME.peer.port>` under --stable.
            session.note_peer_port(&self.name);
        }
        let socket = session.handle(&self.name)?.socket()?;
        match (result, self.never_fail) {
            (Ok(()), false) => {
                let (local, peer) = (socket.local_addr()?, socket.peer_addr().unwrap_or(target));
                let on = |addr: &SockAddr| Endpoint::on(addr.clone(), kind, local.clone(), Some(peer.clone()));
                Ok(Outcome::Connected {
                    local: on(&local),
                    peer: on(&peer),
                })
            }
            (Ok(()), true) => Ok(Outcome::ConnectResult(None)),
            (Err(Failure::Sys { errno, .. }), true) => Ok(Outcome::ConnectResult(Some(errno))),
            // Python's connect_ex answers a timeout with EAGAIN, never an exception.
            (Err(Failure::Timeout { .. }), true) => Ok(Outcome::ConnectResult(Some(Errno::EAGAIN))),
            (Err(failure), _) => Err(failure.with_hint(|errno| connect_hint(errno, &shown))),
        }
    }

}

/// The first pause between two tries of `--retry`, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

impl Connect {
    /// Tries again while the connection is refused (nothing listens yet),
    /// until `retry` has passed; then the last failure, saying so.
    fn connect_retrying(
        &self,
        session: &Session,
        target: &SockAddr,
        shown: &str,
        retry: Duration,
    ) -> Result<(), Failure> {
        let until = Deadline::after(Some(retry));
        let mut pause = FIRST_PAUSE;
        loop {
            match self.connect(session, target, shown) {
                Err(Failure::Sys { errno, hint }) if not_listening_yet(errno) => {
                    let left = until.remaining().unwrap_or_default();
                    if left.is_zero() {
                        let failure = Failure::Sys { errno, hint }
                            .with_hint(|errno| connect_hint(errno, shown));
                        return Err(failure.with_progress(format!(
                            "gave up after retrying for {}",
                            format_duration(retry)
                        )));
                    }
                    session.out.flush();
                    crate::wait::sleep(pause.min(left))?;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                other => return other,
            }
        }
    }

    /// Whether the address came (in part) from a value captured from the
    /// network, such as the port a spawned server printed.
    fn addr_was_captured(&self, session: &Session) -> bool {
        let Arg::Later(Word::Template(pieces), _) = &self.addr else {
            return false;
        };
        pieces.iter().any(|piece| match piece {
            Piece::Var(Var::Variable(name)) => {
                session.vars.get(name).is_some_and(|value| value.captured)
            }
            _ => false,
        })
    }

    fn connect(&self, session: &Session, target: &SockAddr, shown: &str) -> Result<(), Failure> {
        let handle = session.handle(&self.name)?;
        let socket = handle.socket()?;
        match socket.connect(target) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) && handle.blocking() => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && handle.blocking() => {
                // A Unix listener's queue is full: wait for room, then try again.
                let deadline = session.deadline(handle);
                return session.retry(
                    handle,
                    libc::POLLOUT,
                    &deadline,
                    "room in the listener's queue",
                    |_| socket.connect(target),
                );
            }
            Err(e) => return Err(e.into()),
        }
        session.out.flush();
        let what = format!("no answer from {shown}");
        let _label = waiting_for(|| format!("{} to finish its handshake with {shown}", self.name));
        let deadline = session.deadline(handle).start();
        wait_for(handle.as_fd(), libc::POLLOUT, deadline, &what)?;
        if let Some(error) = socket.take_error()? {
            // As after a blocking connect: the socket may connect again.
            forget_failed_connect(socket);
            return Err(error.into());
        }
        finish_connect(socket, target)
    }
}

/// Calls connect() once more after the handshake, as a blocking connect
/// would have returned: until then Linux still counts the socket as
/// connecting and would let the next `connect` "succeed" again, where
/// Python's blocking socket fails with EISCONN.
fn finish_connect(socket: &crate::handle::SocketIo, target: &SockAddr) -> Result<(), Failure> {
    match socket.connect(target) {
        Err(e) if e.raw_os_error() != Some(libc::EISCONN) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Makes a socket whose connect failed ready for another, as a blocking
/// connect leaves it: Linux keeps a non-blocking TCP socket "connecting"
/// after the refusal was read from SO_ERROR, and would answer the next
/// connect with ECONNABORTED. Connecting to AF_UNSPEC disconnects it.
fn forget_failed_connect(socket: &socket2::Socket) {
    use std::os::fd::AsRawFd;
    // SAFETY: sockaddr is plain data; an all-zero one is AF_UNSPEC.
    let unspecified: libc::sockaddr = unsafe { std::mem::zeroed() };
    let length = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: connect(2) reads `length` bytes of a valid sockaddr.
    unsafe { libc::connect(socket.as_raw_fd(), &unspecified, length) };
}

/// A refusal that a server still starting gives: nothing listens on the
/// port yet, or its Unix socket file is not there yet.
fn not_listening_yet(errno: Errno) -> bool {
    matches!(errno, Errno::ECONNREFUSED | Errno::ENOENT)
}

fn connect_hint(errno: Errno, addr: &str) -> Option<String> {
    Some(match errno {
        Errno::ECONNREFUSED => format!("nothing is listening at {addr}"),
        Errno::ENOENT => format!("no socket file at {addr}"),
        Errno::ETIMEDOUT => format!("{addr} never answered the handshake"),
        Errno::ENETUNREACH => "this machine has no route to that network".into(),
        Errno::EHOSTUNREACH => "no route to that host".into(),
        Errno::EISCONN => {
            "the socket is already connected: a TCP socket connects once (make a new socket)".into()
        }
        Errno::EADDRNOTAVAIL => "no local address or port left for this connection".into(),
        Errno::EINPROGRESS => {
            "a non-blocking connect returns at once: poll for POLLOUT, then check SO_ERROR".into()
        }
        Errno::EALREADY => "a connect is already in progress on this socket".into(),
        _ => return None,
    })
}

impl crate::export::Export for Connect {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let addr = out.addr(&self.addr, &self.name);
        if self.never_fail {
            out.import("errno");
            out.line(format!("err = {s}.connect_ex({addr})"));
            out.line("print(errno.errorcode.get(err, err) if err else 0)");
            return Ok(());
        }
        if let Some(retry) = &self.retry {
            let seconds = out.seconds(retry);
            out.helper("connect_retry");
            out.line(format!("connect_retry({s}, {addr}, {seconds})"));
        } else {
            let stream = out.socket_kind(&self.name).is_some_and(|k| k.is_stream());
            if stream && out.connected.contains(&self.name) {
                out.line(format!(
                    "{s}.connect_ex({addr})  # finishes the first connect, made under a timeout, as a blocking one"
                ));
            }
            out.line(format!("{s}.connect({addr})"));
        }
        out.connected.insert(self.name.clone());
        Ok(())
    }
}

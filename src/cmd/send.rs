//! `send`, `sendall` and `sendto`: the commands that put bytes on a socket.

use nix::errno::Errno;
use std::fs::File;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::Path;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::address::Address;
use crate::bulk::{Bulk, Direction};
use crate::data::Data;
use crate::errors::Failure;
use crate::handle::Handle;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, DataArg, SyntaxError};
use crate::session::Session;
use crate::wait::{wait_for, CommandDeadline};

pub const SPECS: &[Spec] = &[SEND, SENDALL, SENDTO];

/// `--hex HEX` and `--file PATH`: data given another way than a DATA word.
pub const DATA_FLAGS: &[Flag] = &[
    Flag::with("--hex", Slot::Value),
    Flag::with("--file", Slot::Path),
];

pub const SEND: Spec = Spec {
    name: "send",
    synopsis: "send NAME DATA|--hex HEX|--file PATH",
    summary:
        "One send() call: shows how many bytes the kernel took, which may be fewer than given.",
    python: "n = s.send(b'hello\\n')",
    example: "send cli 'hello\\n'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: DATA_FLAGS,
    scope: Scope::Language,
    parse: |args| Send::parse(Way::Once, args).map(Command::from),
};

pub const SENDALL: Spec = Spec {
    name: "sendall",
    synopsis: "sendall NAME DATA|--hex HEX|--file PATH",
    summary: "Send all of the data, calling send() as often as needed (a file is streamed with sendfile).",
    python: "s.sendall(b'Hello, world')",
    example: "sendall cli 'Hello, world'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: DATA_FLAGS,
    scope: Scope::Language,
    parse: |args| Send::parse(Way::All, args).map(Command::from),
};

pub const SENDTO: Spec = Spec {
    name: "sendto",
    synopsis: "sendto NAME ADDR DATA|--hex HEX|--file PATH",
    summary: "Send one datagram to ADDR.",
    python: "s.sendto(b'ping', ('127.0.0.1', 9999))",
    example: "sendto u ${peer.addr} 'ping'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Addr, Slot::Data],
    repeats: false,
    flags: DATA_FLAGS,
    scope: Scope::Language,
    parse: |args| Send::parse(Way::To, args).map(Command::from),
};

/// Which of the three commands is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Once,
    All,
    To,
}

/// How the bytes go out: one send(), all of them, or one datagram to ADDR.
#[derive(Debug, Clone)]
enum Mode {
    Once,
    All,
    To(Arg<Address>),
}

#[derive(Debug, Clone)]
pub struct Send {
    mode: Mode,
    name: String,
    data: DataArg,
}

/// At most this much per sendfile(2): the kernel moves a sendfile in
/// pieces of this size and gives each piece the whole socket timeout, so a
/// larger call could wait several timeouts in a row.
const SENDFILE_CHUNK: u64 = 64 * 1024;

/// How much of a file is read at a time to go through TLS: rustls' send
/// buffer takes about this much at once.
const THROUGH_CHUNK: usize = 256 * 1024;

/// The most read from a file whose size the kernel does not know (procfs).
const MAX_UNSIZED_FILE: u64 = 16 << 20;

/// The largest payload one datagram can carry.
const MAX_DATAGRAM: u64 = 65_535;

impl Send {
    pub fn parse(way: Way, args: &mut Args) -> Result<Self, SyntaxError> {
        let option = args.data_option()?;
        let name = args.handle()?;
        let mode = match way {
            Way::Once => Mode::Once,
            Way::All => Mode::All,
            Way::To => Mode::To(args.arg("ADDR", Address::parse)?),
        };
        let data = args.data(option)?;
        Ok(Send { mode, name, data })
    }
}

impl Run for Send {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if let Mode::To(to) = &self.mode {
            return self.send_to(session, to);
        }
        let resolved = session.resolve_data(&self.data)?;
        let (data, captured) = (resolved.data, resolved.captured);
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let outcome = match (&self.mode, &*data) {
            (Mode::Once, Data::Bytes(bytes)) => {
                let sent = session.retry(handle, libc::POLLOUT, &deadline, "no room to send", |h| {
                    h.send(bytes)
                });
                let sent = sent.map_err(|f| send_failure(handle, f))?;
                flush_held(session, handle, &deadline).map_err(|f| send_failure(handle, f))?;
                Outcome::Sent {
                    sent: sent as u64,
                    of: bytes.len() as u64,
                    captured,
                }
            }
            (Mode::All, Data::Bytes(bytes)) => {
                let sent = send_all(session, handle, bytes, &deadline)?;
                Outcome::Sent {
                    sent,
                    of: sent,
                    captured,
                }
            }
            (mode, Data::File(path)) => {
                let all = matches!(mode, Mode::All);
                let (sent, of) = send_file(session, handle, path, all, &deadline)?;
                Outcome::Sent {
                    sent,
                    of,
                    captured,
                }
            }
            (Mode::To(_), _) => unreachable!("sendto returned above"),
        };
        Ok(outcome)
    }
}

impl Send {
    /// `sendto`: one datagram to an address.
    fn send_to(&self, session: &mut Session, to: &Arg<Address>) -> Result<Outcome, Failure> {
        let resolved = session.resolve_data(&self.data)?;
        let (data, captured) = (resolved.data, resolved.captured);
        let to = session.resolve(to)?.into_owned();
        let handle = session.handle(&self.name)?;
        let kind = handle.socket()?.kind;
        if let Some(layer) = handle.io.layer() {
            // sendto writes to the socket itself: the bytes would bypass TLS.
            let layer = layer.to_uppercase();
            return Err(Failure::usage(format!(
                "{} is a {layer} connection: sendto would write past {layer} (use send or sendall)",
                self.name
            )));
        }
        let deadline = session.deadline(handle);
        if let crate::address::Address::UnixPath(path) = &to {
            crate::sandbox::check(path, crate::sandbox::Use::Reach)?;
        }
        let target = to.resolve(kind, deadline.start())?;
        session.reaching(&target);
        let handle = session.handle(&self.name)?;
        let bytes = datagram_bytes(&data)?;
        let socket = handle.socket()?;
        let sent = session.retry(handle, libc::POLLOUT, &deadline, "no room to send", |_| {
            socket.send_to(&bytes, &target)
        });
        let sent = sent.map_err(|f| send_failure(handle, f))?;
        session.note_kernel_choice(&self.name);
        Ok(Outcome::SentTo {
            sent: sent as u64,
            to: Endpoint::new(target, kind),
            captured,
        })
    }
}

pub(super) fn send_all(
    session: &Session,
    handle: &Handle,
    bytes: &[u8],
    deadline: &CommandDeadline,
) -> Result<u64, Failure> {
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        offset += session
            .retry(handle, libc::POLLOUT, deadline, "no room to send", |h| {
                h.send(rest)
            })
            .map_err(|f| {
                sent_first(send_failure(handle, f), offset as u64, bytes.len() as u64)
            })?;
    }
    flush_held(session, handle, deadline).map_err(|f| send_failure(handle, f))?;
    Ok(offset as u64)
}

/// Waits until what the handle held back after its sends (TLS records)
/// is in the kernel, so the peer can read it while this session waits on
/// something else. A non-blocking handle tries once: the rest goes with
/// its next send or receive. Inline for the usual case, a handle that
/// held nothing back.
#[inline]
pub(super) fn flush_held(
    session: &Session,
    handle: &Handle,
    deadline: &CommandDeadline,
) -> Result<(), Failure> {
    match handle.io.flush() {
        Ok(()) => Ok(()),
        Err(e) => flush_rest(session, handle, deadline, e),
    }
}

/// [`flush_held`] once a flush did not take everything: `error` says why.
#[inline(never)]
fn flush_rest(
    session: &Session,
    handle: &Handle,
    deadline: &CommandDeadline,
    mut error: std::io::Error,
) -> Result<(), Failure> {
    loop {
        match error.kind() {
            std::io::ErrorKind::Interrupted => {}
            std::io::ErrorKind::WouldBlock => {
                if !handle.blocking() {
                    return Ok(());
                }
                session.out.flush();
                let fd = handle.io.poll_fd(libc::POLLOUT);
                wait_for(fd, libc::POLLOUT, deadline.start(), "no room to send")?;
            }
            _ => return Err(error.into()),
        }
        match handle.io.flush() {
            Ok(()) => return Ok(()),
            Err(e) => error = e,
        }
    }
}

/// Streams a file with sendfile(2): one call for `send`, until the end for `sendall`.
pub(super) fn send_file(
    session: &Session,
    handle: &Handle,
    path: &Path,
    all: bool,
    deadline: &CommandDeadline,
) -> Result<(u64, u64), Failure> {
    // A file's time counts from its opening, as reading it may be slow.
    deadline.start();
    let mut file = open_data_file(path)?;
    let size = file.metadata().map_err(Failure::from)?.len();
    if size == 0 {
        // /proc and /sys files say 0 bytes yet have content: read them.
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_UNSIZED_FILE)
            .read_to_end(&mut bytes)
            .map_err(Failure::from)?;
        let sent = match all {
            true => send_all(session, handle, &bytes, deadline)?,
            false => session
                .retry(handle, libc::POLLOUT, deadline, "no room to send", |h| {
                    h.send(&bytes)
                })
                .map_err(|f| send_failure(handle, f))? as u64,
        };
        return Ok((sent, bytes.len() as u64));
    }
    if !handle.io.passes_through() {
        return send_file_through(session, handle, &mut file, size, all, deadline);
    }
    if !all {
        // One send(): the kernel takes what fits in the send buffer now.
        let count = size.min(1 << 30) as usize;
        let sent = session
            .retry(handle, libc::POLLOUT, deadline, "no room to send", |h| {
                sendfile(h.io.poll_fd(libc::POLLOUT), &file, count)
            })
            .map_err(|f| send_failure(handle, f))?;
        return Ok((sent, size));
    }
    let mut sent: u64 = 0;
    let bulk = Bulk::new(
        session,
        handle,
        deadline,
        Direction::Send,
        "no room to send",
    );
    while sent < size {
        let count = (size - sent).min(SENDFILE_CHUNK) as usize;
        let n = bulk
            .call(|h| sendfile(h.io.poll_fd(libc::POLLOUT), &file, count))
            .map_err(|f| sent_first(send_failure(handle, f), sent, size))?;
        if n == 0 {
            break; // the file became shorter while it was sent
        }
        sent += n;
    }
    Ok((sent, size))
}

/// A file through a layer that must see its bytes (TLS encrypts them):
/// read a piece at a time and sent like DATA, never loaded whole.
fn send_file_through(
    session: &Session,
    handle: &Handle,
    file: &mut File,
    size: u64,
    all: bool,
    deadline: &CommandDeadline,
) -> Result<(u64, u64), Failure> {
    let mut piece = vec![0u8; THROUGH_CHUNK];
    let mut sent: u64 = 0;
    session.out.flush();
    loop {
        let count = file.read(&mut piece).map_err(Failure::from)?;
        if count == 0 {
            break; // the end, or the file became shorter while it was sent
        }
        let mut offset = 0;
        while offset < count {
            offset += session
                .retry(handle, libc::POLLOUT, deadline, "no room to send", |h| {
                    h.send(&piece[offset..count])
                })
                .map_err(|f| sent_first(send_failure(handle, f), sent + offset as u64, size))?;
            if !all {
                break; // one send: what the connection took at once
            }
        }
        sent += offset as u64;
        if !all {
            break;
        }
    }
    flush_held(session, handle, deadline)
        .map_err(|f| sent_first(send_failure(handle, f), sent, size))?;
    Ok((sent, size))
}

/// One sendfile(2) from the file's own position.
fn sendfile(out: BorrowedFd, file: &File, count: usize) -> std::io::Result<u64> {
    // No offset: sendfile advances the file's own position.
    nix::sys::sendfile::sendfile(out, file, None, count)
        .map(|n| n as u64)
        .map_err(std::io::Error::from)
}

/// A datagram's bytes: a file is read whole, as it must fit in one datagram.
pub fn datagram_bytes(data: &Data) -> Result<Vec<u8>, Failure> {
    match data {
        Data::Bytes(bytes) => Ok(bytes.clone()),
        Data::File(path) => read_data_file(path, MAX_DATAGRAM, "one datagram can carry"),
    }
}

/// A `--file` read whole, for a use that must hold all its bytes at once
/// (a datagram, a variable, a delimiter): at most `limit` bytes, else a
/// failure saying what `holder` is (`one datagram can carry`).
pub fn read_data_file(path: &Path, limit: u64, holder: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    open_data_file(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Failure::from)?;
    if bytes.len() as u64 > limit {
        return Err(Failure::usage(format!(
            "{} is larger than {holder} ({limit} bytes)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Opens a `--file` to read; a directory is refused here, by name, rather
/// than failing later inside a system call on the socket.
/// A FIFO or device is refused too: opening a FIFO would block before any
/// timeout applies, and a device may never end.
pub fn open_data_file(path: &Path) -> Result<File, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::sandbox::check(path, crate::sandbox::Use::Read)?;
    let cannot_read = |e: &std::io::Error| Failure::file("read", path, e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| cannot_read(&e))?;
    match file.metadata() {
        Ok(meta) if meta.is_dir() => Err(cannot_read(&std::io::Error::from_raw_os_error(
            libc::EISDIR,
        ))),
        Ok(meta) if !meta.is_file() => Err(Failure::usage(format!(
            "{} is not a regular file (a FIFO or a device cannot be --file)",
            path.display()
        ))),
        Ok(_) => Ok(file),
        Err(e) => Err(cannot_read(&e)),
    }
}

/// Says how much went out before a failure part way through.
fn sent_first(failure: Failure, sent: u64, of: u64) -> Failure {
    if sent == 0 {
        return failure;
    }
    failure.with_progress(format!("{sent} of {of} bytes were sent first"))
}

/// A failed send with its hint: what this kind of handle knows (a
/// program that exited), else what the errno means for a socket.
pub(super) fn send_failure(handle: &Handle, failure: Failure) -> Failure {
    let failure = failure.with_hint(|errno| handle.io.failure_hint(errno));
    failure.with_hint(|errno| {
        Some(match errno {
            Errno::EPIPE => {
                "the connection is closed for sending (the peer closed or reset it, you shut down write, or it never connected)"
                    .into()
            }
            Errno::ECONNRESET => "the peer reset the connection".into(),
            Errno::EDESTADDRREQ | Errno::ENOTCONN => {
                "the socket is not connected: connect first, or use sendto".into()
            }
            Errno::EMSGSIZE => "too large for one datagram".into(),
            Errno::ECONNREFUSED => {
                "a previous datagram was refused: nothing listens at the peer's port".into()
            }
            Errno::EAGAIN => "the send buffer is full and the socket is non-blocking".into(),
            _ => return None,
        })
    })
}

impl crate::export::Export for Send {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        if out.kind_of(&self.name) == Some(crate::export::HandleKind::Program) {
            let data = out.data(&self.data);
            out.helper("programs");
            out.line(format!("send_program({s}, {data})"));
            return Ok(());
        }
        let datagram = out.keeps_boundaries(&self.name);
        if let Some(path) = out.data_file(&self.data) {
            if datagram {
                out.helper("read_datagram");
                let data = format!("read_datagram({path})");
                return send_line(out, &self.name, &s, &self.mode, data);
            }
            if matches!(self.mode, Mode::All) {
                out.line(format!("with open({path}, 'rb') as f:"));
                out.line(format!("    {s}.sendall(f.read())"));
                return Ok(());
            }
        }
        let data = out.data(&self.data);
        send_line(out, &self.name, &s, &self.mode, data)
    }
}

fn send_line(
    out: &mut crate::export::Program,
    name: &str,
    s: &str,
    mode: &Mode,
    data: String,
) -> Result<(), crate::export::Refused> {
    match mode {
        Mode::Once => out.line(format!("{s}.send({data})")),
        Mode::All => out.line(format!("{s}.sendall({data})")),
        Mode::To(addr) => {
            let addr = out.addr(addr, name);
            out.line(format!("{s}.sendto({data}, {addr})"));
        }
    }
    Ok(())
}

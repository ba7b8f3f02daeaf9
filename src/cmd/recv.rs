//! `recv`, `recvfrom` and `recvall`: the commands that take bytes off a
//! socket, telling apart bytes, end of stream, an empty datagram and a
//! timeout.

use std::fs::File;
use std::io::Write;
use std::mem::MaybeUninit;
use std::path::PathBuf;

use socket2::{SockAddr, Socket};

use super::Help;
use crate::bulk::{Bulk, Direction};
use crate::data::preview;
use crate::errors::{file_error, Failure};
use crate::outcome::{Endpoint, Outcome, ReceiveKind, Received};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;

pub const RECV_HELP: Help = Help {
    name: "recv",
    synopsis: "recv NAME [MAX] [--hex]",
    summary: "One recv() call of at most MAX bytes (default 1024). Shows the bytes as a Python \
              literal (or a hexdump with --hex), b'' (end of stream) when the peer closed, or \
              b'' (an empty datagram); fails with TIMEOUT when nothing came in time.",
    python: "data = s.recv(1024)",
    example: "recv conn",
};

pub const RECVFROM_HELP: Help = Help {
    name: "recvfrom",
    synopsis: "recvfrom NAME [MAX] [--hex]",
    summary: "Receive one datagram and show who sent it.",
    python: "data, addr = s.recvfrom(1024)",
    example: "recvfrom u",
};

pub const RECVALL_HELP: Help = Help {
    name: "recvall",
    synopsis: "recvall NAME [--into PATH] [--hex]",
    summary: "Read until the peer closes (end of stream). With --into, stream the bytes to a file \
              and show only the count.",
    python: "while chunk := s.recv(65536): data += chunk",
    example: "recvall conn --into received.bin",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Recv,
    RecvFrom,
    All,
}

#[derive(Debug, Clone)]
pub struct Recv {
    mode: Mode,
    name: String,
    max: usize,
    hex: bool,
    into: Option<Arg<PathBuf>>,
}

const DEFAULT_MAX: usize = 1024;
const LARGEST_MAX: usize = 64 << 20;
/// Chunk size for `recvall`: large enough that the system calls dominate.
const CHUNK: usize = 1024 * 1024;
/// The most `recvall` keeps in memory to show; more needs `--into`.
const MAX_IN_MEMORY: usize = 64 << 20;

impl Recv {
    pub fn parse(command: &str, args: &mut Args) -> Result<Self, SyntaxError> {
        let mode = match command {
            "recv" => Mode::Recv,
            "recvfrom" => Mode::RecvFrom,
            _ => Mode::All,
        };
        let hex = args.flag("--hex");
        let into = args.option_arg("--into", |p| Ok(PathBuf::from(p)))?;
        if into.is_some() && mode != Mode::All {
            return Err(args.usage_error("only recvall takes --into"));
        }
        let name = args.handle()?;
        let max = match mode {
            Mode::All => DEFAULT_MAX,
            _ => match args.optional_literal() {
                Some(word) => parse_max(word)?,
                None => DEFAULT_MAX,
            },
        };
        Ok(Recv {
            mode,
            name,
            max,
            hex,
            into,
        })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if self.mode == Mode::All {
            return self.receive_all(session);
        }
        let handle = session.handle(&self.name)?;
        let datagrams = handle.kind.keeps_boundaries();
        let deadline = session.deadline(handle);
        let mut buffer = vec![0u8; self.max];
        let want_from = self.mode == Mode::RecvFrom;
        let (size, from) = session.retry(handle, libc::POLLIN, deadline, "no data", |s| {
            receive(s, &mut buffer, datagrams, want_from)
        })?;
        let what = match size {
            0 if handle.kind.has_end_of_stream() => ReceiveKind::EndOfStream,
            0 => ReceiveKind::EmptyDatagram,
            _ => {
                buffer.truncate(size.min(self.max));
                ReceiveKind::Bytes {
                    bytes: buffer,
                    truncated_from: (size > self.max).then_some(size),
                }
            }
        };
        let from = from.map(|addr| Endpoint {
            addr,
            kind: handle.kind,
        });
        Ok(Outcome::Received(Received {
            what,
            from,
            hex: self.hex,
        }))
    }

    fn receive_all(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let into = match &self.into {
            Some(arg) => Some(arg.get(session)?.into_owned()),
            None => None,
        };
        let handle = session.handle(&self.name)?;
        if !handle.kind.has_end_of_stream() {
            return Err(Failure::usage(format!(
                "recvall reads a stream until it ends; {} keeps datagram boundaries and never ends (use recv)",
                self.name
            )));
        }
        let deadline = session.deadline(handle);
        let mut sink = Sink::open(into)?;
        let mut buffer = vec![0u8; CHUNK];
        let bulk = Bulk::new(
            session,
            handle,
            deadline,
            Direction::Receive,
            "no end of stream",
        );
        loop {
            let step = bulk.call(|s| receive(s, &mut buffer, false, false));
            match step {
                Ok((0, _)) => break,
                Ok((n, _)) => sink.write(&buffer[..n])?,
                Err(failure) => return Err(sink.explain(failure)),
            }
        }
        Ok(sink.finish(self.hex))
    }
}

fn parse_max(word: &str) -> Result<usize, SyntaxError> {
    match word.parse::<usize>() {
        Ok(n) if (1..=LARGEST_MAX).contains(&n) => Ok(n),
        _ => Err(SyntaxError::new(format!(
            "bad MAX '{word}': a number of bytes from 1 to {LARGEST_MAX}"
        ))),
    }
}

/// One recv(2) (or recvfrom(2)). On datagram sockets MSG_TRUNC makes the
/// kernel report the datagram's real size, so a cut datagram can be shown.
pub fn receive(
    socket: &Socket,
    buffer: &mut [u8],
    datagrams: bool,
    want_from: bool,
) -> std::io::Result<(usize, Option<SockAddr>)> {
    let flags = if datagrams { libc::MSG_TRUNC } else { 0 };
    let buffer = as_uninit(buffer);
    if want_from {
        let (n, from) = socket.recv_from_with_flags(buffer, flags)?;
        Ok((n, Some(from)))
    } else {
        Ok((socket.recv_with_flags(buffer, flags)?, None))
    }
}

fn as_uninit(buffer: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: initialised bytes are valid MaybeUninit<u8>, and the kernel
    // only ever writes initialised bytes into the slice.
    unsafe { &mut *(buffer as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Where `recvall` puts what it reads: memory, or a file streamed to.
enum Sink {
    Memory(Vec<u8>),
    File {
        file: File,
        path: PathBuf,
        count: u64,
    },
}

impl Sink {
    fn open(into: Option<PathBuf>) -> Result<Self, Failure> {
        match into {
            None => Ok(Sink::Memory(Vec::new())),
            Some(path) => {
                // Opening a FIFO would block before any timeout applies.
                if std::fs::symlink_metadata(&path).is_ok_and(|meta| {
                    use std::os::unix::fs::FileTypeExt;
                    meta.file_type().is_fifo() || meta.file_type().is_socket()
                }) {
                    return Err(Failure::usage(format!(
                        "{} is a FIFO or a socket: --into writes a file",
                        path.display()
                    )));
                }
                let file = File::create(&path)
                    .map_err(|e| Failure::usage(file_error("write", &path, &e)))?;
                Ok(Sink::File {
                    file,
                    path,
                    count: 0,
                })
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        match self {
            Sink::Memory(all) if all.len() + bytes.len() > MAX_IN_MEMORY => {
                return Err(Failure::usage(format!(
                    "more than {} MiB arrived: use recvall NAME --into FILE for large transfers",
                    MAX_IN_MEMORY >> 20
                )))
            }
            Sink::Memory(all) => all.extend_from_slice(bytes),
            Sink::File { file, path, count } => {
                file.write_all(bytes)
                    .map_err(|e| Failure::usage(file_error("write", path, &e)))?;
                *count += bytes.len() as u64;
            }
        }
        Ok(())
    }

    /// Adds how much arrived before a failure, so nothing received is lost from view.
    fn explain(&self, failure: Failure) -> Failure {
        failure.with_progress(match self {
            Sink::Memory(all) if all.is_empty() => "0 bytes had arrived".to_string(),
            Sink::Memory(all) => format!("{} bytes had arrived: {}", all.len(), preview(all)),
            Sink::File { path, count, .. } => {
                format!("{count} bytes had arrived and are in {}", path.display())
            }
        })
    }

    fn finish(self, hex: bool) -> Outcome {
        match self {
            Sink::Memory(all) => Outcome::Received(Received {
                what: ReceiveKind::All(all),
                from: None,
                hex,
            }),
            Sink::File { path, count, .. } => Outcome::Saved { count, path },
        }
    }
}

//! `recv`, `recvfrom` and `recvall`: the commands that take bytes off a
//! socket, telling apart bytes, end of stream, an empty datagram and a
//! timeout.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::bulk::{Bulk, Direction};
use crate::data::preview;
use crate::errors::Failure;
use crate::handle::ReceiveMode;
use crate::outcome::{Endpoint, Outcome, ReceiveKind, Received};
use crate::parser::{check_variable_name, Arg, Args, SyntaxError};
use crate::session::Session;
use crate::tls::StreamEnd;

pub const SPECS: &[Spec] = &[RECV, RECVFROM, RECVALL];

pub const RECV: Spec = Spec {
    name: "recv",
    synopsis: "recv NAME [MAX] [--hex] [--as VAR]",
    summary: "One recv() call of at most MAX bytes (default 1024). Shows the bytes as a Python \
              literal (or a hexdump with --hex), b'' (end of stream) when the peer closed, or \
              b'' (an empty datagram); fails with TIMEOUT when nothing came in time.",
    python: "data = s.recv(1024)",
    example: "recv conn",
    args: &[Slot::Handle(Fits::NotListening), Slot::Value],
    repeats: false,
    flags: &[Flag::switch("--hex"), AS_FLAG],
    scope: Scope::Language,
    parse: |args| Recv::parse(Mode::Recv, args).map(Command::from),
};

pub const RECVFROM: Spec = Spec {
    name: "recvfrom",
    synopsis: "recvfrom NAME [MAX] [--hex] [--as VAR]",
    summary: "Receive one datagram and show who sent it.",
    python: "data, addr = s.recvfrom(1024)",
    example: "recvfrom u",
    args: &[Slot::Handle(Fits::NotListening), Slot::Value],
    repeats: false,
    flags: &[Flag::switch("--hex"), AS_FLAG],
    scope: Scope::Language,
    parse: |args| Recv::parse(Mode::RecvFrom, args).map(Command::from),
};

pub const RECVALL: Spec = Spec {
    name: "recvall",
    synopsis: "recvall NAME [--into PATH] [--hex] [--as VAR]",
    summary: "Read until the peer closes (end of stream). With --into, stream the bytes to a file \
              and show only the count.",
    python: "while chunk := s.recv(65536): data += chunk",
    example: "recvall conn --into received.bin",
    args: &[Slot::Handle(Fits::NotListening)],
    repeats: false,
    flags: &[
        Flag::with("--into", Slot::Path),
        Flag::switch("--hex"),
        AS_FLAG,
    ],
    scope: Scope::Language,
    parse: |args| Recv::parse(Mode::All, args).map(Command::from),
};

/// `--as NAME`: the bytes received are also stored in a variable.
pub const AS_FLAG: Flag = Flag::with("--as", Slot::NewVariable);

/// `--as NAME`, if given: the variable the bytes received go to.
pub fn parse_as(args: &mut Args) -> Result<Option<String>, SyntaxError> {
    let Some(word) = args.option("--as")? else {
        return Ok(None);
    };
    let name = word
        .literal()
        .ok_or_else(|| args.usage_error("--as takes a variable name, not ${...}"))?;
    check_new_variable(name).map(Some)
}

/// A name a command gives a value to: a valid variable name.
pub fn check_new_variable(name: &str) -> Result<String, SyntaxError> {
    check_variable_name(name)?;
    Ok(name.to_string())
}

/// Which of the three commands is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Recv,
    RecvFrom,
    All,
}

#[derive(Debug, Clone)]
pub struct Recv {
    mode: Mode,
    name: String,
    max: Arg<usize>,
    hex: bool,
    into: Option<Arg<PathBuf>>,
    /// `--as NAME`.
    capture: Option<String>,
}

const DEFAULT_MAX: usize = 1024;
const LARGEST_MAX: usize = 64 << 20;
/// Chunk size for `recvall`: large enough that the system calls dominate.
const CHUNK: usize = 1024 * 1024;
/// The most `recvall` keeps in memory to show; more needs `--into`.
const MAX_IN_MEMORY: usize = 64 << 20;

impl Recv {
    pub fn parse(mode: Mode, args: &mut Args) -> Result<Self, SyntaxError> {
        let hex = args.flag("--hex");
        let into = args.option_arg("--into", |p| Ok(PathBuf::from(p)))?;
        if into.is_some() && mode != Mode::All {
            return Err(args.usage_error("only recvall takes --into"));
        }
        let capture = parse_as(args)?;
        if into.is_some() && capture.is_some() {
            return Err(args.usage_error("--into writes a file, --as a variable: choose one"));
        }
        let name = args.handle()?;
        let max = match mode {
            Mode::All => Arg::Ready(DEFAULT_MAX),
            _ => args
                .optional_arg(parse_max)?
                .unwrap_or(Arg::Ready(DEFAULT_MAX)),
        };
        Ok(Recv {
            mode,
            name,
            max,
            hex,
            into,
            capture,
        })
    }

}

impl Run for Recv {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        if self.mode == Mode::All {
            return self.receive_all(session);
        }
        let max = *session.resolve(&self.max)?;
        let handle = session.handle(&self.name)?;
        let kind = handle.kind();
        let deadline = session.deadline(handle);
        let mut buffer = vec![0u8; max];
        let datagram = handle.keeps_boundaries();
        let mode = ReceiveMode {
            datagram,
            // A datagram's sender is kept for ${H.from}.
            want_from: self.mode == Mode::RecvFrom || datagram,
        };
        let (size, from) = session.retry(handle, libc::POLLIN, &deadline, "no data", |h| {
            h.receive(&mut buffer, mode)
        })?;
        let from = from.filter(|_| self.mode == Mode::RecvFrom);
        let what = match size {
            0 if handle.has_end_of_stream() => match handle.io.tls_end() {
                Some(end) => ReceiveKind::TlsEnd(end),
                None => ReceiveKind::EndOfStream,
            },
            0 => ReceiveKind::EmptyDatagram,
            _ => {
                buffer.truncate(size.min(max));
                ReceiveKind::Bytes {
                    bytes: buffer,
                    truncated_from: (size > max).then_some(size),
                }
            }
        };
        let from = from.zip(kind).map(|(addr, kind)| Endpoint::new(addr, kind));
        if datagram {
            session.note_datagram_sender(&self.name);
        }
        self.store(session, &what);
        Ok(Outcome::Received(Received {
            what,
            from,
            hex: self.hex,
            captured_as: self.capture.clone(),
        }))
    }

    fn sets(&self) -> Vec<String> {
        self.capture.iter().cloned().collect()
    }
}

impl Recv {
    /// `--as NAME`: the bytes received (none at an end of stream).
    fn store(&self, session: &mut Session, what: &ReceiveKind) {
        let Some(name) = &self.capture else {
            return;
        };
        let bytes = match what {
            ReceiveKind::Bytes { bytes, .. }
            | ReceiveKind::All(bytes)
            | ReceiveKind::AllTls(bytes, _) => bytes.clone(),
            ReceiveKind::EndOfStream | ReceiveKind::TlsEnd(_) | ReceiveKind::EmptyDatagram => {
                Vec::new()
            }
        };
        session.vars.capture(name, bytes);
    }

    fn receive_all(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let into = match &self.into {
            Some(arg) => Some(session.resolve(arg)?.into_owned()),
            None => None,
        };
        let handle = session.handle(&self.name)?;
        if !handle.has_end_of_stream() {
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
            &deadline,
            Direction::Receive,
            "no end of stream",
        );
        loop {
            let step = bulk.call(|h| h.receive(&mut buffer, ReceiveMode::default()));
            match step {
                Ok((0, _)) => break,
                Ok((n, _)) => {
                    if let Err(failure) = sink.write(&buffer[..n]) {
                        return Err(sink.explain(failure));
                    }
                }
                Err(failure) => return Err(sink.explain(failure)),
            }
        }
        drop(bulk);
        let mut outcome = sink.finish(self.hex, handle.io.tls_end());
        if let Outcome::Received(received) = &mut outcome {
            self.store(session, &received.what);
            received.captured_as = self.capture.clone();
        }
        Ok(outcome)
    }
}

fn parse_max(word: &str) -> Result<usize, String> {
    match word.parse::<usize>() {
        Ok(n) if (1..=LARGEST_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad MAX '{word}': a number of bytes from 1 to {LARGEST_MAX}"
        )),
    }
}

/// Where `recvall` puts what it reads: memory, or a file streamed to.
enum Sink {
    Memory(Vec<u8>),
    File {
        file: File,
        path: PathBuf,
        /// Bytes written to the file, and bytes received (more, when a
        /// write failed: a full disk).
        count: u64,
        arrived: u64,
    },
}

impl Sink {
    fn open(into: Option<PathBuf>) -> Result<Self, Failure> {
        match into {
            None => Ok(Sink::Memory(Vec::new())),
            Some(path) => {
                crate::sandbox::check(&path, crate::sandbox::Use::Write)?;
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
                let file = File::create(&path).map_err(|e| Failure::file("write", &path, &e))?;
                Ok(Sink::File {
                    file,
                    path,
                    count: 0,
                    arrived: 0,
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
            Sink::File {
                file,
                path,
                count,
                arrived,
            } => {
                *arrived += bytes.len() as u64;
                let mut rest = bytes;
                while !rest.is_empty() {
                    match file.write(rest) {
                        Ok(0) => return Err(Failure::file("write", path, &std::io::ErrorKind::WriteZero.into())),
                        Ok(n) => {
                            *count += n as u64;
                            rest = &rest[n..];
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Failure::file("write", path, &e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds how much arrived before a failure, so nothing received is lost from view.
    fn explain(&self, failure: Failure) -> Failure {
        failure.with_progress(match self {
            Sink::Memory(all) if all.is_empty() => "0 bytes had arrived".to_string(),
            Sink::Memory(all) => format!("{} bytes had arrived: {}", all.len(), preview(all)),
            Sink::File {
                path,
                count,
                arrived,
                ..
            } => {
                let path = crate::data::one_line(&path.display().to_string()).into_owned();
                match arrived == count {
                    true => format!("{count} bytes had arrived and are in {path}"),
                    false => format!("{arrived} bytes had arrived; the first {count} are in {path}"),
                }
            }
        })
    }

    /// What was read; `tls_end` says how a TLS stream ended.
    fn finish(self, hex: bool, tls_end: Option<StreamEnd>) -> Outcome {
        match self {
            Sink::Memory(all) => Outcome::Received(Received {
                what: match tls_end {
                    Some(end) => ReceiveKind::AllTls(all, end),
                    None => ReceiveKind::All(all),
                },
                from: None,
                hex,
                captured_as: None,
            }),
            Sink::File { path, count, .. } => Outcome::Saved {
                count,
                path,
                tls_end,
            },
        }
    }
}

impl crate::export::Export for Recv {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let max = out.number(&self.max);
        let datagram = out.keeps_boundaries(&self.name);
        let plain = out.is_plain(&self.name);
        match self.mode {
            Mode::All if datagram => {
                out.fail(&format!(
                    "recvall reads until the end of a stream: {} is a datagram socket",
                    self.name
                ));
                return Ok(());
            }
            Mode::All => {
                out.helper("read_to_end");
                if let Some(into) = &self.into {
                    let path = out.path(into);
                    out.line(format!("print(recvall({s}, {path}), 'bytes')"));
                    return Ok(());
                }
                out.line(format!("data = recvall({s})"));
            }
            Mode::RecvFrom | Mode::Recv if datagram && plain => {
                out.line(format!("data, {s}_from = {s}.recvfrom({max})"));
            }
            Mode::RecvFrom => out.line(format!("data, {s}_from = {s}.recvfrom({max})")),
            Mode::Recv if plain => out.line(format!("data = {s}.recv({max})")),
            Mode::Recv => {
                out.helper("io");
                out.line(format!("data = receive({s}, {max})"));
            }
        }
        out.show_data(self.hex, self.capture.as_deref());
        Ok(())
    }
}

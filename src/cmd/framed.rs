//! `recvline`, `recvuntil` and `recvn`: receive a frame of a stream, and
//! not a byte more.
//!
//! Text protocols (HTTP, SMTP, Redis) are read a line or a header block at
//! a time; binary ones a length at a time. Each looks at what arrived
//! without taking it and takes exactly its frame (`framing`), so whatever
//! follows stays unread for the next command, `poll` and `sockets`.

use super::expect::parse_max;
use super::recv::{parse_as, AS_FLAG};
use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use super::send::read_data_file;
use crate::data::{bytes_literal, Data};
use crate::errors::Failure;
use crate::framing::{self, describe_arrived, find_delimiter, Search, Stop, Stopped};
use crate::outcome::{Outcome, ReceiveKind, Received};
use crate::parser::{Arg, Args, DataArg, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[RECVLINE, RECVUNTIL, RECVN];

const MAX_FLAG: Flag = Flag::with("--max", Slot::Value);

pub const RECVLINE: Spec = Spec {
    name: "recvline",
    synopsis: "recvline NAME [--max N] [--hex] [--as VAR]",
    summary: "Receive up to and including the next \\n, taking nothing after it. --max (default \
              64 KiB; a line of exactly N bytes fits) bounds the look; running past it, an end of \
              stream or the timeout fails and shows all that arrived.",
    python: "line = f.readline()  # f = s.makefile('rb'); pwntools: r.recvline()",
    example: "recvline conn",
    args: &[Slot::Handle(Fits::NotListening)],
    repeats: false,
    flags: &[MAX_FLAG, Flag::switch("--hex"), AS_FLAG],
    scope: Scope::Language,
    parse: |args| Framed::parse(Frame::Line, args).map(Command::from),
};

pub const RECVUNTIL: Spec = Spec {
    name: "recvuntil",
    synopsis: "recvuntil NAME DATA|--hex HEX|--file PATH [--max N] [--hex] [--as VAR]",
    summary: "Receive up to and including DATA (a delimiter such as '\\r\\n\\r\\n'; --hex HEX in \
              its place gives it in hex and shows a hexdump), taking nothing after it; --max, an \
              end of stream and the timeout as for recvline.",
    python: "head = r.recvuntil(b'\\r\\n\\r\\n')  # pwntools",
    example: "recvuntil conn '\\r\\n\\r\\n'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: &[
        MAX_FLAG,
        Flag::switch("--hex"),
        Flag::with("--file", Slot::Path),
        AS_FLAG,
    ],
    scope: Scope::Language,
    parse: |args| Framed::parse(Frame::Until, args).map(Command::from),
};

pub const RECVN: Spec = Spec {
    name: "recvn",
    synopsis: "recvn NAME N [--hex] [--as VAR]",
    summary: "Receive exactly N bytes (several recv() calls if needed); an end of stream or the \
              timeout first fails and shows all that arrived.",
    python: "data = r.recvn(16)  # pwntools; socket: a loop of recv",
    example: "recvn conn 16",
    args: &[Slot::Handle(Fits::NotListening), Slot::Value],
    repeats: false,
    flags: &[Flag::switch("--hex"), AS_FLAG],
    scope: Scope::Language,
    parse: |args| Framed::parse(Frame::Count, args).map(Command::from),
};

/// Which of the three is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Line,
    Until,
    Count,
}

/// Where a frame ends.
#[derive(Debug, Clone)]
enum End {
    /// After this delimiter (`\n` for a line).
    Delimiter(DataArg),
    /// After this many bytes (N may be `${NAME}`: a Content-Length).
    Count(Arg<usize>),
}

#[derive(Debug, Clone)]
pub struct Framed {
    name: String,
    end: End,
    max: Arg<usize>,
    hex: bool,
    capture: Option<String>,
}

/// The largest N for `recvn`.
const LARGEST_COUNT: usize = 64 << 20;
/// Up to this many bytes `recvn` looks before taking (a failure takes
/// nothing); beyond it, the bytes are taken as they come.
const LOOK_COUNT: usize = 1 << 20;

impl Framed {
    pub fn parse(frame: Frame, args: &mut Args) -> Result<Self, SyntaxError> {
        let max = match frame {
            Frame::Count => Arg::Ready(0),
            _ => parse_max(args)?,
        };
        let capture = parse_as(args)?;
        let option = match frame {
            Frame::Until => delimiter_option(args)?,
            _ => None,
        };
        // `--hex HEX` in DATA's place shows a hexdump too, as the switch does.
        let hex = args.flag("--hex") || matches!(option, Some((_, true)));
        let name = args.handle()?;
        let end = match frame {
            Frame::Line => End::Delimiter(DataArg::Ready(Data::Bytes(b"\n".to_vec()))),
            Frame::Until => End::Delimiter(args.data(option.map(|(data, _)| data))?),
            Frame::Count => End::Count(args.arg("N", parse_count)?),
        };
        if let End::Delimiter(DataArg::Ready(Data::Bytes(delimiter))) = &end {
            if delimiter.is_empty() {
                return Err(args.usage_error("the delimiter is empty"));
            }
        }
        Ok(Framed {
            name,
            end,
            max,
            hex,
            capture,
        })
    }
}

/// `recvuntil`'s delimiter given as `--file PATH` or `--hex HEX` (then
/// with `true`). `--hex` is also the switch that shows a hexdump, so it is
/// the delimiter only where DATA would stand: followed by a word when no
/// other word is left for DATA (`recvuntil c --hex 0d0a`). With a DATA
/// word (`recvuntil c '\r\n' --hex`) or last on the line, it is the switch.
fn delimiter_option(args: &mut Args) -> Result<Option<(DataArg, bool)>, SyntaxError> {
    let words = args.literals();
    let hex_at = words.iter().position(|w| *w == Some("--hex"));
    let hex_data = words.len() == 3
        && hex_at.is_some_and(|at| at + 1 < words.len())
        && words.iter().filter(|w| **w == Some("--hex")).count() == 1;
    if hex_data || args.contains("--file") {
        let data = args.data_option().map_err(|mut error| {
            if hex_data {
                error.message.push_str(
                    " (--hex here gives the delimiter in hex; to show a hexdump of a DATA \
                     delimiter, write the DATA first: recvuntil NAME DATA --hex)",
                );
            }
            error
        })?;
        return Ok(data.map(|data| (data, hex_data)));
    }
    Ok(None)
}

fn parse_count(word: &str) -> Result<usize, String> {
    match word.parse::<usize>() {
        Ok(n) if (1..=LARGEST_COUNT).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad N '{word}': a number of bytes from 1 to {LARGEST_COUNT}"
        )),
    }
}

impl Run for Framed {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        // How the failure names the frame's end: a delimiter or count made
        // of a captured value is shown as the transcript shows it.
        let stable = session.stable;
        let (delimiter, quoted) = match &self.end {
            End::Delimiter(arg) => {
                let resolved = session.resolve_data(arg)?;
                match &*resolved.data {
                    Data::Bytes(bytes) if bytes.is_empty() => {
                        return Err(Failure::usage("the delimiter is empty"))
                    }
                    Data::Bytes(bytes) => (Some(bytes.clone()), resolved.quoted(stable, bytes)),
                    Data::File(path) => {
                        // A delimiter longer than --max could never be found.
                        let max = *session.resolve(&self.max)? as u64;
                        let bytes = read_data_file(path, max, "a delimiter within --max")?;
                        if bytes.is_empty() {
                            return Err(Failure::usage("the delimiter is empty"));
                        }
                        let quoted = bytes_literal(&bytes);
                        (Some(bytes), quoted)
                    }
                }
            }
            End::Count(_) => (None, String::new()),
        };
        let (count, count_shown) = match &self.end {
            End::Count(arg) => session.resolve_shown(arg)?,
            End::Delimiter(_) => (0, String::new()),
        };
        let max = *session.resolve(&self.max)?;
        let handle = session.handle(&self.name)?;
        if handle.keeps_boundaries() {
            return Err(Failure::usage(format!(
                "{} keeps datagram boundaries: a frame of a stream cannot be cut from it (use recv or expect)",
                self.name
            )));
        }
        let deadline = session.deadline(handle).start();
        let bytes = match (&self.end, &delimiter) {
            (End::Count(_), _) if count > LOOK_COUNT => {
                receive_count(session, &self.name, count, &count_shown)?
            }
            (End::Count(_), _) => {
                let what = format!("all {count_shown} bytes");
                framing::receive_frame(session, handle, count, deadline, &what, |seen, _| {
                    if seen.len() >= count {
                        Search::Found(count)
                    } else {
                        Search::More
                    }
                })
                .map_err(|stopped| self.failure(stopped, &what, count))?
            }
            (End::Delimiter(_), Some(delimiter)) => {
                let what = match delimiter.as_slice() {
                    b"\n" => "end of line".to_string(),
                    _ => quoted,
                };
                framing::receive_frame(session, handle, max, deadline, &what, |seen, _| {
                    find_delimiter(seen, delimiter)
                })
                .map_err(|stopped| self.failure(stopped, &what, max))?
            }
            (End::Delimiter(_), None) => unreachable!("a delimiter was resolved"),
        };
        if let Some(name) = &self.capture {
            session.vars.capture(name, bytes.clone());
        }
        Ok(Outcome::Received(Received {
            what: ReceiveKind::Bytes {
                bytes,
                truncated_from: None,
            },
            from: None,
            hex: self.hex,
            captured_as: self.capture.clone(),
        }))
    }

    fn sets(&self) -> Vec<String> {
        self.capture.iter().cloned().collect()
    }
}

impl Framed {
    /// Why the frame was not taken, with everything that arrived.
    fn failure(&self, stopped: Stopped, what: &str, max: usize) -> Failure {
        let arrived = describe_arrived(&stopped.arrived);
        match stopped.stop {
            Stop::Timeout(Failure::Timeout { after, .. }) => Failure::Timeout {
                what: match what.starts_with("all ") {
                    true => format!("not {what}"),
                    false => format!("no {what}"),
                },
                after,
                detail: Some(arrived),
            },
            Stop::Timeout(other) | Stop::Failed(other) => other.with_progress(arrived),
            Stop::Ended => Failure::Assertion(format!(
                "the stream ended before {}: {arrived}",
                what.trim_start_matches("all ").replace("end of line", "the end of a line")
            )),
            Stop::Overrun => Failure::Assertion(format!(
                "no {what} in the first {max} bytes (--max {max}): {arrived}"
            )),
        }
    }
}

/// `recvn` of a large count: the bytes are taken as they come (a failure
/// shows how many had come).
/// `shown`: the count as the transcript shows it.
fn receive_count(
    session: &Session,
    name: &str,
    count: usize,
    shown: &str,
) -> Result<Vec<u8>, Failure> {
    let handle = session.handle(name)?;
    let deadline = session.deadline(handle);
    let mut bytes = vec![0u8; count];
    let mut got = 0;
    while got < count {
        let step = session.retry(handle, libc::POLLIN, &deadline, "the bytes", |h| {
            h.receive_bytes(&mut bytes[got..])
        });
        match step {
            Ok(0) => {
                return Err(Failure::Assertion(format!(
                    "the stream ended after {got} of {shown} bytes"
                )))
            }
            Ok(n) => got += n,
            Err(failure) => {
                return Err(failure.with_progress(format!("{got} of {shown} bytes had arrived")))
            }
        }
    }
    Ok(bytes)
}

impl crate::export::Export for Framed {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        if out.keeps_boundaries(&self.name) {
            out.fail(&format!(
                "a framed receive needs a stream: {} is a datagram socket",
                self.name
            ));
            return Ok(());
        }
        let max = out.number(&self.max);
        match &self.end {
            End::Delimiter(delimiter) => {
                let end = out.data(delimiter);
                out.helper("read_until");
                out.line(format!("data = recvuntil({s}, {end}, {max})"));
            }
            End::Count(count) => {
                let n = out.number(count);
                out.helper("read_exactly");
                out.line(format!("data = recvn({s}, {n})"));
            }
        }
        out.show_data(self.hex, self.capture.as_deref());
        Ok(())
    }
}

//! `expect` and `expect_eof`: assertions about what arrives next.

use std::io::Read;
use std::path::Path;

use super::send::{datagram_bytes, open_data_file, DATA_FLAGS};
use super::{Command, Fits, Run, Scope, Slot, Spec};
use crate::data::{bytes_literal, preview, Data};
use crate::errors::Failure;
use crate::handle::{Handle, ReceiveMode};
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::wait::Deadline;

pub const SPECS: &[Spec] = &[EXPECT, EXPECT_EOF];

pub const EXPECT: Spec = Spec {
    name: "expect",
    synopsis: "expect NAME DATA|--hex HEX|--file PATH",
    summary: "Assert that exactly these bytes arrive next (several recv() calls if needed; on a \
              datagram socket, one whole datagram). Different bytes, an early end of stream or a \
              timeout fail and show expected against actual.",
    python: "assert s.recv(12) == b'Hello, world'",
    example: "expect cli 'Hello, world'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: DATA_FLAGS,
    scope: Scope::Language,
    parse: |args| Expect::parse(args).map(Command::from),
};

pub const EXPECT_EOF: Spec = Spec {
    name: "expect_eof",
    synopsis: "expect_eof NAME",
    summary: "Assert that the peer has closed: the next receive sees end of stream.",
    python: "assert s.recv(1) == b''",
    example: "expect_eof conn",
    args: &[Slot::Handle(Fits::NotListening)],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| ExpectEof::parse(args).map(Command::from),
};

/// The largest datagram.
const DATAGRAM_BUFFER: usize = 65_536;
/// How much of an expected file is compared at a time.
const FILE_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Expect {
    name: String,
    data: Arg<Data>,
}

impl Expect {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let option = args.data_option()?;
        let name = args.handle()?;
        Ok(Expect {
            name,
            data: args.data(option)?,
        })
    }

}

impl Run for Expect {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let data = session.resolve(&self.data)?;
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let count = if handle.keeps_boundaries() {
            expect_datagram(session, handle, &datagram_bytes(&data)?, deadline)?
        } else {
            match &*data {
                Data::Bytes(bytes) => {
                    let whole = Whole {
                        offset: 0,
                        total: bytes.len() as u64,
                        file: None,
                    };
                    expect_stream(session, handle, bytes, &whole, deadline)?
                }
                Data::File(path) => expect_file(session, handle, path, deadline)?,
            }
        };
        Ok(Outcome::Expected { count })
    }
}

/// The whole expectation a chunk belongs to, so that every message counts
/// bytes of the whole: all of the DATA, or all of a `--file`.
struct Whole<'a> {
    offset: u64,
    total: u64,
    file: Option<&'a Path>,
}

impl Whole<'_> {
    /// What was expected, as a message shows it.
    fn expected(&self, chunk: &[u8]) -> String {
        match self.file {
            None => preview(chunk),
            Some(path) => format!("the {} bytes of {}", self.total, path.display()),
        }
    }

    /// How much of the whole had arrived, then `tail` and (for DATA) what
    /// it was: `3 of 5 bytes<tail>: b'hel'`.
    fn arrived(&self, chunk: &[u8], got: usize, tail: &str) -> String {
        let count = format!("{} of {} bytes{tail}", self.offset + got as u64, self.total);
        match self.file {
            None => format!("{count}: {}", preview(&chunk[..got])),
            Some(_) => count,
        }
    }
}

/// Receives exactly `expected` (one chunk of `whole`), failing at the
/// first byte that differs.
fn expect_stream(
    session: &Session,
    handle: &Handle,
    expected: &[u8],
    whole: &Whole,
    deadline: Deadline,
) -> Result<u64, Failure> {
    // Most expectations are short: keep their buffer on the stack.
    let mut small = [0u8; 512];
    let mut large = Vec::new();
    let buffer: &mut [u8] = if expected.len() <= small.len() {
        &mut small[..expected.len()]
    } else {
        large.resize(expected.len().min(FILE_CHUNK), 0);
        &mut large
    };
    let mut got = 0;
    while got < expected.len() {
        let want = (expected.len() - got).min(buffer.len());
        let step = session.retry(handle, libc::POLLIN, deadline, "the expected bytes", |h| {
            h.receive(&mut buffer[..want], ReceiveMode::default())
        });
        let n = match step {
            Ok((n, _)) => n,
            Err(Failure::Timeout { after, .. }) => {
                let arrived = whole.offset + got as u64;
                let what = format!("only {arrived} of the {} expected bytes", whole.total);
                let detail = match whole.file {
                    None => format!(
                        "expected {}, got {}",
                        preview(expected),
                        preview(&expected[..got])
                    ),
                    Some(_) => format!("expected {}", whole.expected(expected)),
                };
                return Err(Failure::Timeout {
                    what,
                    after,
                    detail: Some(detail),
                });
            }
            Err(other) => {
                return Err(other.with_progress(whole.arrived(
                    expected,
                    got,
                    " had arrived as expected",
                )));
            }
        };
        if n == 0 {
            return Err(Failure::Assertion(format!(
                "expected {}, but the stream ended after {}",
                whole.expected(expected),
                whole.arrived(expected, got, "")
            )));
        }
        if buffer[..n] != expected[got..got + n] {
            let mut actual = expected[..got].to_vec();
            actual.extend_from_slice(&buffer[..n]);
            let local = got + first_difference(&buffer[..n], &expected[got..]);
            let at = whole.offset + local as u64;
            return Err(Failure::Assertion(match whole.file {
                None => format!(
                    "expected {}, got {} (first difference at byte {at})",
                    preview(expected),
                    preview(&actual)
                ),
                Some(path) => format!(
                    "the stream differs from {} at byte {at}: expected {}, got {}",
                    path.display(),
                    preview(&expected[local..(local + 16).min(expected.len())]),
                    preview(&actual[local..(local + 16).min(actual.len())])
                ),
            }));
        }
        got += n;
    }
    Ok(expected.len() as u64)
}

fn expect_file(
    session: &Session,
    handle: &Handle,
    path: &Path,
    deadline: Deadline,
) -> Result<u64, Failure> {
    let mut file = open_data_file(path)?;
    let total = file.metadata().map_err(Failure::from)?.len();
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut whole = Whole {
        offset: 0,
        total,
        file: Some(path),
    };
    loop {
        let n = file.read(&mut chunk).map_err(Failure::from)?;
        if n == 0 {
            return Ok(whole.offset);
        }
        whole.offset += expect_stream(session, handle, &chunk[..n], &whole, deadline)?;
    }
}

fn expect_datagram(
    session: &Session,
    handle: &Handle,
    expected: &[u8],
    deadline: Deadline,
) -> Result<u64, Failure> {
    let mut buffer = vec![0u8; DATAGRAM_BUFFER];
    let datagram = ReceiveMode {
        datagram: true,
        want_from: false,
    };
    let (size, _) = session.retry(handle, libc::POLLIN, deadline, "no datagram", |h| {
        h.receive(&mut buffer, datagram)
    })?;
    let actual = &buffer[..size.min(buffer.len())];
    if size != expected.len() || actual != expected {
        let cut = if size > actual.len() {
            format!(" (a datagram of {size} bytes)")
        } else {
            String::new()
        };
        return Err(Failure::Assertion(format!(
            "expected the datagram {}, got {}{cut}",
            preview(expected),
            preview(actual)
        )));
    }
    Ok(size as u64)
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[derive(Debug, Clone)]
pub struct ExpectEof {
    name: String,
}

impl ExpectEof {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        Ok(ExpectEof {
            name: args.handle()?,
        })
    }

}

impl Run for ExpectEof {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let handle = session.handle(&self.name)?;
        if !handle.has_end_of_stream() {
            return Err(Failure::usage(format!(
                "{} is a datagram socket: it has no end of stream (an empty datagram is just a datagram)",
                self.name
            )));
        }
        let deadline = session.deadline(handle);
        let mut buffer = [0u8; 64];
        let (n, _) = session.retry(handle, libc::POLLIN, deadline, "no end of stream", |h| {
            h.receive(&mut buffer, ReceiveMode::default())
        })?;
        if n > 0 {
            return Err(Failure::Assertion(format!(
                "expected end of stream, got {}",
                bytes_literal(&buffer[..n])
            )));
        }
        Ok(Outcome::EndOfStreamExpected)
    }
}

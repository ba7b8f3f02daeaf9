//! `expect` and `expect_eof`: assertions about what arrives next.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::send::{datagram_bytes, open_data_file};
use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::data::{bytes_literal, hexdump, preview, Data};
use crate::errors::Failure;
use crate::framing::{self, Stop, Stopped, DEFAULT_MAX, SHOWN_ARRIVED};
use crate::handle::{Handle, ReceiveMode};
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, DataArg, SyntaxError};
use crate::pattern::{as_written, Pattern};
use crate::session::expand::Show;
use crate::session::Session;
use crate::tls::StreamEnd;
use crate::wait::CommandDeadline;

pub const SPECS: &[Spec] = &[EXPECT, EXPECT_EOF];

pub const EXPECT: Spec = Spec {
    name: "expect",
    synopsis: "expect NAME DATA|--hex HEX|--file PATH | expect NAME --re REGEX [--max N] [--hex]",
    summary: "Assert that exactly these bytes arrive next (several recv() calls if needed; on a \
              datagram socket, one whole datagram). Different bytes, an early end of stream or a \
              timeout fail and show expected against all that arrived. With --re, receive until \
              the unread bytes match REGEX from their start (as re.match; bytes, Unicode off \
              unless (?u)), take exactly the match and store its named groups as variables.",
    python: "assert s.recv(12) == b'Hello, world'",
    example: "expect cli 'Hello, world'",
    args: &[Slot::Handle(Fits::NotListening), Slot::Data],
    repeats: false,
    flags: &[
        Flag::with("--hex", Slot::Value),
        Flag::with("--file", Slot::Path),
        Flag::with("--re", Slot::Value),
        Flag::with("--max", Slot::Value),
    ],
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
    expected: Expected,
}

/// What `expect` waits for.
#[derive(Debug, Clone)]
enum Expected {
    /// Exactly these bytes; `hex` shows a mismatch as hexdumps.
    Data { data: DataArg, hex: bool },
    /// Bytes that match a pattern from their start.
    Pattern {
        pattern: Pattern,
        max: Arg<usize>,
        hex: bool,
    },
}

impl Expect {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        if let Some(word) = args.option("--re")? {
            let source = word
                .literal()
                .ok_or_else(|| args.usage_error("a pattern cannot use ${...}"))?;
            let pattern = Pattern::parse(source).map_err(SyntaxError::new)?;
            let max = parse_max(args)?;
            let hex = args.flag("--hex");
            let name = args.handle()?;
            return Ok(Expect {
                name,
                expected: Expected::Pattern { pattern, max, hex },
            });
        }
        if args.option("--max")?.is_some() {
            return Err(args.usage_error("--max goes with --re"));
        }
        let hex = args.contains("--hex");
        let option = args.data_option()?;
        let name = args.handle()?;
        Ok(Expect {
            name,
            expected: Expected::Data {
                data: args.data(option)?,
                hex,
            },
        })
    }
}

/// `--max N`: how many bytes a framed receive looks at (N may be
/// `${NAME}`, read when the command runs).
pub fn parse_max(args: &mut Args) -> Result<Arg<usize>, SyntaxError> {
    Ok(args
        .option_arg("--max", max_value)?
        .unwrap_or(Arg::Ready(DEFAULT_MAX)))
}

fn max_value(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad --max '{text}': a number of bytes from 1 to {MAX_MAX}"
        )),
    }
}

/// The largest `--max`.
const MAX_MAX: usize = 64 << 20;

impl Run for Expect {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        match &self.expected {
            Expected::Data { data, hex } => self.expect_data(session, data, *hex),
            Expected::Pattern { pattern, max, hex } => {
                let max = *session.resolve(max)?;
                self.expect_pattern(session, pattern, max, *hex)
            }
        }
    }

    fn sets(&self) -> Vec<String> {
        match &self.expected {
            Expected::Pattern { pattern, .. } => pattern.group_names(),
            Expected::Data { .. } => Vec::new(),
        }
    }
}

impl Expect {
    fn expect_data(
        &self,
        session: &mut Session,
        data: &DataArg,
        hex: bool,
    ) -> Result<Outcome, Failure> {
        let resolved = session.resolve_data(data)?;
        let (data, captured) = (resolved.data, resolved.captured);
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let datagram = handle.keeps_boundaries();
        let result = if datagram {
            let bytes = datagram_bytes(&data)?;
            expect_datagram(session, handle, &bytes, hex, &deadline)
        } else {
            match &*data {
                Data::Bytes(bytes) => {
                    let whole = Whole {
                        offset: 0,
                        total: bytes.len() as u64,
                        file: None,
                        hex,
                    };
                    expect_stream(session, handle, bytes, &whole, &deadline)
                }
                Data::File(path) => expect_file(session, handle, path, &deadline),
            }
        };
        if datagram && result.is_ok() {
            session.note_datagram_sender(&self.name);
        }
        let count = match (result, &*data) {
            (Ok(count), _) => count,
            // A captured value differs from run to run: under --stable the
            // failure shows the expected bytes as the script wrote them.
            (Err(failure), Data::Bytes(bytes)) if captured && session.stable => {
                let (written, hex_word) = match data_arg_word(self) {
                    Some((word, hex_word)) => (session.show_word(word, Show::Echo)?, hex_word),
                    None => return Err(failure),
                };
                let written = match hex_word {
                    true => format!("--hex '{written}'"),
                    false => format!("'{written}'"),
                };
                // Its length too, in a count of the expected bytes.
                let total = format!(" of the {} expected bytes", bytes.len());
                return Err(failure
                    .replace_text(&hexdump(bytes), &written)
                    .replace_text(&preview(bytes), &written)
                    .replace_text(&total, " of the <N> expected bytes"));
            }
            (Err(failure), _) => return Err(failure),
        };
        Ok(Outcome::Expected { count, captured })
    }

    fn expect_pattern(
        &self,
        session: &mut Session,
        pattern: &Pattern,
        max: usize,
        hex: bool,
    ) -> Result<Outcome, Failure> {
        let handle = session.handle(&self.name)?;
        let deadline = session.deadline(handle);
        let matched = if handle.keeps_boundaries() {
            let datagram = receive_datagram(session, handle, &deadline)?;
            if !pattern.matches_whole(&datagram) {
                return Err(Failure::Assertion(format!(
                    "the datagram does not match {}: {}",
                    as_written(&pattern.source),
                    shown_arrived(&datagram, hex)
                )));
            }
            session.note_datagram_sender(&self.name);
            datagram
        } else {
            let what = format!("bytes matching {}", as_written(&pattern.source));
            framing::receive_frame(session, handle, max, deadline.start(), &what, |seen, ended| {
                pattern.search(seen, ended)
            })
            .map_err(|stopped| pattern_failure(pattern, max, hex, stopped))?
        };
        let groups = pattern.named_groups(&matched);
        for (name, value) in &groups {
            session.vars.capture(name, value.clone());
        }
        Ok(Outcome::Matched {
            count: matched.len() as u64,
            fixed_length: pattern.fixed_length(),
            groups: groups.into_iter().map(|(name, _)| name).collect(),
        })
    }
}

/// The DATA word of an `expect`, when it waited for run time, and whether
/// it is the value of `--hex`.
fn data_arg_word(expect: &Expect) -> Option<(&crate::lexer::Word, bool)> {
    match &expect.expected {
        Expected::Data {
            data: DataArg::Word(word),
            ..
        } => Some((word, false)),
        Expected::Data {
            data: DataArg::Later(Arg::Later(word, _)),
            ..
        } => Some((word, true)),
        _ => None,
    }
}

/// Why no match was taken, with the pattern and all that arrived.
fn pattern_failure(pattern: &Pattern, max: usize, hex: bool, stopped: Stopped) -> Failure {
    let arrived = shown_arrived(&stopped.arrived, hex);
    let source = as_written(&pattern.source);
    match stopped.stop {
        Stop::Timeout(Failure::Timeout { what, after, .. }) => Failure::Timeout {
            what: format!("no {what}"),
            after,
            detail: Some(arrived),
        },
        Stop::Timeout(other) | Stop::Failed(other) => other.with_progress(arrived),
        Stop::Ended => Failure::Assertion(format!(
            "the stream ended with no match for {source}: {arrived}"
        )),
        Stop::Overrun => Failure::Assertion(format!(
            "no match for {source} in the first {max} bytes (--max {max}): {arrived}"
        )),
    }
}

/// All that arrived, as a failure shows it: a bytes literal (up to 1 KiB,
/// then a count of the rest), or with `--hex` a hexdump.
fn shown_arrived(arrived: &[u8], hex: bool) -> String {
    shown_arrived_of(arrived, arrived.len(), hex)
}

/// The same, when `arrived` is the start of `total` bytes.
fn shown_arrived_of(arrived: &[u8], total: usize, hex: bool) -> String {
    if !hex || arrived.is_empty() {
        return framing::describe_arrived(arrived);
    }
    let shown = &arrived[..arrived.len().min(SHOWN_ARRIVED)];
    let mut text = format!("{total} bytes had arrived:\n{}", hexdump(shown));
    if total > shown.len() {
        text.push_str(&format!("\n(and {} more bytes)", total - shown.len()));
    }
    text
}

/// The whole expectation a chunk belongs to, so that every message counts
/// bytes of the whole: all of the DATA, or all of a `--file`.
struct Whole<'a> {
    offset: u64,
    total: u64,
    file: Option<&'a Path>,
    /// The DATA was given with `--hex`: mismatches are shown as hexdumps.
    hex: bool,
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
            None => format!("{count}: {}", got_literal(&chunk[..got], got)),
            Some(_) => format!(
                "{count}: {}{}",
                got_literal(&chunk[..got], got),
                from_byte(self.offset)
            ),
        }
    }

    /// For DATA given with `--hex`: what was expected and the `got` bytes
    /// of it that arrived, as hexdumps (a timeout, an early end).
    fn hexdumps(&self, expected: &[u8], got: usize) -> Option<String> {
        (self.hex && self.file.is_none()).then(|| {
            format!(
                "expected\n{}\n{}",
                hexdump(expected),
                shown_arrived_of(&expected[..got], got, true)
            )
        })
    }

    /// A mismatch of DATA: expected against all that arrived, from the
    /// first byte of the DATA.
    /// `total`: how many bytes had arrived in all, `arrived` their start.
    fn mismatch(&self, expected: &[u8], arrived: &[u8], total: usize, at: usize) -> String {
        if self.hex {
            return format!(
                "the bytes differ at byte {at}: expected\n{}\n{}",
                hexdump(expected),
                shown_arrived_of(arrived, total, true)
            );
        }
        format!(
            "expected {}, got {} (first difference at byte {at})",
            preview(expected),
            got_literal(arrived, total)
        )
    }
}

/// All that arrived as a bytes literal: up to [`SHOWN_ARRIVED`] bytes of
/// `arrived`, the start of `total`, then a count of the rest.
fn got_literal(arrived: &[u8], total: usize) -> String {
    let shown = &arrived[..arrived.len().min(SHOWN_ARRIVED)];
    let mut got = bytes_literal(shown);
    if total > shown.len() {
        got.push_str(&format!(" and {} more bytes", total - shown.len()));
    }
    got
}

/// The unread bytes just after a failure, without taking them, so the
/// message shows all that arrived: as many as it quotes, and how many are
/// unread in all (FIONREAD).
fn unread(handle: &Handle) -> (Vec<u8>, usize) {
    let bytes = handle
        .look(SHOWN_ARRIVED + 1, true)
        .map(|view| view.bytes.to_vec())
        .unwrap_or_default();
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let asked = unsafe { libc::ioctl(handle.fd(), libc::FIONREAD, &mut queued) } == 0;
    let queued = usize::try_from(queued).unwrap_or(0);
    let seen = bytes.len();
    (bytes, if asked { queued.max(seen) } else { seen })
}

/// Receives exactly `expected` (one chunk of `whole`), failing at the
/// first byte that differs.
fn expect_stream(
    session: &Session,
    handle: &Handle,
    expected: &[u8],
    whole: &Whole,
    deadline: &CommandDeadline,
) -> Result<u64, Failure> {
    // Most expectations are short: keep their buffer on the stack, small
    // enough to zero without a memset call; a longer one gets a buffer
    // of its size.
    let mut small = [0u8; 64];
    let mut large;
    let buffer: &mut [u8] = if expected.len() <= small.len() {
        &mut small[..expected.len()]
    } else {
        large = vec![0u8; expected.len().min(FILE_CHUNK)];
        &mut large
    };
    let mut got = 0;
    while got < expected.len() {
        let want = (expected.len() - got).min(buffer.len());
        let step = session.retry(handle, libc::POLLIN, deadline, "the expected bytes", |h| {
            h.receive_bytes(&mut buffer[..want])
        });
        let n = match step {
            Ok(n) => n,
            Err(Failure::Timeout { after, .. }) => {
                return Err(expect_timeout(whole, expected, got, after));
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
            if let Some(dumps) = whole.hexdumps(expected, got) {
                return Err(Failure::Assertion(format!(
                    "the stream ended{} after {} of {} bytes: {dumps}",
                    truncation(handle),
                    whole.offset + got as u64,
                    whole.total
                )));
            }
            return Err(Failure::Assertion(format!(
                "expected {}, but the stream ended{} after {}",
                whole.expected(expected),
                truncation(handle),
                whole.arrived(expected, got, "")
            )));
        }
        if buffer[..n] != expected[got..got + n] {
            let mut actual = expected[..got].to_vec();
            actual.extend_from_slice(&buffer[..n]);
            let local = got + first_difference(&buffer[..n], &expected[got..]);
            let at = whole.offset + local as u64;
            // Everything that arrived: what this chunk took, then the
            // unread rest, as for DATA.
            let (more, queued) = unread(handle);
            let total = actual.len() + queued;
            actual.extend(more);
            return Err(Failure::Assertion(match whole.file {
                None => whole.mismatch(expected, &actual, total, at as usize),
                Some(path) => format!(
                    "expected the {} bytes of {} ({} at byte {at}), got {}{} (first difference at byte {at})",
                    whole.total,
                    path.display(),
                    preview(&expected[local..(local + 16).min(expected.len())]),
                    got_literal(&actual, total),
                    from_byte(whole.offset),
                ),
            }));
        }
        got += n;
    }
    Ok(expected.len() as u64)
}

/// The TIMEOUT of an `expect` on a stream: how much of the whole had
/// arrived, and what; "nothing arrived" rather than an empty literal,
/// which would read like an end of stream.
fn expect_timeout(whole: &Whole, expected: &[u8], got: usize, after: Duration) -> Failure {
    let arrived = whole.offset + got as u64;
    let (what, detail) = match (arrived, whole.file) {
        // --hex: what was expected and what arrived as hexdumps.
        (_, None) if whole.hex => (
            match arrived {
                0 => "nothing arrived".to_string(),
                _ => format!("only {arrived} of the {} expected bytes", whole.total),
            },
            whole.hexdumps(expected, got).unwrap_or_default(),
        ),
        (0, _) => (
            "nothing arrived".to_string(),
            format!("expected {}", whole.expected(expected)),
        ),
        (_, None) => (
            format!("only {arrived} of the {} expected bytes", whole.total),
            format!(
                "expected {}, got {}",
                preview(expected),
                got_literal(&expected[..got], got)
            ),
        ),
        (_, Some(_)) => (
            format!("only {arrived} of the {} expected bytes", whole.total),
            format!(
                "expected {}, got {}{}",
                whole.expected(expected),
                got_literal(&expected[..got], got),
                from_byte(whole.offset)
            ),
        ),
    };
    Failure::Timeout {
        what,
        after,
        detail: Some(detail),
    }
}

/// Where the bytes a `--file` message quotes start, when an earlier chunk
/// of the file was already taken: ` from byte 65536`.
fn from_byte(offset: u64) -> String {
    match offset {
        0 => String::new(),
        _ => format!(" from byte {offset}"),
    }
}

/// Says when a TLS stream's end was a truncation (no close_notify).
fn truncation(handle: &Handle) -> &'static str {
    match handle.io.tls_end() {
        Some(StreamEnd::Truncated) => " without close_notify (truncated)",
        _ => "",
    }
}

fn expect_file(
    session: &Session,
    handle: &Handle,
    path: &Path,
    deadline: &CommandDeadline,
) -> Result<u64, Failure> {
    // A file's time counts from its opening, as reading it may be slow.
    deadline.start();
    let mut file = open_data_file(path)?;
    let total = file.metadata().map_err(Failure::from)?.len();
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut whole = Whole {
        offset: 0,
        total,
        file: Some(path),
        hex: false,
    };
    loop {
        let n = file.read(&mut chunk).map_err(Failure::from)?;
        if n == 0 {
            return Ok(whole.offset);
        }
        whole.offset += expect_stream(session, handle, &chunk[..n], &whole, deadline)?;
    }
}

/// One whole datagram, its sender remembered for `${H.from}`.
fn receive_datagram(
    session: &Session,
    handle: &Handle,
    deadline: &CommandDeadline,
) -> Result<Vec<u8>, Failure> {
    let mut buffer = vec![0u8; DATAGRAM_BUFFER];
    let datagram = ReceiveMode {
        datagram: true,
        want_from: true,
    };
    let (size, _) = session.retry(handle, libc::POLLIN, deadline, "no datagram", |h| {
        h.receive(&mut buffer, datagram)
    })?;
    buffer.truncate(size.min(DATAGRAM_BUFFER));
    Ok(buffer)
}

fn expect_datagram(
    session: &Session,
    handle: &Handle,
    expected: &[u8],
    hex: bool,
    deadline: &CommandDeadline,
) -> Result<u64, Failure> {
    let actual = receive_datagram(session, handle, deadline)?;
    if actual != expected {
        let message = match hex {
            true => format!(
                "expected the datagram\n{}\n{}",
                hexdump(expected),
                shown_arrived(&actual, true)
            ),
            false => format!(
                "expected the datagram {}, got {}",
                preview(expected),
                got_literal(&actual, actual.len())
            ),
        };
        return Err(Failure::Assertion(message));
    }
    Ok(actual.len() as u64)
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
        let n = session.retry(handle, libc::POLLIN, &deadline, "no end of stream", |h| {
            h.receive_bytes(&mut buffer)
        })?;
        if n > 0 {
            return Err(Failure::Assertion(format!(
                "expected end of stream, got {}",
                bytes_literal(&buffer[..n])
            )));
        }
        match handle.io.tls_end() {
            None => Ok(Outcome::EndOfStreamExpected),
            Some(StreamEnd::CloseNotify) => Ok(Outcome::CloseNotifyExpected),
            Some(StreamEnd::Truncated) => Err(Failure::Assertion(
                "expected a clean end of stream, but the connection ended without close_notify \
                 (truncated: the peer closed TCP without ending TLS, so what came may be cut short)"
                    .to_string(),
            )),
        }
    }
}

impl crate::export::Export for Expect {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let datagram = out.keeps_boundaries(&self.name);
        let plain = out.is_plain(&self.name);
        out.asserts();
        match &self.expected {
            Expected::Data { data, .. } => {
                if let Some(path) = out.data_file(data) {
                    if !datagram {
                        out.helper("expect_file");
                        out.line(format!("expect_file({s}, {path})"));
                        return Ok(());
                    }
                }
                let expected = out.data(data);
                let literal = matches!(data, DataArg::Ready(Data::Bytes(_)));
                let (wanted, length) = match (literal, data) {
                    (true, DataArg::Ready(Data::Bytes(bytes))) => (expected, bytes.len().to_string()),
                    _ => {
                        out.line(format!("expected = {expected}"));
                        ("expected".to_string(), "len(expected)".to_string())
                    }
                };
                if datagram && plain {
                    out.line(format!("data, {s}_from = {s}.recvfrom(65536)"));
                } else if datagram {
                    out.helper("io");
                    out.line(format!("data = receive({s}, 65536)"));
                } else {
                    out.helper("read_exactly");
                    out.line(format!("data = recvn({s}, {length})"));
                }
                out.line(format!("assert data == {wanted}, data"));
            }
            Expected::Pattern { pattern, max, .. } => {
                let regex = out.pattern(&pattern.source)?;
                out.import("re");
                let m = if datagram {
                    if plain {
                        out.line(format!("data, {s}_from = {s}.recvfrom(65536)"));
                    } else {
                        out.helper("io");
                        out.line(format!("data = receive({s}, 65536)"));
                    }
                    out.line(format!("m = re.fullmatch({regex}, data)"));
                    out.line("assert m, data");
                    "m"
                } else {
                    let max = out.number(max);
                    out.helper("expect_re");
                    out.line(format!("m = expect_re({s}, {regex}, {max})"));
                    "m"
                };
                for name in pattern.group_names() {
                    out.constants.insert(name.clone(), None);
                    // A group that took no part is empty, as in sockrepl.
                    out.line(format!(
                        "{} = {m}.group({}) or b''",
                        crate::export::python::variable(&name),
                        crate::export::python::str_repr(&name)
                    ));
                }
            }
        }
        Ok(())
    }
}

impl crate::export::Export for ExpectEof {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        if out.keeps_boundaries(&self.name) {
            out.fail(&format!(
                "expect_eof needs a stream: {} is a datagram socket, which has no end",
                self.name
            ));
            return Ok(());
        }
        out.asserts();
        if out.is_plain(&self.name) {
            out.line(format!("data = {s}.recv(1)"));
        } else {
            out.helper("io");
            out.line(format!("data = receive({s}, 1, truncated_ok=False)"));
        }
        out.line("assert data == b'', data  # the end of stream");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::HandleTimeout;
    use crate::kind::Kind;
    use crate::transcript::Transcript;
    use socket2::{Domain, Socket, Type};
    use std::time::Instant;

    /// Bytes that keep coming a piece at a time for longer than the
    /// timeout: the `expect` still gives up at its timeout, as the
    /// deadline its first wait started bounds every wait after it (one
    /// that started again with each piece would wait for all of them).
    #[test]
    fn an_expect_whose_bytes_come_in_pieces_times_out_at_its_timeout() {
        let kind = Kind::from_short("unix").unwrap();
        let (ours, theirs) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
        let mut session = Session::new(Transcript::memory(), false);
        session.insert_socket("b", ours, kind).unwrap();
        let timeout = Duration::from_millis(400);
        session.handle_mut("b").unwrap().timeout = HandleTimeout::After(timeout);
        // One byte every 100 ms, for 3 s in all.
        let pieces = 30;
        let peer = std::thread::spawn(move || {
            for _ in 0..pieces {
                if theirs.send_with_flags(b"x", libc::MSG_NOSIGNAL).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let expect = Expect {
            name: "b".to_string(),
            expected: Expected::Data {
                data: DataArg::Ready(Data::Bytes(vec![b'x'; pieces])),
                hex: false,
            },
        };
        let started = Instant::now();
        let result = expect.apply(&mut session);
        let took = started.elapsed();
        drop(session); // closes b: the peer's next send fails, and it ends
        peer.join().unwrap();
        assert!(
            matches!(result, Err(Failure::Timeout { after, .. }) if after == timeout),
            "{result:?}"
        );
        assert!(took >= timeout, "gave up after {took:?}, before its timeout");
        assert!(
            took < Duration::from_millis(2000),
            "gave up after {took:?}: each piece started the timeout again"
        );
    }
}

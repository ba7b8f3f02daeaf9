//! Where the transcript goes: stdout or memory, batched, flushed before
//! every wait on the network so nothing shown is ever held back.

use std::cell::RefCell;
use std::io::{self, Write};

pub struct Transcript {
    sink: RefCell<Sink>,
}

/// The transcript's bytes: for stdout, those not written yet; for memory,
/// all of them. A plain buffer, so a line costs one copy (a `BufWriter`
/// behind `dyn Write` cost more than the round trip's system call).
struct Sink {
    buffer: String,
    to_stdout: bool,
}

/// How much stdout text is held before it is written without a flush.
const BATCH: usize = 64 * 1024;

impl Transcript {
    pub fn stdout() -> Self {
        Transcript::new(true)
    }

    pub fn memory() -> Self {
        Transcript::new(false)
    }

    fn new(to_stdout: bool) -> Self {
        let capacity = if to_stdout { BATCH + 4096 } else { 0 };
        Transcript {
            sink: RefCell::new(Sink {
                buffer: String::with_capacity(capacity),
                to_stdout,
            }),
        }
    }

    /// Writes one or more lines (a trailing newline is added).
    pub fn line(&self, text: &str) {
        self.line_built(true, |buffer| buffer.push_str(text));
    }

    /// Writes the line that `build` appends, in place: a command's echo
    /// and outcome are rendered straight into the transcript, not into a
    /// string copied there. Nothing is written when `build` appends
    /// nothing, unless `empty_is_a_line`.
    pub fn line_built(&self, empty_is_a_line: bool, build: impl FnOnce(&mut String)) {
        let mut sink = self.sink.borrow_mut();
        let start = sink.buffer.len();
        build(&mut sink.buffer);
        if sink.buffer.len() == start && !empty_is_a_line {
            return;
        }
        if !printable_ascii(&sink.buffer.as_bytes()[start..]) {
            let built = sink.buffer.split_off(start);
            sink.buffer.push_str(&terminal_safe(&built));
        }
        sink.buffer.push('\n');
        sink.write_if_full();
    }

    /// Writes a line that was checked when it was made.
    pub fn checked_line(&self, line: &CheckedLine) {
        let mut sink = self.sink.borrow_mut();
        sink.buffer.push_str(&line.0);
        sink.write_if_full();
    }

    /// Writes text without ending the line (`run --step` leaves the
    /// cursor after the command, where the user's Enter ends the line).
    pub fn text(&self, text: &str) {
        let mut sink = self.sink.borrow_mut();
        sink.buffer.push_str(&terminal_safe(text));
        sink.write_if_full();
    }

    pub fn flush(&self) {
        self.sink.borrow_mut().write_out();
    }

    /// Takes what was written to a memory transcript.
    pub fn take(&self) -> Vec<u8> {
        let mut sink = self.sink.borrow_mut();
        match sink.to_stdout {
            true => Vec::new(),
            false => std::mem::take(&mut sink.buffer).into_bytes(),
        }
    }
}

impl Sink {
    fn write_if_full(&mut self) {
        if self.buffer.len() >= BATCH {
            self.write_out();
        }
    }

    /// Writes what stdout has not had yet; a memory transcript keeps it.
    fn write_out(&mut self) {
        if !self.to_stdout || self.buffer.is_empty() {
            return;
        }
        let mut stdout = io::stdout().lock();
        // A closed stdout (a pager quit early) must not kill the session:
        // what it refused is dropped, as a `BufWriter` dropped it.
        let _ = stdout
            .write_all(self.buffer.as_bytes())
            .and_then(|()| stdout.flush());
        self.buffer.clear();
    }
}

/// A line passed through [`terminal_safe`] once, when it was made, to be
/// written any number of times: a script line's echo, shown at every run
/// of the line.
#[derive(Debug)]
pub struct CheckedLine(String);

impl CheckedLine {
    pub fn new(text: String) -> Self {
        let mut line = match terminal_safe(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(safe) => safe,
        };
        line.push('\n');
        CheckedLine(line)
    }

    /// The line as it is shown, without its newline.
    pub fn text(&self) -> &str {
        &self.0[..self.0.len() - 1]
    }
}

/// The last guard: no control character but the line breaks and tabs the
/// transcript's own layout uses ever reaches stdout, so nothing a script
/// or a peer wrote becomes an escape sequence at the teacher's terminal
/// (ESC, CSI as the C1 byte 0x9b, CR, BEL, DEL...). Every source of user
/// text escapes its own newlines before this.
fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if printable_ascii(text.as_bytes()) || !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if unsafe_char(c) => safe.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => safe.push(c),
        }
    }
    std::borrow::Cow::Owned(safe)
}

/// Whether every byte is printable ASCII (space to `~`): the common line,
/// checked eight bytes at a time (the last eight overlapping the ones
/// before, rather than a byte at a time).
fn printable_ascii(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().all(|&b| matches!(b, b' '..=b'~'));
    }
    let mut chunks = bytes.chunks_exact(8);
    let all_chunks = chunks.all(printable_word);
    all_chunks && printable_word(&bytes[bytes.len() - 8..])
}

/// Whether eight bytes are all printable ASCII.
fn printable_word(eight: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let x = u64::from_ne_bytes(eight.try_into().expect("eight bytes"));
    // A byte below 0x20, or above 0x7e, sets its high bit here.
    let below_space = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
    // (0x7f - 0x7e = 1 in each byte carries a byte above 0x7e into bit 7.)
    let above_tilde = (x.wrapping_add(ONES) | x) & HIGH;
    below_space | above_tilde == 0
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_exact_for_every_byte_in_every_position() {
        for byte in 0..=255u8 {
            let printable = (b' '..=b'~').contains(&byte);
            for len in 1..27 {
                for at in 0..len {
                    let mut line = vec![b'a'; len];
                    line[at] = byte;
                    let got = printable_ascii(&line);
                    assert_eq!(got, printable, "byte {byte:#x} at {at} of {len}");
                }
            }
        }
        assert!(printable_ascii(b""));
    }

    #[test]
    fn a_checked_line_is_made_safe_once_and_written_as_made() {
        let line = CheckedLine::new("> print \x1b[2J".to_string());
        assert_eq!(line.text(), "> print \\x1b[2J");
        let transcript = Transcript::memory();
        transcript.checked_line(&line);
        transcript.checked_line(&line);
        assert_eq!(transcript.take(), b"> print \\x1b[2J\n> print \\x1b[2J\n");
    }

    #[test]
    fn text_without_a_line_end_goes_through_the_guard_too() {
        let transcript = Transcript::memory();
        transcript.text("> print \x1b]0;x\x07");
        assert_eq!(transcript.take(), b"> print \\x1b]0;x\\x07");
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(terminal_safe("sent 1 byte"), "sent 1 byte");
        assert_eq!(terminal_safe("a\tb\nc"), "a\tb\nc");
        assert_eq!(terminal_safe("\x1b[2Jé\u{9b}"), "\\x1b[2Jé\\x9b");
    }
}

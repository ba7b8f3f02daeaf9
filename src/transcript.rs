//! Where the transcript goes: stdout or memory, batched, flushed before
//! every wait on the network so nothing shown is ever held back.

use std::cell::RefCell;
use std::io::{self, Write};

pub struct Transcript {
    sink: RefCell<Sink>,
}

enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    Memory(Vec<u8>),
}

impl Transcript {
    pub fn stdout() -> Self {
        let writer = io::BufWriter::with_capacity(64 * 1024, io::stdout());
        Transcript {
            sink: RefCell::new(Sink::Stdout(writer)),
        }
    }

    pub fn memory() -> Self {
        Transcript {
            sink: RefCell::new(Sink::Memory(Vec::new())),
        }
    }

    /// Writes one or more lines (a trailing newline is added).
    pub fn line(&self, text: &str) {
        let mut sink = self.sink.borrow_mut();
        let writer: &mut dyn Write = match &mut *sink {
            Sink::Stdout(writer) => writer,
            Sink::Memory(buffer) => buffer,
        };
        // A closed stdout (a pager quit early) must not kill the session.
        let _ = writer.write_all(terminal_safe(text).as_bytes());
        let _ = writer.write_all(b"\n");
    }

    /// Writes text without ending the line (`run --step` leaves the
    /// cursor after the command, where the user's Enter ends the line).
    pub fn text(&self, text: &str) {
        let mut sink = self.sink.borrow_mut();
        let writer: &mut dyn Write = match &mut *sink {
            Sink::Stdout(writer) => writer,
            Sink::Memory(buffer) => buffer,
        };
        let _ = writer.write_all(text.as_bytes());
    }

    pub fn flush(&self) {
        if let Sink::Stdout(writer) = &mut *self.sink.borrow_mut() {
            let _ = writer.flush();
        }
    }

    /// Takes what was written to a memory transcript.
    pub fn take(&self) -> Vec<u8> {
        match &mut *self.sink.borrow_mut() {
            Sink::Memory(buffer) => std::mem::take(buffer),
            Sink::Stdout(_) => Vec::new(),
        }
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
/// checked eight bytes at a time.
fn printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
        // A byte below 0x20, or above 0x7e, sets its high bit here.
        let below_space = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        // (0x7f - 0x7e = 1 in each byte carries a byte above 0x7e into bit 7.)
        let above_tilde = (x.wrapping_add(ONES) | x) & HIGH;
        if below_space | above_tilde != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| matches!(b, b' '..=b'~'))
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
            for at in 0..17 {
                let mut line = vec![b'a'; 17];
                line[at] = byte;
                assert_eq!(printable_ascii(&line), printable, "byte {byte:#x} at {at}");
            }
        }
        assert!(printable_ascii(b""));
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(terminal_safe("sent 1 byte"), "sent 1 byte");
        assert_eq!(terminal_safe("a\tb\nc"), "a\tb\nc");
        assert_eq!(terminal_safe("\x1b[2Jé\u{9b}"), "\\x1b[2Jé\\x9b");
    }
}

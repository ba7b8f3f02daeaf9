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
    // Printable ASCII, the common case, is checked without decoding (and
    // without an early exit, so the loop is vectorised).
    let odd = |b: u8| !matches!(b, b' '..=b'~' | b'\n' | b'\t');
    let all_plain = !text.as_bytes().iter().fold(false, |seen, &b| seen | odd(b));
    if all_plain || !text.chars().any(unsafe_char) {
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

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush();
    }
}

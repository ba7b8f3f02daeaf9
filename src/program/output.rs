//! The user-space buffer in front of a program's merged stdout/stderr pipe.
//!
//! A pipe has no `MSG_PEEK`: once read, bytes are gone from the kernel. So
//! `recvline`, `expect --re` and friends look at what this buffer holds and
//! consume only what they match; the rest waits here for the next command
//! (SPEC §13: "no byte of it is lost between commands"). Memory is bounded:
//! past the cap the caller must consume before more is read.

use nix::errno::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::ProgramError;

/// Largest amount of unread output kept in memory.
pub const OUTPUT_CAP: usize = 64 << 20;

/// How much one `read(2)` asks for.
const READ_CHUNK: usize = 64 << 10;

/// Reads per `fill`: a program that writes as fast as we read must not
/// keep one `fill` call going forever.
const READS_PER_FILL: usize = 64;

/// Bytes read from the pipe and not yet consumed, in the order written.
#[derive(Debug)]
pub struct OutputBuffer {
    pipe: OwnedFd,
    bytes: Vec<u8>,
    /// Index of the first unconsumed byte in `bytes`.
    start: usize,
    at_end: bool,
    cap: usize,
}

impl OutputBuffer {
    /// `pipe` must be the non-blocking read end.
    pub fn new(pipe: OwnedFd) -> Self {
        Self::with_cap(pipe, OUTPUT_CAP)
    }

    pub fn with_cap(pipe: OwnedFd, cap: usize) -> Self {
        OutputBuffer {
            pipe,
            bytes: Vec::new(),
            start: 0,
            at_end: false,
            cap,
        }
    }

    /// The unread bytes, oldest first.
    pub fn buffered(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Forgets the first `n` unread bytes (`n` is clamped to what is there).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.bytes.len() - self.start);
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
    }

    /// The program side closed the pipe (every writer exited or closed
    /// fds 1 and 2): nothing more will ever arrive.
    pub fn at_end(&self) -> bool {
        self.at_end
    }

    /// The descriptor to poll for `POLLIN` (meaningless once `at_end`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }

    /// Reads whatever the pipe holds now, without blocking; returns how
    /// many bytes were added (0: nothing yet, or the end was reached).
    pub fn fill(&mut self) -> Result<usize, ProgramError> {
        let mut added = 0;
        for _ in 0..READS_PER_FILL {
            if self.at_end {
                break;
            }
            let room = self.cap - self.buffered().len().min(self.cap);
            if room == 0 {
                if added == 0 {
                    return Err(ProgramError::OutputFull { cap: self.cap });
                }
                break;
            }
            match self.read_once(room.min(READ_CHUNK)) {
                Ok(0) => self.at_end = true,
                Ok(n) => added += n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(ProgramError::sys("read", errno)),
            }
        }
        Ok(added)
    }

    /// One `read(2)` appended to the buffer.
    fn read_once(&mut self, want: usize) -> Result<usize, Errno> {
        self.compact();
        let old_len = self.bytes.len();
        self.bytes.resize(old_len + want, 0);
        let result = nix::unistd::read(&self.pipe, &mut self.bytes[old_len..]);
        self.bytes
            .truncate(old_len + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Moves the unread bytes to the front once the consumed prefix is the
    /// larger part, so the vector does not grow without bound.
    fn compact(&mut self) {
        if self.start > 0 && self.start >= self.bytes.len() - self.start {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
    }
}

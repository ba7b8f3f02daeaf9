//! A program handle: a running program's pipes behind the same [`Io`]
//! interface as a socket (SPEC §13).
//!
//! Receiving reads the program's merged stdout and stderr, through the
//! program layer's buffer: `recv` takes from the buffer first and reads
//! the pipe only when it is empty, and a framed receive looks at the
//! buffer and consumes exactly its frame, so no byte is lost or reordered
//! between commands. Sending writes its stdin. Waiting to write also
//! drains its output, so a program that answers as it reads (`cat`) can
//! never block the two of us on two full pipes.

use socket2::SockAddr;
use std::cell::{Ref, RefCell};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use super::{Io, ReceiveMode, View};
use crate::errors::Failure;
use crate::program::{ExitStatus, Program, ProgramError, DEFAULT_GRACE, FALLBACK_TICK};
use crate::wait::{poll_many, Deadline};

/// A running (or exited, not yet closed) program.
pub struct ProgramIo {
    program: RefCell<Program>,
    /// The output pipe's descriptor, for `poll_fd`: the program owns it
    /// for as long as this handle lives.
    output_fd: RawFd,
    /// The stdin pipe's descriptor until `shutdown NAME write` closes it
    /// (which takes `&mut self`, so no borrowed copy outlives it).
    stdin_fd: Option<RawFd>,
}

impl ProgramIo {
    pub fn new(program: Program) -> Self {
        let output_fd = program.output_fd().as_raw_fd();
        let stdin_fd = program.stdin_fd().map(|fd| fd.as_raw_fd());
        ProgramIo {
            program: RefCell::new(program),
            output_fd,
            stdin_fd,
        }
    }

    /// The program itself, for `wait`, `signal`, `sockets`.
    pub fn program(&self) -> Ref<'_, Program> {
        self.program.borrow()
    }

    pub fn program_mut(&mut self) -> &mut Program {
        self.program.get_mut()
    }

    /// `shutdown NAME write`: the program reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin_fd = None;
        self.program.get_mut().close_stdin();
    }

    pub fn stdin_open(&self) -> bool {
        self.stdin_fd.is_some()
    }

    /// How it ended, reaping it if it has exited; never blocks.
    pub fn status_now(&mut self) -> Option<ExitStatus> {
        self.program.get_mut().try_wait().ok().flatten()
    }

    /// `close`: SIGTERM to its group, SIGKILL after the grace, reaped.
    pub fn end(&mut self, grace: Duration) -> Result<ExitStatus, ProgramError> {
        self.stdin_fd = None;
        self.program.get_mut().terminate(grace)
    }

    /// Waits until the program exits (reaping it), buffering its output
    /// meanwhile so a chatty program cannot block on a full pipe. The
    /// session's poll machinery watches Ctrl-C and the deadline.
    pub fn wait_exit(&self, deadline: Deadline, what: &str) -> Result<ExitStatus, Failure> {
        loop {
            let status = self.program.borrow_mut().try_wait();
            if let Some(status) = status.map_err(|e| program_failure(&e))? {
                // All it wrote before it exited is in the pipe by now.
                self.drain();
                return Ok(status);
            }
            let exit_fd = self.program.borrow().exit_fd().map(|fd| fd.as_raw_fd());
            let drain = self.drainable();
            // SAFETY: the pidfd and the output pipe belong to the program,
            // which lives as long as `self`; only `try_wait` (not called
            // while these are borrowed) drops the pidfd.
            let mut fds = Vec::with_capacity(2);
            if let Some(fd) = exit_fd {
                fds.push((unsafe { BorrowedFd::borrow_raw(fd) }, libc::POLLIN));
            }
            if drain {
                fds.push((
                    unsafe { BorrowedFd::borrow_raw(self.output_fd) },
                    libc::POLLIN,
                ));
            }
            // Without a pidfd nothing tells when it exits: look again soon.
            let until = match exit_fd {
                Some(_) => deadline,
                None => deadline.earlier(FALLBACK_TICK),
            };
            match poll_many(&fds, until, what) {
                Ok(_) => {}
                Err(Failure::Timeout { .. }) if !deadline.expired() => {}
                Err(failure) => return Err(failure),
            }
            if drain {
                self.fill().map_err(Failure::from)?;
            }
        }
    }

    /// Sends `signal` to the program's process group; an exited program
    /// is reaped first, so the failure says how it ended.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> Result<(), Failure> {
        let mut program = self.program.borrow_mut();
        let _ = program.try_wait();
        program.signal(signal).map_err(|e| program_failure(&e))
    }

    /// Bytes of output buffered and not yet received, and those in the
    /// stdin pipe the program has not read yet (for `sockets`).
    pub fn queues(&self) -> (u64, u64) {
        let unread = self.program.borrow().buffered().len() as u64;
        let in_pipe = |fd: RawFd| {
            let mut count: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int; the descriptor is ours.
            match unsafe { libc::ioctl(fd, libc::FIONREAD, &mut count) } {
                0 => count.max(0) as u64,
                _ => 0,
            }
        };
        let pending_output = in_pipe(self.output_fd);
        let pending_input = self.stdin_fd.map_or(0, in_pipe);
        (unread + pending_output, pending_input)
    }

    /// Everything the program wrote that nobody received, reading what
    /// its pipe still holds (never blocking), and how it ended.
    pub fn leftover_output(&self) -> (Vec<u8>, Option<ExitStatus>) {
        self.drain();
        let mut program = self.program.borrow_mut();
        let status = program.try_wait().ok().flatten();
        (program.buffered().to_vec(), status)
    }

    /// Reads everything the pipe holds now into the buffer, never blocking.
    fn drain(&self) {
        while self.drainable() && matches!(self.program.borrow_mut().fill(), Ok(n) if n > 0) {}
    }

    /// Reads what the pipe holds into the buffer (never blocking); a full
    /// buffer is not an error here, there is plenty to look at.
    fn fill(&self) -> io::Result<()> {
        match self.program.borrow_mut().fill() {
            Ok(_) | Err(ProgramError::OutputFull { .. }) => Ok(()),
            Err(error) => Err(to_io(error)),
        }
    }

    /// Polls stdin for room and the output for bytes until stdin takes
    /// more, buffering the output meanwhile.
    fn wait_writable(&self, deadline: Deadline, what: &str) -> Result<(), Failure> {
        let Some(stdin) = self.stdin_fd else {
            return Ok(()); // the write fails at once with EBADF
        };
        loop {
            let drain = self.drainable();
            // SAFETY: both descriptors belong to the program, which lives
            // as long as `self`; closing stdin needs `&mut self`.
            let (stdin, output) = unsafe {
                (
                    BorrowedFd::borrow_raw(stdin),
                    BorrowedFd::borrow_raw(self.output_fd),
                )
            };
            let mut fds = vec![(stdin, libc::POLLOUT)];
            if drain {
                fds.push((output, libc::POLLIN));
            }
            let ready = poll_many(&fds, deadline, what)?;
            if drain {
                self.fill().map_err(Failure::from)?;
            }
            if ready[0] != 0 {
                return Ok(());
            }
        }
    }

    /// Output can still be read into the buffer.
    fn drainable(&self) -> bool {
        let program = self.program.borrow();
        !program.at_end() && program.buffered().len() < crate::program::OUTPUT_CAP
    }
}

impl Io for ProgramIo {
    fn what(&self) -> &'static str {
        "a program"
    }

    fn as_program(&self) -> Option<&ProgramIo> {
        Some(self)
    }

    fn as_program_mut(&mut self) -> Option<&mut ProgramIo> {
        Some(self)
    }

    fn poll_fd(&self, events: i16) -> BorrowedFd<'_> {
        let fd = match self.stdin_fd {
            Some(stdin) if events & libc::POLLOUT != 0 && events & libc::POLLIN == 0 => stdin,
            _ => self.output_fd,
        };
        // SAFETY: see `wait_writable`: the program owns the descriptor for
        // as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(fd) }
    }

    fn readable_now(&self) -> bool {
        !self.program.borrow().buffered().is_empty()
    }

    fn keeps_boundaries(&self) -> bool {
        false
    }

    fn has_end_of_stream(&self) -> bool {
        true
    }

    fn receive(
        &self,
        buffer: &mut [u8],
        _mode: ReceiveMode,
    ) -> io::Result<(usize, Option<SockAddr>)> {
        if !self.readable_now() {
            self.fill()?;
        }
        let mut program = self.program.borrow_mut();
        let buffered = program.buffered();
        if buffered.is_empty() {
            return match program.at_end() {
                true => Ok((0, None)),
                false => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        let count = buffered.len().min(buffer.len());
        buffer[..count].copy_from_slice(&buffered[..count]);
        program.consume(count);
        Ok((count, None))
    }

    fn look(&self, max: usize, fresh: bool) -> io::Result<View<'_>> {
        let asked = fresh || !self.readable_now();
        if asked {
            self.fill()?;
        }
        let program = self.program.borrow();
        let unread = program.buffered().len();
        // Nothing more will come once the pipe has ended and the view
        // holds every byte left.
        let ended = program.at_end() && unread <= max;
        Ok(View {
            bytes: Ref::map(program, |p| &p.buffered()[..unread.min(max)]),
            fresh: asked,
            ended,
        })
    }

    fn take(&self, count: usize) -> io::Result<Vec<u8>> {
        let mut program = self.program.borrow_mut();
        let count = count.min(program.buffered().len());
        let taken = program.buffered()[..count].to_vec();
        program.consume(count);
        Ok(taken)
    }

    fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        self.program.borrow_mut().write(bytes).map_err(to_io)
    }

    fn wait_ready(&self, events: i16, deadline: Deadline, what: &str) -> Result<(), Failure> {
        if events & libc::POLLOUT != 0 {
            return self.wait_writable(deadline, what);
        }
        self.wait_readable(deadline, what)
    }

    fn failure_hint(&self, errno: nix::errno::Errno) -> Option<String> {
        match errno {
            nix::errno::Errno::EPIPE => {
                let status = self.program.borrow_mut().try_wait().ok().flatten();
                Some(match status {
                    Some(status) => format!("the program no longer reads its input: it {status}"),
                    None => "the program closed its stdin".to_string(),
                })
            }
            nix::errno::Errno::EBADF if self.stdin_fd.is_none() => {
                Some("its stdin is closed (shutdown NAME write closed it)".to_string())
            }
            _ => None,
        }
    }

    fn close(mut self: Box<Self>) -> Option<PathBuf> {
        let _ = self.end(DEFAULT_GRACE);
        None
    }
}

/// A failure of a running program's call (`wait`, `signal`) as the
/// transcript shows it: the sentence, and the errno where there is one so
/// `fails ESRCH signal ...` matches.
pub fn program_failure(error: &ProgramError) -> Failure {
    match error {
        ProgramError::Interrupted => Failure::Interrupted,
        other => match other.errno() {
            Some(errno) => Failure::Sys {
                errno,
                hint: Some(other.to_string()),
            },
            None => Failure::usage(other.to_string()),
        },
    }
}

/// A program-layer error as the `io::Error` the `Io` interface speaks,
/// keeping the errno so `fails EPIPE ...` matches.
fn to_io(error: ProgramError) -> io::Error {
    if error.would_block() {
        return io::ErrorKind::WouldBlock.into();
    }
    match error.errno() {
        Some(errno) => io::Error::from_raw_os_error(errno as i32),
        None => io::Error::other(error.to_string()),
    }
}

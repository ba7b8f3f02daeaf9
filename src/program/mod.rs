//! Running programs under test: the layer behind program handles (SPEC §13).
//!
//! A [`Program`] is a child process started without a shell, in its own
//! process group, with a pipe for stdin and one pipe for stdout and stderr
//! merged (so bytes arrive in the order the program wrote them). Every
//! descriptor it exposes is non-blocking, so the session waits on it in
//! its own poll loop, next to sockets and Ctrl-C. However the session
//! ends, the whole group is ended and the program reaped: by
//! [`Program::terminate`] (`close`), by `Drop`, or, on paths that drop
//! nothing, through [`registry`].
//!
//! Signals go to the whole group, not only the process we started: a
//! server wrapped in `sh -c` (or one that forked workers) is then reached
//! too, and `signal NAME SIGTERM` means the same as the `close` that ends
//! the same group.
//!
//! What survives `kill -9` of sockrepl itself: nothing. The direct child
//! dies of its PR_SET_PDEATHSIG (SIGKILL); its own children (the death
//! signal is not inherited across fork) are killed by the [`guardian`], a
//! small process that sees the end of sockrepl as the end of a pipe and
//! then sends SIGKILL to every process group still registered.

mod clone;
mod end;
mod error;
pub mod group;
mod guardian;
mod launch;
mod output;
mod reaper;
pub mod registry;
mod status;

pub use end::terminate_all;
pub use error::ProgramError;
pub use launch::SpawnRequest;
pub use output::OUTPUT_CAP;
pub use reaper::FALLBACK_TICK;
pub use status::{parse_signal, signal_name, signal_name_of, ExitStatus, ExpectedExit};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use output::OutputBuffer;
use reaper::Reaper;

/// `close`'s wait between SIGTERM and SIGKILL (SPEC §13).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(1);

/// One running (or finished, not yet forgotten) program.
#[derive(Debug)]
pub struct Program {
    pid: Pid,
    name: String,
    path: PathBuf,
    stdin: Option<OwnedFd>,
    output: OutputBuffer,
    reaper: Reaper,
    /// Set once the leader is reaped and no process of the group runs:
    /// from then on the group id may be recycled and must not be signalled.
    ended: bool,
}

impl Program {
    /// Starts the program (see [`SpawnRequest`]). Call it from the main
    /// thread or one that outlives the program: the child's death signal
    /// fires when the spawning *thread* exits.
    pub fn spawn(request: &SpawnRequest) -> Result<Program, ProgramError> {
        let launched = launch::launch(request)?;
        let mut program = Program {
            pid: launched.pid,
            name: request.program.to_string_lossy().into_owned(),
            path: launched.path,
            stdin: Some(launched.stdin),
            output: OutputBuffer::new(launched.output),
            reaper: Reaper::new(launched.pid),
            ended: false,
        };
        if let Err(full) = registry::register(program.pid) {
            program.terminate(Duration::ZERO).ok();
            return Err(full);
        }
        Ok(program)
    }

    /// The process id, which is also the process-group id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The program as the script named it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path that was executed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    // --- output: the merged stdout/stderr pipe -------------------------

    /// Reads what the pipe holds now into the buffer, never blocking;
    /// returns the count added. `OutputFull` when the buffer is at its cap.
    pub fn fill(&mut self) -> Result<usize, ProgramError> {
        self.output.fill()
    }

    /// Output read and not yet consumed, in the order the program wrote it.
    pub fn buffered(&self) -> &[u8] {
        self.output.buffered()
    }

    /// Drops the first `n` buffered bytes (a receive took them).
    pub fn consume(&mut self, n: usize) {
        self.output.consume(n)
    }

    /// The program (and everything sharing its stdout/stderr) closed the
    /// pipe: once `buffered()` is empty, a receive sees end of stream.
    pub fn at_end(&self) -> bool {
        self.output.at_end()
    }

    /// Poll for `POLLIN`, then [`fill`](Self::fill). Not useful once `at_end`.
    pub fn output_fd(&self) -> BorrowedFd<'_> {
        self.output.fd()
    }

    /// Waits until more output arrives (returns the count, at least 1), the
    /// pipe ends (returns 0), the deadline passes (`Timeout`) or `interrupt`
    /// becomes readable (`Interrupted`).
    pub fn fill_wait(
        &mut self,
        deadline: Option<Instant>,
        interrupt: Option<BorrowedFd<'_>>,
    ) -> Result<usize, ProgramError> {
        loop {
            let added = self.fill()?;
            if added > 0 || self.at_end() {
                return Ok(added);
            }
            let mut fds = vec![PollFd::new(self.output.fd(), PollFlags::POLLIN)];
            wait_for_any(&mut fds, interrupt, deadline, None)?;
        }
    }

    // --- input: the stdin pipe ----------------------------------------

    /// One non-blocking write to stdin; returns the count written. A full
    /// pipe fails with EAGAIN ([`ProgramError::would_block`]): poll
    /// [`stdin_fd`](Self::stdin_fd) for `POLLOUT`, and keep reading output
    /// meanwhile, or a program that answers as it reads blocks us both.
    /// A reader that is gone gives `NotReading` (EPIPE), not a SIGPIPE
    /// death, because Rust binaries ignore SIGPIPE (keep it that way).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, ProgramError> {
        let fd = self.stdin.as_ref().ok_or(ProgramError::StdinClosed)?;
        loop {
            match nix::unistd::write(fd, data) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Err(self.not_reading()),
                Err(errno) => return Err(ProgramError::sys("write", errno)),
            }
        }
    }

    /// Writes all of `data`, reading output meanwhile so neither side
    /// stalls on a full pipe. On `Timeout`/`Interrupted`, what was
    /// written stays written.
    pub fn write_all(
        &mut self,
        mut data: &[u8],
        deadline: Option<Instant>,
        interrupt: Option<BorrowedFd<'_>>,
    ) -> Result<(), ProgramError> {
        while !data.is_empty() {
            match self.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.would_block() => self.wait_writable(deadline, interrupt)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Until stdin takes more bytes; drains output while it waits.
    fn wait_writable(
        &mut self,
        deadline: Option<Instant>,
        interrupt: Option<BorrowedFd<'_>>,
    ) -> Result<(), ProgramError> {
        let drain = self.drainable();
        let stdin = self.stdin.as_ref().ok_or(ProgramError::StdinClosed)?;
        let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLOUT)];
        if drain {
            fds.push(PollFd::new(self.output.fd(), PollFlags::POLLIN));
        }
        wait_for_any(&mut fds, interrupt, deadline, None)?;
        if drain {
            self.fill()?;
        }
        Ok(())
    }

    /// Output can still be read into the buffer.
    fn drainable(&self) -> bool {
        !self.output.at_end() && self.output.buffered().len() < OUTPUT_CAP
    }

    /// Why EPIPE: the program exited (with this status) or closed stdin.
    fn not_reading(&mut self) -> ProgramError {
        let status = self.try_wait().ok().flatten();
        ProgramError::NotReading { status }
    }

    /// Poll for `POLLOUT` before retrying a write; `None` once closed.
    pub fn stdin_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stdin.as_ref().map(|fd| fd.as_fd())
    }

    /// `shutdown NAME write`: the program reads end of file. Idempotent.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    // --- exit -----------------------------------------------------------

    /// Readable once the program has exited; `None` without pidfd support
    /// (poll with a [`FALLBACK_TICK`] timeout then) or once reaped.
    pub fn exit_fd(&self) -> Option<BorrowedFd<'_>> {
        self.reaper.fd()
    }

    /// The exit status if the program has exited (reaping it); never blocks.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ProgramError> {
        let status = self.reaper.try_wait()?;
        if status.is_some() {
            self.forget_group_if_empty();
        }
        Ok(status)
    }

    /// The status, once known.
    pub fn status(&self) -> Option<ExitStatus> {
        self.reaper.status()
    }

    /// Waits for the program to exit, buffering its output meanwhile (so a
    /// chatty program cannot block on a full pipe, unless the buffer is at
    /// its cap). `Timeout` once the deadline passes, `Interrupted` when
    /// `interrupt` (the session's Ctrl-C pipe) becomes readable.
    pub fn wait(
        &mut self,
        deadline: Option<Instant>,
        interrupt: Option<BorrowedFd<'_>>,
    ) -> Result<ExitStatus, ProgramError> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let drain = self.drainable();
            let exit_fd = self.reaper.fd();
            let mut fds: Vec<PollFd> = exit_fd
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .into_iter()
                .collect();
            if drain {
                fds.push(PollFd::new(self.output.fd(), PollFlags::POLLIN));
            }
            let tick = exit_fd.is_none().then_some(FALLBACK_TICK);
            wait_for_any(&mut fds, interrupt, deadline, tick)?;
            if drain {
                self.fill()?;
            }
        }
    }

    /// Sends `signal` to the program's process group. Fails with
    /// `AlreadyExited` once the program has been reaped.
    pub fn signal(&mut self, signal: Signal) -> Result<(), ProgramError> {
        if let Some(status) = self.reaper.status() {
            return Err(ProgramError::AlreadyExited { status });
        }
        killpg(self.pid, signal).map_err(|e| ProgramError::sys("kill", e))
    }

    /// `close`: SIGTERM to the group, SIGKILL after `grace` to whatever
    /// still runs, then reaped. Returns how the program itself ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus, ProgramError> {
        terminate_all(&mut [&mut *self], grace);
        match self.reaper.status() {
            Some(status) => Ok(status),
            None => self.try_wait()?.ok_or(ProgramError::Timeout),
        }
    }

    /// Once the leader is reaped and no process has the group id, stop
    /// tracking the group (its id may be recycled from then on).
    fn forget_group_if_empty(&mut self) {
        if !self.ended && self.reaper.status().is_some() && !group::exists(self.pid) {
            self.ended = true;
            registry::unregister(self.pid);
        }
    }

    /// Reaped and no live process left in the group.
    fn quiet(&self) -> bool {
        self.ended || (self.reaper.status().is_some() && !group::has_live_members(self.pid))
    }
}

impl Drop for Program {
    /// Nothing outlives the session: the same ending as `close`.
    fn drop(&mut self) {
        self.forget_group_if_empty();
        if !self.ended {
            terminate_all(&mut [&mut *self], DEFAULT_GRACE);
        }
    }
}

/// Polls `fds` plus `interrupt` until one is ready, the deadline passes,
/// or `tick` elapses (for callers that must look again without an fd).
fn wait_for_any<'fd>(
    fds: &mut Vec<PollFd<'fd>>,
    interrupt: Option<BorrowedFd<'fd>>,
    deadline: Option<Instant>,
    tick: Option<Duration>,
) -> Result<(), ProgramError> {
    let watched = fds.len();
    if let Some(fd) = interrupt {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
    }
    let left = deadline.map(|at| at.saturating_duration_since(Instant::now()));
    if left == Some(Duration::ZERO) {
        return Err(ProgramError::Timeout);
    }
    let limit = match (left, tick) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match poll(fds, poll_timeout(limit)) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(errno) => return Err(ProgramError::sys("poll(2)", errno)),
    }
    if fds[watched..].iter().any(|fd| fd.any().unwrap_or(false)) {
        return Err(ProgramError::Interrupted);
    }
    Ok(())
}

/// Milliseconds for poll(2), rounded up so a wait never ends early.
fn poll_timeout(limit: Option<Duration>) -> PollTimeout {
    match limit {
        None => PollTimeout::NONE,
        Some(d) => {
            let millis = d.as_micros().div_ceil(1000);
            PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    }
}

#[cfg(test)]
mod tests;

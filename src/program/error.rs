//! Why starting or talking to a program failed.
//!
//! Each cause the script's author can fix gets its own variant and a
//! sentence that names the program, so `spawn` can say "no program named
//! X on PATH" instead of a bare `ENOENT`; the errno stays available for
//! `fails ERRNAME` matching.

use nix::errno::Errno;
use std::fmt;
use std::path::PathBuf;

use super::status::ExitStatus;

/// A failure of the program layer, typed by cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramError {
    /// A bare name (no `/`) that no `PATH` directory holds.
    NotOnPath { name: String },
    /// A name with a `/` that names no file (resolved against the base directory).
    NoFile { path: PathBuf },
    /// The file exists but may not be executed (no `x` bit, `noexec` mount).
    NotExecutable { path: PathBuf },
    /// The name is a directory.
    IsDirectory { path: PathBuf },
    /// The kernel refused the file's format (no `#!` line, wrong architecture),
    /// or its `#!` interpreter or loader is missing.
    CannotExecute {
        path: PathBuf,
        errno: Errno,
        why: &'static str,
    },
    /// The working directory (`--cwd` or the base directory) is unusable.
    BadWorkingDirectory { dir: PathBuf, errno: Errno },
    /// Every slot of the cleanup registry is taken.
    TooManyPrograms { limit: usize },
    /// `close_stdin` already ran, so nothing more can be written.
    StdinClosed,
    /// Writing failed with EPIPE: the program closed its stdin or exited.
    NotReading { status: Option<ExitStatus> },
    /// The read buffer holds `cap` bytes: the caller must consume some first.
    OutputFull { cap: usize },
    /// The program was already reaped, so it cannot be signalled any more.
    AlreadyExited { status: ExitStatus },
    /// Still running when the deadline passed.
    Timeout,
    /// The interrupt descriptor became readable (Ctrl-C) while waiting.
    Interrupted,
    /// Any other failed system call: which one, and its errno.
    Sys { call: &'static str, errno: Errno },
}

impl ProgramError {
    /// The errno behind this failure, for `fails ERRNAME` and errno display.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            ProgramError::NotOnPath { .. } | ProgramError::NoFile { .. } => Some(Errno::ENOENT),
            ProgramError::NotExecutable { .. } | ProgramError::IsDirectory { .. } => {
                Some(Errno::EACCES)
            }
            ProgramError::CannotExecute { errno, .. }
            | ProgramError::BadWorkingDirectory { errno, .. }
            | ProgramError::Sys { errno, .. } => Some(*errno),
            ProgramError::NotReading { .. } => Some(Errno::EPIPE),
            ProgramError::AlreadyExited { .. } => Some(Errno::ESRCH),
            ProgramError::StdinClosed => Some(Errno::EBADF),
            _ => None,
        }
    }

    /// Whether a non-blocking write or read would have blocked (retry after poll).
    pub fn would_block(&self) -> bool {
        self.errno() == Some(Errno::EAGAIN)
    }

    pub(crate) fn sys(call: &'static str, errno: Errno) -> Self {
        ProgramError::Sys { call, errno }
    }
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::NotOnPath { name } => write!(f, "no program named {name} on PATH"),
            ProgramError::NoFile { path } => write!(f, "no file {}", path.display()),
            ProgramError::NotExecutable { path } => {
                write!(f, "{} is not executable (EACCES)", path.display())
            }
            ProgramError::IsDirectory { path } => {
                write!(f, "{} is a directory, not a program", path.display())
            }
            ProgramError::CannotExecute { path, errno, why } => {
                write!(f, "cannot execute {}: {why} ({errno:?})", path.display())
            }
            ProgramError::BadWorkingDirectory { dir, errno } => write!(
                f,
                "working directory {}: {} ({errno:?})",
                dir.display(),
                errno.desc()
            ),
            ProgramError::TooManyPrograms { limit } => {
                write!(f, "too many programs running at once (at most {limit})")
            }
            ProgramError::StdinClosed => write!(f, "the program's stdin is already closed"),
            ProgramError::NotReading {
                status: Some(status),
            } => {
                write!(
                    f,
                    "the program no longer reads its input: it {status} (EPIPE)"
                )
            }
            ProgramError::NotReading { status: None } => {
                write!(f, "the program closed its stdin (EPIPE)")
            }
            ProgramError::OutputFull { cap } => write!(
                f,
                "the program's unread output reached {} MiB; read some before waiting for more",
                cap >> 20
            ),
            ProgramError::AlreadyExited { status } => {
                write!(f, "the program already exited: it {status}")
            }
            ProgramError::Timeout => write!(f, "the program is still running"),
            ProgramError::Interrupted => write!(f, "interrupted"),
            ProgramError::Sys { call, errno } => write!(f, "{call}: {errno:?} ({})", errno.desc()),
        }
    }
}

impl std::error::Error for ProgramError {}

//! Starting a program: where it is, where it runs, and what it inherits.
//!
//! No shell is involved: the name is looked up on `PATH`, or, when it
//! holds a `/`, taken relative to the script's directory (SPEC §13). The
//! lookup is ours rather than `execvp`'s so that a missing, non-executable
//! or directory name gets a sentence that says which, before anything is
//! forked. The child gets a pipe as stdin and one pipe as both stdout and
//! stderr; our ends are non-blocking and close-on-exec.

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{access, AccessFlags, Pid};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::clone::{self, Step};
use super::error::ProgramError;

/// Used when neither the request nor our environment has a `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What `spawn NAME [--cwd DIR] [--env K=V]... -- PROGRAM [ARG...]` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnRequest {
    /// As the script wrote it; also the child's `argv[0]`.
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The script's directory: programs named with a `/` and a relative
    /// `cwd` are found from here, and it is the default working directory.
    pub base_dir: PathBuf,
    /// `--cwd`; relative to `base_dir`.
    pub cwd: Option<PathBuf>,
    /// `--env K=V`, added to (or replacing in) our own environment. A
    /// `PATH` given here is also the one the program is looked up on.
    pub env: Vec<(OsString, OsString)>,
}

impl SpawnRequest {
    pub fn new(program: impl Into<OsString>, base_dir: impl Into<PathBuf>) -> Self {
        SpawnRequest {
            program: program.into(),
            args: Vec::new(),
            base_dir: base_dir.into(),
            cwd: None,
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A started child and our ends of its pipes.
pub(crate) struct Launched {
    pub pid: Pid,
    pub path: PathBuf,
    pub stdin: OwnedFd,
    pub output: OwnedFd,
}

/// Resolves, checks and starts the program.
pub(crate) fn launch(request: &SpawnRequest) -> Result<Launched, ProgramError> {
    let base = std::path::absolute(&request.base_dir)
        .map_err(|e| ProgramError::sys("getcwd", errno_of(&e)))?;
    let cwd = request
        .cwd
        .as_ref()
        .map_or(base.clone(), |dir| base.join(dir));
    check_directory(&cwd)?;
    let path = find_program(request, &base)?;
    let (stdin_theirs, stdin_ours) = nonblocking_pipe(PipeEnd::Write)?;
    let (output_ours, output_theirs) = nonblocking_pipe(PipeEnd::Read)?;
    let ours: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let mut argv = vec![request.program.as_os_str()];
    argv.extend(request.args.iter().map(OsString::as_os_str));
    let start = clone::Start {
        path: &path,
        argv,
        env: clone::environment(&ours, &request.env),
        cwd: &cwd,
        stdin: stdin_theirs.as_fd(),
        output: output_theirs.as_fd(),
    };
    let pid = clone::start(&start).map_err(|failed| match failed.step {
        // The directory may have gone since it was checked: say so
        // rather than blame the program.
        Step::Chdir => ProgramError::BadWorkingDirectory {
            dir: cwd.clone(),
            errno: errno_of(&failed.error),
        },
        Step::Exec => exec_error(&path, &failed.error),
        Step::Setup => ProgramError::sys("clone", errno_of(&failed.error)),
    })?;
    // Only the child keeps its ends now, so end of file can come.
    drop((stdin_theirs, output_theirs));
    Ok(Launched {
        pid,
        path,
        stdin: stdin_ours,
        output: output_ours,
    })
}

/// Which end of a pipe we keep (the other goes to the child).
enum PipeEnd {
    Read,
    Write,
}

/// A close-on-exec pipe as (read, write), with our end non-blocking. The
/// flag is per open file, so the child's end stays blocking, as programs
/// expect: made non-blocking whole, then the child's end set back (one
/// system call fewer than the other way round, with no flags to read).
fn nonblocking_pipe(ours: PipeEnd) -> Result<(OwnedFd, OwnedFd), ProgramError> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|e| ProgramError::sys("pipe2", e))?;
    let theirs = match ours {
        PipeEnd::Read => &write,
        PipeEnd::Write => &read,
    };
    // F_SETFL sets only the status flags (O_NONBLOCK, O_APPEND...): none.
    fcntl(theirs, FcntlArg::F_SETFL(OFlag::empty())).map_err(|e| ProgramError::sys("fcntl", e))?;
    Ok((read, write))
}

/// The working directory must exist and be a directory we may enter.
fn check_directory(dir: &Path) -> Result<(), ProgramError> {
    let bad = |errno| ProgramError::BadWorkingDirectory {
        dir: dir.to_path_buf(),
        errno,
    };
    let meta = std::fs::metadata(dir).map_err(|e| bad(errno_of(&e)))?;
    if !meta.is_dir() {
        return Err(bad(Errno::ENOTDIR));
    }
    access(dir, AccessFlags::X_OK).map_err(bad)
}

/// The absolute path of the file to execute.
fn find_program(request: &SpawnRequest, base: &Path) -> Result<PathBuf, ProgramError> {
    let name = &request.program;
    if name.as_bytes().contains(&b'/') {
        let path = base.join(name);
        check_executable(&path)?;
        return Ok(path);
    }
    search_path(name, &path_variable(request))
}

/// The `PATH` the program is looked up on: the request's, else ours.
fn path_variable(request: &SpawnRequest) -> OsString {
    let given = request.env.iter().rev().find(|(key, _)| key == "PATH");
    given
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_else(|| DEFAULT_PATH.into())
}

/// The first executable regular file named `name` in a `PATH` directory;
/// if only non-executable ones exist, says so (as `execvp` would: EACCES).
fn search_path(name: &OsStr, path_var: &OsStr) -> Result<PathBuf, ProgramError> {
    let mut refused = None;
    for dir in std::env::split_paths(path_var).filter(|d| d.is_absolute()) {
        let candidate = dir.join(name);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(ProgramError::NotExecutable { path }) => {
                refused.get_or_insert(path);
            }
            Err(_) => {}
        }
    }
    Err(match refused {
        Some(path) => ProgramError::NotExecutable { path },
        None => ProgramError::NotOnPath {
            name: name.to_string_lossy().into_owned(),
        },
    })
}

/// Exists, is not a directory, and may be executed by us.
fn check_executable(path: &Path) -> Result<(), ProgramError> {
    let path_buf = || path.to_path_buf();
    match std::fs::metadata(path) {
        Err(e) if matches!(errno_of(&e), Errno::ENOENT | Errno::ENOTDIR) => {
            Err(ProgramError::NoFile { path: path_buf() })
        }
        Err(e) => Err(ProgramError::CannotExecute {
            path: path_buf(),
            errno: errno_of(&e),
            why: "cannot look at the file",
        }),
        Ok(meta) if meta.is_dir() => Err(ProgramError::IsDirectory { path: path_buf() }),
        Ok(_) => access(path, AccessFlags::X_OK)
            .map_err(|_| ProgramError::NotExecutable { path: path_buf() }),
    }
}

/// Why `execve` (or the fork before it) failed, for a file we checked.
fn exec_error(path: &Path, error: &io::Error) -> ProgramError {
    let path = path.to_path_buf();
    match errno_of(error) {
        Errno::EACCES => ProgramError::NotExecutable { path },
        Errno::ENOENT => ProgramError::CannotExecute {
            path,
            errno: Errno::ENOENT,
            why: "its #! interpreter or its loader is missing",
        },
        Errno::ENOEXEC => ProgramError::CannotExecute {
            path,
            errno: Errno::ENOEXEC,
            why: "not a format the kernel runs (a script without a #! line?)",
        },
        Errno::ETXTBSY => ProgramError::CannotExecute {
            path,
            errno: Errno::ETXTBSY,
            why: "the file is open for writing",
        },
        errno => ProgramError::sys("fork", errno),
    }
}

fn errno_of(error: &io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

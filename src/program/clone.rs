//! Starting a child the way `posix_spawn` does, with PR_SET_PDEATHSIG too.
//!
//! `fork` copies sockrepl's page tables and std's `pre_exec` path waits on
//! an error pipe; `posix_spawn` avoids both but cannot set a death signal.
//! So the child is made with `clone(CLONE_VM | CLONE_VFORK)`: it runs on a
//! small stack of its own in sockrepl's memory, while the calling thread
//! waits, until it has called `execve` (or failed and left). Everything it
//! needs (paths, argv, envp, descriptors) is prepared before, so the child
//! makes raw system calls only: it must not allocate or lock, as it shares
//! the memory of a process whose other threads keep running. A failure is
//! written into that shared memory, with the step that failed.

use std::ffi::{c_char, c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::unistd::Pid;

/// The child's stack: it runs a few system calls before `execve`.
const STACK_SIZE: usize = 64 << 10;

/// Which step of the child's setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Its death signal, its group or its signal state.
    Setup,
    /// Entering the working directory.
    Chdir,
    /// `execve` itself.
    Exec,
}

/// A failed start: the step and its errno.
#[derive(Debug)]
pub(crate) struct StartError {
    pub step: Step,
    pub error: io::Error,
}

/// The argument vector or environment as `execve` takes it: the strings,
/// and the null-terminated array of pointers into them.
struct CStrings {
    _owned: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl CStrings {
    fn new(strings: Vec<CString>) -> Self {
        let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        CStrings {
            _owned: strings,
            pointers,
        }
    }
}

/// What the child reads, and where it writes why it failed.
struct Shared {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    stdin: RawFd,
    output: RawFd,
    parent: libc::pid_t,
    failed: Option<(Step, c_int)>,
}

/// What to start.
pub(crate) struct Start<'a> {
    pub path: &'a Path,
    /// `argv[0]` first.
    pub argv: Vec<&'a OsStr>,
    /// The whole environment, `(name, value)`.
    pub env: Vec<(&'a OsStr, &'a OsStr)>,
    pub cwd: &'a Path,
    pub stdin: BorrowedFd<'a>,
    pub output: BorrowedFd<'a>,
}

/// Starts the child; returns once it has called `execve`.
pub(crate) fn start(start: &Start) -> Result<Pid, StartError> {
    let setup = |error| StartError {
        step: Step::Setup,
        error,
    };
    let path = c_string(start.path.as_os_str()).map_err(setup)?;
    let cwd = c_string(start.cwd.as_os_str()).map_err(setup)?;
    let argv = CStrings::new(
        start
            .argv
            .iter()
            .map(|a| c_string(a))
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );
    let envp = CStrings::new(
        start
            .env
            .iter()
            .map(|(name, value)| {
                let mut pair = name.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                CString::new(pair).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
            })
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );
    // dup2 onto 0, 1 and 2 must not meet a descriptor that is already one
    // of them (sockrepl started with a standard stream closed).
    let stdin = above_standard(start.stdin).map_err(setup)?;
    let output = above_standard(start.output).map_err(setup)?;
    let mut shared = Shared {
        path: path.as_ptr(),
        argv: argv.pointers.as_ptr(),
        envp: envp.pointers.as_ptr(),
        cwd: cwd.as_ptr(),
        stdin: stdin
            .as_ref()
            .map_or(start.stdin.as_raw_fd(), |fd| fd.as_raw_fd()),
        output: output
            .as_ref()
            .map_or(start.output.as_raw_fd(), |fd| fd.as_raw_fd()),
        parent: std::process::id() as libc::pid_t,
        failed: None,
    };
    let pid = clone_vfork(&mut shared).map_err(setup)?;
    match shared.failed {
        None => Ok(Pid::from_raw(pid)),
        Some((step, errno)) => {
            // It left at once: reap it, so no zombie is left.
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            Err(StartError {
                step,
                error: io::Error::from_raw_os_error(errno),
            })
        }
    }
}

fn c_string(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A close-on-exec copy above 2 of a descriptor that is 0, 1 or 2.
fn above_standard(fd: BorrowedFd) -> io::Result<Option<OwnedFd>> {
    if fd.as_raw_fd() > 2 {
        return Ok(None);
    }
    fd.try_clone_to_owned().map(Some)
}

/// `clone(CLONE_VM | CLONE_VFORK)` with every signal blocked meanwhile, so
/// no handler of sockrepl's runs in the child (it would write to the
/// shared memory); the child restores the defaults before unblocking.
fn clone_vfork(shared: &mut Shared) -> io::Result<libc::pid_t> {
    let mut stack = vec![0u8; STACK_SIZE];
    // The stack grows down: start at its 16-byte aligned top.
    let top = (stack.as_mut_ptr() as usize + STACK_SIZE) & !15;
    // SAFETY: sigset_t is plain data, filled by sigfillset before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut before: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the sets are valid; pthread_sigmask changes this thread only.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
    }
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    // SAFETY: `child` only makes async-signal-safe system calls on its own
    // stack and writes only `shared`, which outlives the call: with
    // CLONE_VFORK this thread is suspended until the child execs or exits.
    let pid = unsafe {
        libc::clone(
            child,
            top as *mut c_void,
            flags,
            (shared as *mut Shared).cast::<c_void>(),
        )
    };
    let failed = io::Error::last_os_error();
    // SAFETY: restoring this thread's own mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
    drop(stack);
    match pid {
        -1 => Err(failed),
        pid => Ok(pid),
    }
}

/// The child, between `clone` and `execve`.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Shared` the suspended parent passed.
    let shared = unsafe { &mut *arg.cast::<Shared>() };
    // SAFETY: raw system calls on this process and its own descriptors.
    let step = unsafe { set_up(shared) };
    shared.failed = Some((step, errno()));
    // SAFETY: leaving without running anything of the parent's.
    unsafe { libc::_exit(127) }
}

/// Everything before `execve`, then `execve`; returns only on failure,
/// with the step that failed (errno says why).
///
/// # Safety
/// Only in the child of [`clone_vfork`]: async-signal-safe calls only.
unsafe fn set_up(shared: &Shared) -> Step {
    // PR_SET_PDEATHSIG kills the program if sockrepl dies, even by SIGKILL;
    // had the parent died already, nobody would send it: check.
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
        return Step::Setup;
    }
    if libc::getppid() != shared.parent {
        *libc::__errno_location() = libc::ESRCH;
        return Step::Setup;
    }
    // A group of its own, so one signal reaches it and all it starts.
    if libc::setpgid(0, 0) != 0 {
        return Step::Setup;
    }
    default_signals();
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    if libc::chdir(shared.cwd) != 0 {
        return Step::Chdir;
    }
    if libc::dup2(shared.stdin, 0) < 0
        || libc::dup2(shared.output, 1) < 0
        || libc::dup2(shared.output, 2) < 0
    {
        return Step::Setup;
    }
    // Nothing above stderr is inherited, even a descriptor a library opened
    // without O_CLOEXEC. Closed here, not marked close-on-exec: the parent
    // resumes as soon as the new program's memory replaces ours, before
    // exec closes descriptors, and must find them gone. The table is the
    // child's own copy (no CLONE_FILES). Kernels before 5.9 lack
    // close_range; every descriptor of ours is close-on-exec anyway.
    libc::close_range(3, libc::c_uint::MAX, 0);
    libc::execve(shared.path, shared.argv, shared.envp);
    Step::Exec
}

/// Every signal back to its default action, as a shell gives a program:
/// sockrepl's handlers are not the program's, and an ignored signal (Rust
/// ignores SIGPIPE) would stay ignored across exec.
///
/// # Safety
/// Only in the child of [`clone_vfork`].
unsafe fn default_signals() {
    for signal in 1..libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
            && action.sa_sigaction != libc::SIG_DFL
        {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
    }
}

fn errno() -> c_int {
    // SAFETY: errno of this thread.
    unsafe { *libc::__errno_location() }
}

/// A whole environment: `ours` with `extra` added, or replacing ours.
pub(crate) fn environment<'a>(
    ours: &'a [(std::ffi::OsString, std::ffi::OsString)],
    extra: &'a [(std::ffi::OsString, std::ffi::OsString)],
) -> Vec<(&'a OsStr, &'a OsStr)> {
    let mut env: Vec<(&OsStr, &OsStr)> = ours
        .iter()
        .filter(|(name, _)| !extra.iter().any(|(given, _)| given == name))
        .map(|(name, value)| (name.as_os_str(), value.as_os_str()))
        .collect();
    env.extend(
        extra
            .iter()
            .map(|(name, value)| (name.as_os_str(), value.as_os_str())),
    );
    env
}

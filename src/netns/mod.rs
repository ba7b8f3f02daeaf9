//! `--netns`: the whole process moves into a network namespace of its own
//! (SPEC §14), holding only a loopback interface, brought up.
//!
//! Scripts that bind the lecture's fixed port 65432 can then run in
//! parallel, and none can reach another host. As root, a network namespace
//! is enough; otherwise a user namespace comes with it, in which the user
//! is mapped to root, so it may bring `lo` up, and `trace` may open
//! AF_PACKET sockets there. Programs spawned later inherit the namespace.
//!
//! [`enter`] must run before any socket is made, any program spawned and,
//! above all, any thread started: the kernel refuses CLONE_NEWUSER in a
//! multithreaded process, and CLONE_NEWNET would move only the calling
//! thread. The integrator calls it first thing in `main` when `--netns`
//! is given, and the test runner passes `--netns` on to each script's own
//! `sockrepl run` process, so each script gets a namespace of its own.

mod diagnose;
#[cfg(test)]
pub(crate) mod forked;
pub mod loopback;

pub use diagnose::{reasons, Settings, Step};

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

/// What [`enter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entered {
    /// A user namespace was made too (not root, or root without CAP_SYS_ADMIN).
    pub through_user_namespace: bool,
    /// Wall time of the whole step (unshare, id maps, `lo` up).
    pub took: Duration,
}

/// Why the namespace could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsError {
    /// More than one thread runs: called too late.
    Threads { count: usize },
    /// A step failed; `reasons` name the settings that explain it.
    Failed {
        step: Step,
        errno: Errno,
        reasons: Vec<String>,
    },
}

impl NetnsError {
    fn failed(step: Step, errno: Errno) -> Self {
        NetnsError::Failed {
            step,
            errno,
            reasons: diagnose::reasons(step, errno, &Settings::read()),
        }
    }
}

impl fmt::Display for NetnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--netns: cannot make a network namespace: ")?;
        match self {
            NetnsError::Threads { count } => write!(
                f,
                "{count} threads are running; a namespace must be entered before any thread starts"
            ),
            NetnsError::Failed {
                step,
                errno,
                reasons,
            } => write!(
                f,
                "{}: {errno:?} ({}): {}",
                step_call(*step),
                errno.desc(),
                reasons.join("; ")
            ),
        }
    }
}

impl std::error::Error for NetnsError {}

/// The system call behind each step, as the error shows it.
fn step_call(step: Step) -> &'static str {
    match step {
        Step::NetNamespace => "unshare(CLONE_NEWNET)",
        Step::UserNamespace => "unshare(CLONE_NEWUSER|CLONE_NEWNET)",
        Step::IdMap => "writing /proc/self/uid_map and gid_map",
        Step::Loopback => "bringing lo up (SIOCSIFFLAGS)",
    }
}

/// Moves this process into a new network namespace with `lo` up.
pub fn enter() -> Result<Entered, NetnsError> {
    let started = Instant::now();
    let threads = thread_count();
    if threads > 1 {
        return Err(NetnsError::Threads { count: threads });
    }
    let through_user_namespace = unshare_network()?;
    loopback::bring_up().map_err(|errno| NetnsError::failed(Step::Loopback, errno))?;
    Ok(Entered {
        through_user_namespace,
        took: started.elapsed(),
    })
}

/// Like [`enter`], but always through a user namespace, even as root: the
/// process then holds privileges only over its own namespaces (`--sandbox`
/// must not hand a script root's power over the machine).
pub fn enter_owning_user_namespace() -> Result<Entered, NetnsError> {
    let started = Instant::now();
    let threads = thread_count();
    if threads > 1 {
        return Err(NetnsError::Threads { count: threads });
    }
    unshare_user_and_network()?;
    loopback::bring_up().map_err(|errno| NetnsError::failed(Step::Loopback, errno))?;
    Ok(Entered {
        through_user_namespace: true,
        took: started.elapsed(),
    })
}

/// A network namespace alone when we may (root with CAP_SYS_ADMIN), else
/// one owned by a new user namespace; returns whether the latter was made.
fn unshare_network() -> Result<bool, NetnsError> {
    if geteuid().is_root() {
        match unshare(CloneFlags::CLONE_NEWNET) {
            Ok(()) => return Ok(false),
            Err(Errno::EPERM) => {}
            Err(errno) => return Err(NetnsError::failed(Step::NetNamespace, errno)),
        }
    }
    unshare_user_and_network()?;
    Ok(true)
}

/// CLONE_NEWUSER|CLONE_NEWNET, then our ids mapped to root inside.
fn unshare_user_and_network() -> Result<(), NetnsError> {
    let (uid, gid) = (geteuid(), getegid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
        .map_err(|errno| NetnsError::failed(Step::UserNamespace, errno))?;
    let map_failed = |errno| NetnsError::failed(Step::IdMap, errno);
    write_proc_self("uid_map", &format!("0 {uid} 1\n")).map_err(map_failed)?;
    // An unprivileged gid_map may only be written once setgroups is
    // denied; kernels before 3.19 have no such file and need no denial.
    match write_proc_self("setgroups", "deny\n") {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(map_failed(errno)),
    }
    write_proc_self("gid_map", &format!("0 {gid} 1\n")).map_err(map_failed)
}

/// One write(2) to /proc/self/NAME (id maps must be written at once).
fn write_proc_self(name: &str, text: &str) -> Result<(), Errno> {
    let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/{name}"))
        .map_err(errno)?;
    file.write_all(text.as_bytes()).map_err(errno)
}

/// Threads of this process, from /proc (1 if it cannot be read, as
/// unshare itself then says EINVAL for a multithreaded caller).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count())
}

#[cfg(test)]
mod tests;

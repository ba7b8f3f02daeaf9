//! Tests that must change the whole process (enter a namespace, drop to
//! another uid) run in a forked child, so the test harness itself is
//! never moved. After fork only the calling thread exists, which is also
//! what `enter` needs. The child reports through a pipe and `_exit`s; an
//! alarm ends it if it hangs.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// Seconds a child may run before SIGALRM ends it.
const CHILD_LIMIT_SECS: u32 = 30;

/// Runs `body` in a forked child; returns its `Ok` or `Err` text.
pub(crate) fn in_child(body: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
    let (read, write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    // SAFETY: the child only runs `body` (plain Rust calls, no locks held
    // by other threads are taken in these tests) and then `_exit`s.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read);
            nix::unistd::alarm::set(CHILD_LIMIT_SECS);
            // A panic must not unwind into the harness's copy in the child.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                .unwrap_or_else(|_| Err("the child panicked".into()));
            report_and_exit(write, result)
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut text = String::new();
            std::fs::File::from(read)
                .read_to_string(&mut text)
                .expect("read child report");
            let status = waitpid(child, None).expect("waitpid");
            match (status, text.split_once('\n')) {
                (WaitStatus::Exited(_, 0), Some(("ok", rest))) => Ok(rest.to_string()),
                (WaitStatus::Exited(_, 1), Some(("err", rest))) => Err(rest.to_string()),
                _ => panic!("child ended oddly: {status:?}, report {text:?}"),
            }
        }
    }
}

fn report_and_exit(write: OwnedFd, result: Result<String, String>) -> ! {
    let (code, text) = match result {
        Ok(text) => (0, format!("ok\n{text}")),
        Err(text) => (1, format!("err\n{text}")),
    };
    let _ = std::fs::File::from(write).write_all(text.as_bytes());
    // SAFETY: _exit ends the child at once, running no atexit handlers or
    // destructors that belong to the parent's copy of the state.
    unsafe { libc::_exit(code) }
}

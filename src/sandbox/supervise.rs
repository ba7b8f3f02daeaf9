//! The parent that stays outside the sandbox: it waits for the sandboxed
//! child, removes `${tmp}` (which the child, allowed to write only inside
//! it, cannot remove), and explains an end the kernel forced.

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;
use std::path::Path;

use super::Limits;

/// Forks: `Ok(None)` in the child, which goes on to enter the sandbox;
/// in the parent, `Ok(Some(status))` once the child has ended.
pub fn fork(tmp: &Path, limits: &Limits) -> Result<Option<i32>, String> {
    // SAFETY: one thread runs (checked by the caller), so the child may
    // do anything after fork.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => Ok(None),
        ForkResult::Parent { child } => {
            // Ctrl-C and the runner's signals reach the whole group: the
            // child handles them and reports; the parent only waits.
            for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
                // SAFETY: SIG_IGN installs no handler code.
                let _ = unsafe { signal(sig, SigHandler::SigIgn) };
            }
            let status = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, sig, _)) => break explain(sig, limits),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(format!("waitpid: {e}")),
                }
            };
            let _ = std::fs::remove_dir_all(tmp);
            Ok(Some(status))
        }
    }
}

/// Says why the kernel ended the child, and the status for it: 1 for a
/// limit (a failure of the script), 128 + N for another signal.
fn explain(sig: Signal, limits: &Limits) -> i32 {
    let why = match sig {
        Signal::SIGXCPU | Signal::SIGKILL => format!(
            "ended by {sig}: over its CPU time limit ({}s) or killed",
            limits.cpu_seconds
        ),
        Signal::SIGABRT | Signal::SIGSEGV | Signal::SIGBUS => format!(
            "ended by {sig}: over its memory limit ({} MiB) within one command",
            limits.memory >> 20
        ),
        other => return 128 + other as i32,
    };
    println!("sockrepl: --sandbox: the script was {why}");
    1
}

//! Every process group we started and have not yet seen end, process-wide.
//!
//! `Program`'s `Drop` ends its group on every ordinary way out. This list
//! is for the other ways: a SIGTERM/SIGINT/SIGHUP handler, a panic hook or
//! an exit path that never drops the session. It is a fixed array of
//! atomics, not a `Mutex<Vec>`, so [`kill_all_now`] may run inside a
//! signal handler (no lock, no allocation).
//!
//! How the caller uses it:
//! - in a signal handler that is about to `_exit`: call [`kill_all_now`]
//!   (SIGKILL to every group; the zombies go to init once we exit);
//! - on a normal path that cannot drop the programs (e.g. just before
//!   `std::process::exit`): call [`end_all`], which gives them the SPEC's
//!   grace period (SIGTERM, then SIGKILL);
//! - better still, have the handler set a flag and let the session unwind,
//!   so each `Program` is dropped and reaped.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use super::error::ProgramError;
use super::group;

/// Most groups that can run at once (a script with more is almost surely a bug).
pub const MAX_GROUPS: usize = 1024;

/// 0 is a free slot; anything else is a live process-group id.
static GROUPS: [AtomicI32; MAX_GROUPS] = [const { AtomicI32::new(0) }; MAX_GROUPS];

/// Remembers a group until [`unregister`].
pub(crate) fn register(pgid: Pid) -> Result<(), ProgramError> {
    for slot in &GROUPS {
        let taken = slot.compare_exchange(0, pgid.as_raw(), Ordering::SeqCst, Ordering::SeqCst);
        if taken.is_ok() {
            super::guardian::watch(pgid);
            return Ok(());
        }
    }
    Err(ProgramError::TooManyPrograms { limit: MAX_GROUPS })
}

/// Forgets a group: it has ended, or it is about to be reaped.
pub(crate) fn unregister(pgid: Pid) {
    for slot in &GROUPS {
        let freed = slot.compare_exchange(pgid.as_raw(), 0, Ordering::SeqCst, Ordering::SeqCst);
        if freed.is_ok() {
            super::guardian::forget(pgid);
            return;
        }
    }
}

/// The groups registered now.
pub fn running_groups() -> Vec<Pid> {
    GROUPS
        .iter()
        .map(|slot| slot.load(Ordering::SeqCst))
        .filter(|&raw| raw != 0)
        .map(Pid::from_raw)
        .collect()
}

/// SIGKILL to every registered group. Async-signal-safe: it only loads
/// atomics and calls kill(2), so a signal handler may call it.
pub fn kill_all_now() {
    for slot in &GROUPS {
        let raw = slot.load(Ordering::SeqCst);
        if raw > 0 {
            let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
        }
    }
}

/// SIGTERM to every registered group, up to `grace` for them to go, then
/// SIGKILL to the rest. Not for signal handlers (it allocates and sleeps).
/// It does not reap: the `Program`s do when dropped, or init once this
/// process has exited.
pub fn end_all(grace: Duration) {
    let groups = running_groups();
    for &pgid in &groups {
        let _ = killpg(pgid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && groups.iter().any(|&g| group::has_live_members(g)) {
        std::thread::sleep(group::RECHECK);
    }
    for &pgid in &groups {
        if killpg(pgid, Signal::SIGKILL) == Err(Errno::ESRCH) {
            unregister(pgid);
        }
    }
}

//! SIGINT, SIGTERM and SIGHUP to `sockrepl test`: end every child's
//! process group before exiting, so no script or program it started is
//! left running.
//!
//! Children lead their own process groups (so a script's programs can be
//! ended with it), which also means a Ctrl-C at the terminal reaches only
//! the runner. The signals are blocked in every thread and taken by one
//! thread with `sigwait`: the run is stopped (watchdogs end their children,
//! no new ones start, the rest are reported as not run) and the runner
//! exits with 128 + the signal when it has finished. A second signal, or a
//! run that does not finish within [`HARD_STOP`], kills every group at once
//! and exits.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::child::RunControl;

/// How long a stopping run may take to end its children and write its
/// reports before everything is killed outright.
const HARD_STOP: Duration = Duration::from_secs(5);

const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Starts the signal thread. Must run before any other thread is started,
/// since threads inherit the blocked set. Children would inherit it too
/// (std's `Command` keeps the mask): `child` unblocks them before `exec`.
pub(crate) fn stop_children_on_signals(control: Arc<RunControl>) -> std::io::Result<()> {
    let mut set = SigSet::empty();
    for signal in STOP_SIGNALS {
        set.add(signal);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    thread::Builder::new()
        .name("golden-signals".into())
        .spawn(move || take_signals(&set, &control))?;
    Ok(())
}

fn take_signals(set: &SigSet, control: &Arc<RunControl>) {
    let Ok(first) = set.wait() else { return };
    control.stop_by_signal(first as i32);
    let watchdog = Arc::clone(control);
    let _ = thread::Builder::new()
        .name("golden-hard-stop".into())
        .spawn(move || {
            thread::sleep(HARD_STOP);
            kill_all_and_exit(&watchdog, first);
        });
    if let Ok(second) = set.wait() {
        kill_all_and_exit(control, second);
    }
}

fn kill_all_and_exit(control: &RunControl, signal: Signal) -> ! {
    control.signal_all(Signal::SIGKILL);
    eprintln!("sockrepl test: {signal}: killed every running script");
    std::process::exit(128 + signal as i32);
}

//! Running one script in its own `sockrepl` child process.
//!
//! Each child leads a process group of its own, so the programs a script
//! spawns can be ended with it (at the script timeout, on Ctrl-C, when the
//! run stops); a watchdog enforces the time limit; and the child reports a
//! skip over a socket the runner made, which nothing the script prints or
//! exits with can imitate (see `skip_channel`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::skip_channel;

/// The status a child exits with when a `require` is not met. Only a skip
/// that the skip channel confirms counts: a script can `exit 77` too.
pub(crate) const SKIP_STATUS: i32 = 77;

/// A transcript longer than this cannot be compared (nor kept in memory
/// for 30 scripts at once); it fails instead.
pub(crate) const CAPTURE_LIMIT: usize = 64 << 20;

/// Only the end of stderr is ever shown.
const STDERR_LIMIT: usize = 64 << 10;

/// After the child is gone, how long to wait for its pipes to close; a
/// program that left its process group may hold them open indefinitely.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Between SIGTERM and SIGKILL: time for the child to end its programs.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// How a child run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited(ExitStatus),
    /// Still running at the script timeout: its process group was ended.
    TimedOut(Duration),
    /// The whole run was stopped (a signal, or stdout closed) while it ran.
    Stopped,
}

/// What one child left behind: bounded output and how it ended.
#[derive(Debug)]
pub(crate) struct ChildRun {
    pub ending: Ending,
    pub stdout: Vec<u8>,
    /// The transcript went past [`CAPTURE_LIMIT`]; `stdout` is its start.
    pub stdout_truncated: bool,
    /// The last [`STDERR_LIMIT`] bytes of stderr.
    pub stderr: Vec<u8>,
    /// What the child said on the skip channel, if it said anything.
    pub skip: Option<String>,
    pub elapsed: Duration,
}

/// The process groups of the children running now, shared by the workers
/// and by whatever stops the run (a signal, a closed stdout).
#[derive(Default)]
pub(crate) struct RunControl {
    state: Mutex<ControlState>,
}

#[derive(Default)]
struct ControlState {
    stopping: bool,
    /// The signal that stopped the run, if one did.
    signal: Option<i32>,
    groups: HashSet<i32>,
}

impl RunControl {
    /// Starts no more children and makes every watchdog end its child.
    pub(crate) fn stop(&self) {
        self.lock().stopping = true;
    }

    /// [`stop`](Self::stop), remembering that `signal` asked for it.
    pub(crate) fn stop_by_signal(&self, signal: i32) {
        let mut state = self.lock();
        state.stopping = true;
        state.signal.get_or_insert(signal);
    }

    pub(crate) fn stopping_signal(&self) -> Option<i32> {
        self.lock().signal
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    /// How many children are still running (or not yet swept).
    #[cfg(test)]
    fn live_groups(&self) -> usize {
        self.lock().groups.len()
    }

    /// Sends `signal` to every running child's process group.
    pub(crate) fn signal_all(&self, signal: Signal) {
        for &group in &self.lock().groups {
            signal_group(group, signal);
        }
    }

    /// Spawns under the lock, so a concurrent stop either prevents the
    /// spawn or sees the new group: no child escapes it.
    fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        let mut state = self.lock();
        if state.stopping {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the run was stopped",
            ));
        }
        let child = command.spawn()?;
        state.groups.insert(pid_of(&child));
        Ok(child)
    }

    fn forget(&self, group: i32) {
        self.lock().groups.remove(&group);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        // The state stays consistent even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What to run a script with; shared by every worker.
pub(crate) struct Launcher<'a> {
    pub program: &'a Path,
    /// Global flags for every child, before `run` (`--timeout`, `--set`, ...).
    pub child_flags: &'a [OsString],
    pub script_timeout: Duration,
    pub control: &'a RunControl,
}

impl Launcher<'_> {
    /// Runs `script` from inside its own directory so failure lines name it
    /// by file name alone (`echo.sock:12: ...`) on every machine.
    pub(crate) fn run(&self, script: &Path) -> io::Result<ChildRun> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut command = self.command(script, &theirs);
        let started = Instant::now();
        let mut child = self.control.spawn(&mut command)?;
        drop(theirs); // the child holds the only other end now
        let watched = self.watch_with_capture(&mut child);
        let elapsed = started.elapsed();
        let (ending, stdout, stderr) = watched?;
        let pipes_deadline = Instant::now() + PIPE_GRACE;
        let (stdout, stdout_truncated) = stdout.finish(pipes_deadline);
        Ok(ChildRun {
            ending,
            stdout,
            stdout_truncated,
            stderr: stderr.finish(pipes_deadline).0,
            skip: skip_channel::receive(ours),
            elapsed,
        })
    }

    fn watch_with_capture(&self, child: &mut Child) -> io::Result<(Ending, Capture, Capture)> {
        let captures = capture(child.stdout.take(), Keep::Head(CAPTURE_LIMIT))
            .and_then(|out| Ok((out, capture(child.stderr.take(), Keep::Tail(STDERR_LIMIT))?)));
        // Even when a capture thread could not start, the child is watched
        // (and so ended and reaped): it must not outlive this call.
        let ending = self.watch(child);
        let (stdout, stderr) = captures?;
        Ok((ending?, stdout, stderr))
    }

    fn command(&self, script: &Path, skip_end: &UnixStream) -> Command {
        let mut command = Command::new(self.program);
        command.arg("--stable");
        command.args(["--skip-status", &SKIP_STATUS.to_string()]);
        let skip_fd = skip_end.as_raw_fd();
        command.args(["--skip-fd", &skip_fd.to_string()]);
        command.args(self.child_flags);
        let file_name = script.file_name().unwrap_or(script.as_os_str());
        command.arg("run").arg(file_name);
        command.current_dir(script_dir(script));
        // A user's CLICOLOR_FORCE must not leak colour codes into transcripts.
        command.env_remove("CLICOLOR_FORCE").env("NO_COLOR", "1");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.process_group(0);
        skip_channel::inherit(&mut command, skip_fd);
        unblock_signals(&mut command);
        command
    }

    /// Polls rather than blocking in `wait`, so the child can be ended at
    /// the limit or when the run stops; the nap grows so quick scripts are
    /// not slowed and slow ones cost little CPU. Whatever happens, the
    /// child's group is swept before the child is reaped: while it is a
    /// zombie its pid (the group id) cannot be reused, so the sweep can hit
    /// no stranger.
    fn watch(&self, child: &mut Child) -> io::Result<Ending> {
        let group = pid_of(child);
        let cut_short = self.wait_for_exit(group);
        if cut_short.is_some() {
            terminate_group(group);
        }
        signal_group(group, Signal::SIGKILL); // programs it left behind
        self.control.forget(group);
        let status = child.wait()?;
        let stopped_by_us = self.control.is_stopping() && status.code().is_none();
        Ok(match cut_short {
            Some(ending) => ending,
            None if stopped_by_us => Ending::Stopped,
            None => Ending::Exited(status),
        })
    }

    /// `None` once the child has exited; otherwise why it must be ended.
    fn wait_for_exit(&self, group: i32) -> Option<Ending> {
        let deadline = Instant::now() + self.script_timeout;
        let mut nap = Duration::from_millis(1);
        while !has_exited(group) {
            if self.control.is_stopping() {
                return Some(Ending::Stopped);
            }
            let now = Instant::now();
            if now >= deadline {
                return Some(Ending::TimedOut(self.script_timeout));
            }
            thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(50));
        }
        None
    }
}

/// The runner blocks SIGINT, SIGTERM and SIGHUP in every thread (its
/// signal thread takes them with `sigwait`), and a child inherits the
/// mask across `exec`: std's `Command` does not reset it. A child with
/// SIGTERM blocked would sit out the watchdog's SIGTERM until the SIGKILL
/// a second later, so a script ran a second past its `--script-timeout`
/// and never ended its programs itself. The child starts with none blocked.
fn unblock_signals(command: &mut Command) {
    // SAFETY: sigemptyset and sigprocmask are async-signal-safe and change
    // only the new child, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            match libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        });
    }
}

fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("a pid fits in pid_t")
}

fn script_dir(script: &Path) -> &Path {
    match script.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether the child has exited, without reaping it (`WNOWAIT`).
fn has_exited(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is its "nothing yet" value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    loop {
        // SAFETY: waitid only writes `info`; WNOWAIT leaves the zombie for
        // std's `wait` to reap.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if rc == 0 {
            // SAFETY: after a successful waitid, si_pid is set (0: still running).
            return unsafe { info.si_pid() } != 0;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return true; // not our child any more (ECHILD): nothing to wait for
        }
    }
}

/// SIGTERM to the group, then SIGKILL once the child has had its grace.
fn terminate_group(group: i32) {
    signal_group(group, Signal::SIGTERM);
    let deadline = Instant::now() + KILL_GRACE;
    while !has_exited(group) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    signal_group(group, Signal::SIGKILL);
}

fn signal_group(group: i32, signal: Signal) {
    // ESRCH (the group is empty) is the common, harmless case.
    let _ = killpg(Pid::from_raw(group), signal);
}

/// Which part of a stream to keep when it is longer than allowed.
#[derive(Clone, Copy)]
enum Keep {
    Head(usize),
    Tail(usize),
}

/// The kept bytes, and whether any were dropped.
#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    dropped: bool,
}

impl Kept {
    fn add(&mut self, chunk: &[u8], keep: Keep) {
        match keep {
            Keep::Head(limit) => {
                let room = limit.saturating_sub(self.bytes.len());
                self.dropped |= chunk.len() > room;
                self.bytes
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Keep::Tail(limit) => {
                self.bytes.extend_from_slice(chunk);
                // Trim only when twice over, so trimming costs O(1) per byte.
                if self.bytes.len() > 2 * limit {
                    let excess = self.bytes.len() - limit;
                    self.bytes.drain(..excess);
                    self.dropped = true;
                }
            }
        }
    }

    fn into_parts(mut self, keep: Keep) -> (Vec<u8>, bool) {
        if let Keep::Tail(limit) = keep {
            if self.bytes.len() > limit {
                let excess = self.bytes.len() - limit;
                self.bytes.drain(..excess);
                self.dropped = true;
            }
        }
        (self.bytes, self.dropped)
    }
}

/// One stream of the child, drained on its own thread: reading stdout and
/// stderr concurrently means a child filling one pipe cannot deadlock us.
struct Capture {
    kept: Arc<Mutex<Kept>>,
    keep: Keep,
    done: mpsc::Receiver<()>,
}

fn capture(stream: Option<impl Read + Send + 'static>, keep: Keep) -> io::Result<Capture> {
    let kept = Arc::new(Mutex::new(Kept::default()));
    let (finished, done) = mpsc::channel();
    if let Some(mut stream) = stream {
        let sink = Arc::clone(&kept);
        thread::Builder::new()
            .name("golden-capture".into())
            .spawn(move || {
                drain(&mut stream, &sink, keep);
                let _ = finished.send(());
            })?;
    }
    Ok(Capture { kept, keep, done })
}

fn drain(stream: &mut impl Read, sink: &Mutex<Kept>, keep: Keep) {
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => sink
                .lock()
                .expect("capture buffer poisoned")
                .add(&chunk[..n], keep),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

impl Capture {
    /// Everything kept by `deadline` (normally all of it: the pipe closes
    /// when the child's group is gone), and whether bytes were dropped.
    fn finish(self, deadline: Instant) -> (Vec<u8>, bool) {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let kept = std::mem::take(&mut *self.kept.lock().expect("capture buffer poisoned"));
        kept.into_parts(self.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Launcher` whose "sockrepl" is `sh -c SCRIPT`: `sh` ignores the
    /// flags before `run` because they become `$0`.. of the `-c` script.
    fn shell_run(script: &str, limit: Duration, control: &RunControl) -> ChildRun {
        let dir = tempfile::tempdir().expect("tempdir");
        let program = dir.path().join("fake-sockrepl");
        std::fs::write(&program, format!("#!/bin/sh\n{script}\n")).expect("write");
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&program, executable).expect("chmod");
        let launcher = Launcher {
            program: &program,
            child_flags: &[],
            script_timeout: limit,
            control,
        };
        launcher.run(&dir.path().join("x.sock")).expect("run")
    }

    #[test]
    fn captures_both_streams_even_when_one_fills_its_pipe() {
        // 1 MiB on stderr is far beyond a pipe buffer; it must not deadlock.
        let run = shell_run(
            "head -c 1048576 /dev/zero >&2; echo out; exit 3",
            Duration::from_secs(30),
            &RunControl::default(),
        );
        assert_eq!(run.stdout, b"out\n");
        assert_eq!(run.stderr.len(), STDERR_LIMIT, "only the tail is kept");
        match run.ending {
            Ending::Exited(status) => assert_eq!(status.code(), Some(3)),
            other => panic!("should have exited: {other:?}"),
        }
    }

    #[test]
    fn the_watchdog_ends_a_child_past_its_limit() {
        let started = Instant::now();
        let run = shell_run(
            "echo before; exec sleep 30",
            Duration::from_millis(300),
            &RunControl::default(),
        );
        assert_eq!(run.ending, Ending::TimedOut(Duration::from_millis(300)));
        assert_eq!(run.stdout, b"before\n");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_stopped_run_ends_its_children_and_starts_no_more() {
        let control = RunControl::default();
        control.stop();
        let dir = tempfile::tempdir().expect("tempdir");
        let launcher = Launcher {
            program: Path::new("/bin/sh"),
            child_flags: &[],
            script_timeout: Duration::from_secs(30),
            control: &control,
        };
        let refused = launcher
            .run(&dir.path().join("x.sock"))
            .expect_err("stopped");
        assert_eq!(refused.kind(), io::ErrorKind::Interrupted);
        assert_eq!(control.live_groups(), 0);
    }

    #[test]
    fn only_the_skip_channel_says_skipped() {
        let control = RunControl::default();
        let run = shell_run(
            "echo skipped: fake; exit 77",
            Duration::from_secs(30),
            &control,
        );
        assert_eq!(run.skip, None, "an exit status is not a skip");
        assert_eq!(control.live_groups(), 0, "the group was forgotten");
    }

    #[test]
    fn the_head_or_the_tail_is_kept() {
        let mut head = Kept::default();
        head.add(b"abcdef", Keep::Head(4));
        head.add(b"gh", Keep::Head(4));
        assert_eq!(head.into_parts(Keep::Head(4)), (b"abcd".to_vec(), true));
        let mut tail = Kept::default();
        for chunk in [&b"abc"[..], b"def", b"gh"] {
            tail.add(chunk, Keep::Tail(4));
        }
        assert_eq!(tail.into_parts(Keep::Tail(4)), (b"efgh".to_vec(), true));
        let mut short = Kept::default();
        short.add(b"ab", Keep::Tail(4));
        assert_eq!(short.into_parts(Keep::Tail(4)), (b"ab".to_vec(), false));
    }

    #[test]
    fn a_script_in_the_current_directory_runs_from_dot() {
        assert_eq!(script_dir(Path::new("echo.sock")), Path::new("."));
        assert_eq!(script_dir(Path::new("t/echo.sock")), Path::new("t"));
    }
}

//! Running one script in its own `sockrepl` child process, with a watchdog.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The status a script exits with when a `require` is not met.
pub(crate) const SKIP_STATUS: i32 = 77;

/// A runaway script may print forever; keep memory bounded (and the report
/// readable) by keeping only this much of each stream.
const CAPTURE_LIMIT: usize = 64 << 20;

/// After the child is gone, how long to wait for its pipes to close; a
/// grandchild it left behind may hold them open indefinitely.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How a child run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited(ExitStatus),
    /// Still running at the limit, so the watchdog killed it.
    Hung(Duration),
}

#[derive(Debug)]
pub(crate) struct ChildRun {
    pub ending: Ending,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What to run a script with; shared by every worker.
pub(crate) struct Launcher<'a> {
    pub program: &'a Path,
    pub timeout: Option<&'a str>,
    pub kill_after: Duration,
}

impl Launcher<'_> {
    /// Runs `script` from inside its own directory so failure lines name it
    /// by file name alone (`echo.sock:12: ...`) on every machine.
    pub(crate) fn run(&self, script: &Path) -> io::Result<ChildRun> {
        let mut child = self.command(script).spawn()?;
        let stdout = capture(child.stdout.take())?;
        let stderr = capture(child.stderr.take())?;
        let ending = wait_with_watchdog(&mut child, self.kill_after)?;
        let pipes_deadline = Instant::now() + PIPE_GRACE;
        Ok(ChildRun {
            ending,
            stdout: stdout.finish(pipes_deadline),
            stderr: stderr.finish(pipes_deadline),
        })
    }

    fn command(&self, script: &Path) -> Command {
        let mut command = Command::new(self.program);
        command.args(["--stable", "--skip-status", &SKIP_STATUS.to_string()]);
        if let Some(timeout) = self.timeout {
            command.args(["--timeout", timeout]);
        }
        let file_name = script.file_name().unwrap_or(script.as_os_str());
        command.arg("run").arg(file_name);
        command.current_dir(script_dir(script));
        // A user's CLICOLOR_FORCE must not leak colour codes into transcripts.
        command.env_remove("CLICOLOR_FORCE").env("NO_COLOR", "1");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

fn script_dir(script: &Path) -> &Path {
    match script.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Polls rather than blocking in `wait`, so the child can be killed at the
/// limit; the nap grows so quick scripts are not slowed and slow ones cost
/// little CPU.
fn wait_with_watchdog(child: &mut Child, limit: Duration) -> io::Result<Ending> {
    let deadline = Instant::now() + limit;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ending::Exited(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // Fails only if the child exited just now; either way it is gone.
            let _ = child.kill();
            child.wait()?;
            return Ok(Ending::Hung(limit));
        }
        thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// One stream of the child, drained on its own thread: reading stdout and
/// stderr concurrently means a child filling one pipe cannot deadlock us.
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

fn capture(stream: Option<impl Read + Send + 'static>) -> io::Result<Capture> {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let (finished, done) = mpsc::channel();
    if let Some(mut stream) = stream {
        let sink = Arc::clone(&bytes);
        thread::Builder::new()
            .name("golden-capture".into())
            .spawn(move || {
                drain(&mut stream, &sink);
                let _ = finished.send(());
            })?;
    }
    Ok(Capture { bytes, done })
}

fn drain(stream: &mut impl Read, sink: &Mutex<Vec<u8>>) {
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                let mut bytes = sink.lock().expect("capture buffer poisoned");
                let room = CAPTURE_LIMIT.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

impl Capture {
    /// Everything read by `deadline` (normally all of it: the pipe closes
    /// when the child exits).
    fn finish(self, deadline: Instant) -> Vec<u8> {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        std::mem::take(&mut *self.bytes.lock().expect("capture buffer poisoned"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn shell(script: &str, kill_after: Duration) -> ChildRun {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn sh");
        let stdout = capture(child.stdout.take()).expect("thread");
        let stderr = capture(child.stderr.take()).expect("thread");
        let ending = wait_with_watchdog(&mut child, kill_after).expect("wait");
        let deadline = Instant::now() + PIPE_GRACE;
        ChildRun {
            ending,
            stdout: stdout.finish(deadline),
            stderr: stderr.finish(deadline),
        }
    }

    #[test]
    fn captures_both_streams_even_when_one_fills_its_pipe() {
        // 1 MiB on stderr is far beyond a pipe buffer; it must not deadlock.
        let run = shell(
            "head -c 1048576 /dev/zero >&2; echo out; exit 3",
            Duration::from_secs(30),
        );
        assert_eq!(run.stdout, b"out\n");
        assert_eq!(run.stderr.len(), 1 << 20);
        match run.ending {
            Ending::Exited(status) => assert_eq!(status.code(), Some(3)),
            Ending::Hung(_) => panic!("should have exited"),
        }
    }

    #[test]
    fn the_watchdog_kills_a_child_past_its_limit() {
        let started = Instant::now();
        let run = shell("echo before; exec sleep 30", Duration::from_millis(300));
        assert_eq!(run.ending, Ending::Hung(Duration::from_millis(300)));
        assert_eq!(run.stdout, b"before\n");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_script_in_the_current_directory_runs_from_dot() {
        assert_eq!(script_dir(Path::new("echo.sock")), Path::new("."));
        assert_eq!(script_dir(Path::new("t/echo.sock")), Path::new("t"));
    }
}

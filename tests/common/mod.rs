//! A small builder for integration tests that run the real `sockrepl` binary.
//!
//! Every test goes through [`Sock`] so that each child process gets the same
//! treatment: the script is written to a private temporary directory (which is
//! also the child's working directory, so failure lines read `t.sock:N: ...`),
//! stdout and stderr are captured, and a watchdog kills the child after
//! [`GUARD`] so a hang fails one test instead of freezing `cargo test`.
#![allow(dead_code)] // each test crate uses a different subset of the helpers

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any one child may run before the test kills it and fails.
pub const GUARD: Duration = Duration::from_secs(20);

/// The binary under test, built by cargo for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_sockrepl");

/// The name the script file gets inside the temporary directory.
pub const SCRIPT: &str = "t.sock";

/// Where the script comes from: a file given to `run`, stdin, or nowhere.
enum Input {
    File(Vec<u8>),
    Stdin(Vec<u8>),
    None,
}

/// One planned run of the binary.
pub struct Sock {
    input: Input,
    /// `None` means "`run t.sock`"; `Some` replaces the whole command line.
    cli: Option<Vec<String>>,
    globals: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    extra_files: Vec<(String, Vec<u8>)>,
    unprivileged: bool,
    guard: Duration,
    fd_limit: Option<u64>,
    new_netns: bool,
    symlinks: Vec<(String, String)>,
    executables: Vec<(String, Vec<u8>)>,
}

impl Sock {
    /// `sockrepl [FLAGS] run t.sock [ARGS]` with `text` as t.sock.
    pub fn script(text: &str) -> Sock {
        Sock::script_bytes(text.as_bytes())
    }

    /// Like [`Sock::script`] for scripts that are not valid UTF-8.
    pub fn script_bytes(bytes: &[u8]) -> Sock {
        Sock::new(Input::File(bytes.to_vec()))
    }

    /// `sockrepl [FLAGS] run -` with `text` on stdin.
    pub fn stdin_script(text: &str) -> Sock {
        Sock::new(Input::Stdin(text.as_bytes().to_vec())).with_cli(["run", "-"])
    }

    /// A bare command line (`--version`, `check a b`, ...) with empty stdin.
    pub fn cli<I, S>(words: I) -> Sock
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Sock::new(Input::None).with_cli(words)
    }

    fn new(input: Input) -> Sock {
        Sock {
            input,
            cli: None,
            globals: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            extra_files: Vec::new(),
            unprivileged: false,
            guard: GUARD,
            fd_limit: None,
            new_netns: false,
            symlinks: Vec::new(),
            executables: Vec::new(),
        }
    }

    /// Replace the command line after the global flags.
    pub fn with_cli<I, S>(mut self, words: I) -> Sock
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cli = Some(words.into_iter().map(Into::into).collect());
        self
    }

    /// Feed these bytes on stdin (for `run -` or bare `sockrepl`).
    pub fn stdin(mut self, bytes: &[u8]) -> Sock {
        self.input = Input::Stdin(bytes.to_vec());
        self
    }

    /// Script arguments, `${1}`..`${9}`.
    pub fn args<I, S>(mut self, args: I) -> Sock
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--stable`.
    pub fn stable(self) -> Sock {
        self.flag("--stable")
    }

    /// `--timeout DUR`.
    pub fn timeout(self, dur: &str) -> Sock {
        self.flag("--timeout").flag(dur)
    }

    /// Any global flag word, placed before the subcommand.
    pub fn flag(mut self, word: &str) -> Sock {
        self.globals.push(word.to_string());
        self
    }

    /// An environment variable for the child.
    pub fn env(mut self, name: &str, value: &str) -> Sock {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Another file next to the script (for `source`, `check`, `--file`).
    pub fn file(mut self, name: &str, bytes: &[u8]) -> Sock {
        self.extra_files.push((name.to_string(), bytes.to_vec()));
        self
    }

    /// An executable file next to the script (a stand-in program).
    pub fn executable(mut self, name: &str, text: &str) -> Sock {
        self.executables
            .push((name.to_string(), text.as_bytes().to_vec()));
        self
    }

    /// A symbolic link `name` -> `target` next to the script.
    pub fn symlink(mut self, name: &str, target: &str) -> Sock {
        self.symlinks.push((name.to_string(), target.to_string()));
        self
    }

    /// Run the child as user `nobody` (uid/gid 65534) via `setpriv`.
    pub fn unprivileged(mut self) -> Sock {
        self.unprivileged = true;
        self
    }

    /// A shorter watchdog, for inputs that must be handled quickly.
    pub fn guard(mut self, limit: Duration) -> Sock {
        self.guard = limit.min(GUARD);
        self
    }

    /// Run the child with at most `limit` open file descriptors (`ulimit -n`).
    pub fn fd_limit(mut self, limit: u64) -> Sock {
        self.fd_limit = Some(limit);
        self
    }

    /// Run the child in a network namespace of its own (`unshare --net`):
    /// only a down `lo`, so nothing it does can reach any network.
    /// Check [`can_unshare_net`] first.
    pub fn in_new_netns(mut self) -> Sock {
        self.new_netns = true;
        self
    }

    /// Start the child and return at once, for tests that act on it while
    /// it runs (read `/proc/PID/fd`, send SIGINT). Stdin must not be used.
    pub fn spawn(self) -> Running {
        assert!(self.stdin_bytes().is_none(), "spawn does not feed stdin");
        let dir = tempfile::tempdir().expect("tempdir");
        self.write_files(dir.path());
        let mut command = self.command();
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn sockrepl");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let out = drain_shared(child.stdout.take().expect("stdout"), stdout.clone());
        let err = drain(child.stderr.take().expect("stderr"));
        Running {
            child,
            dir,
            stdout,
            out: Some(out),
            err: Some(err),
            started,
            guard: self.guard,
        }
    }

    /// Run it, with the watchdog. Panics if the child outlives [`GUARD`].
    pub fn run(self) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        self.write_files(dir.path());
        let mut command = self.command();
        command.current_dir(dir.path());
        let started = Instant::now();
        let (status, stdout, stderr) = run_guarded(command, self.stdin_bytes(), self.guard);
        Run {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: started.elapsed(),
            dir,
        }
    }

    fn write_files(&self, dir: &Path) {
        if let Input::File(bytes) = &self.input {
            std::fs::write(dir.join(SCRIPT), bytes).expect("write script");
        }
        for (name, bytes) in &self.extra_files {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("make extra file's directory");
            }
            std::fs::write(path, bytes).expect("write extra file");
        }
        for (name, target) in &self.symlinks {
            std::os::unix::fs::symlink(target, dir.join(name)).expect("make symlink");
        }
        for (name, bytes) in &self.executables {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write executable");
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(&path, mode).expect("make executable");
        }
    }

    fn command(&self) -> Command {
        let mut words: Vec<String> = self.globals.clone();
        match &self.cli {
            Some(cli) => words.extend(cli.iter().cloned()),
            None => words.extend(["run".to_string(), SCRIPT.to_string()]),
        }
        words.extend(self.args.iter().cloned());
        let mut command = if self.new_netns {
            let mut c = Command::new("unshare");
            c.args(["--net", "--"]);
            c.args(self.program());
            c
        } else {
            let mut program = self.program();
            let mut c = Command::new(program.remove(0));
            c.args(program);
            c
        };
        command.args(words);
        if let Some(limit) = self.fd_limit {
            limit_fds(&mut command, limit);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// The binary, run through setpriv when unprivileged.
    fn program(&self) -> Vec<&str> {
        if self.unprivileged {
            vec![
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
            ]
        } else {
            vec![BIN]
        }
    }

    fn stdin_bytes(&self) -> Option<Vec<u8>> {
        match &self.input {
            Input::Stdin(bytes) => Some(bytes.clone()),
            _ => None,
        }
    }
}

/// Spawn `command`, feed stdin, collect output, and kill it after `guard`.
fn run_guarded(
    mut command: Command,
    stdin: Option<Vec<u8>>,
    guard: Duration,
) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn sockrepl");
    let feeder = stdin.map(|bytes| feed(&mut child, bytes));
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = wait_or_kill(&mut child, guard);
    if let Some(feeder) = feeder {
        let _ = feeder.join(); // a child that stops reading early is fine
    }
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!(
            "sockrepl still running after {guard:?}: killed\n--- stdout (tail)\n{}\n--- stderr\n{}",
            tail(&String::from_utf8_lossy(&stdout)),
            String::from_utf8_lossy(&stderr)
        );
    };
    (status.code(), stdout, stderr)
}

fn feed(child: &mut Child, bytes: Vec<u8>) -> JoinHandle<()> {
    let mut pipe = child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    })
}

fn drain<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// The exit status, or `None` after killing a child that outlived `guard`.
fn wait_or_kill(child: &mut Child, guard: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + guard;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The last 2000 characters, so a runaway transcript does not flood the log.
fn tail(text: &str) -> &str {
    let cut = text.len().saturating_sub(2000);
    let cut = (cut..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[cut..]
}

/// Sets RLIMIT_NOFILE in the child between fork and exec.
fn limit_fds(command: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlimit = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only this child.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// Like [`drain`], but the bytes so far can be read while the child runs.
fn drain_shared<R: Read + Send + 'static>(
    mut pipe: R,
    sink: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    })
}

/// A child started by [`Sock::spawn`]; killed if dropped unfinished.
pub struct Running {
    child: Child,
    dir: tempfile::TempDir,
    stdout: Arc<Mutex<Vec<u8>>>,
    out: Option<JoinHandle<()>>,
    err: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
    guard: Duration,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The path of a file inside the run's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The transcript printed so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits (at most `limit`) until stdout has a line equal to `line`.
    pub fn wait_for_line(&self, line: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stdout_so_far().lines().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "no line {line:?} within {limit:?}; stdout so far:\n{}",
                tail(&self.stdout_so_far())
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The child's open file descriptors, from `/proc/PID/fd`.
    pub fn fd_count(&self) -> usize {
        let dir = format!("/proc/{}/fd", self.pid());
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .count()
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to the child.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// Waits for the child (killing it after the guard) and collects the run.
    pub fn finish(mut self) -> Run {
        let limit = self.guard.saturating_sub(self.started.elapsed());
        let status = wait_or_kill(&mut self.child, limit);
        self.out.take().unwrap().join().unwrap();
        let stderr = self.err.take().unwrap().join().unwrap();
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        let (stdout, stderr) = (
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        );
        let Some(status) = status else {
            panic!(
                "sockrepl still running after {:?}: killed\n--- stdout (tail)\n{}\n--- stderr\n{stderr}",
                self.guard,
                tail(&stdout)
            );
        };
        let elapsed = self.started.elapsed();
        let dir = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, dir);
        Run {
            status: status.code(),
            stdout,
            stderr,
            elapsed,
            dir,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one run produced. Keeps the temporary directory alive for inspection.
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub dir: tempfile::TempDir,
}

impl Run {
    /// A dump of everything, for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    /// The path of a file inside the run's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn assert_status(&self, code: i32) -> &Self {
        assert_eq!(
            self.status,
            Some(code),
            "wrong exit status\n{}",
            self.show()
        );
        self
    }

    /// Neither a panic (101) nor death by a signal.
    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            matches!(self.status, Some(c) if c != 101),
            "panicked or was killed\n{}",
            self.show()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "panic message\n{}",
            self.show()
        );
        self
    }

    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    pub fn assert_stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n{}",
            self.show()
        );
        self
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    /// stdout or stderr (usage errors may go to either) contains `needle`.
    pub fn assert_output_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "output lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    /// stdout has exactly this line.
    pub fn assert_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout.lines().any(|l| l == line),
            "no line {line:?}\n{}",
            self.show()
        );
        self
    }

    /// The line right after the transcript echo `> COMMAND` is `outcome`.
    pub fn assert_outcome(&self, command: &str, outcome: &str) -> &Self {
        let echo = format!("> {command}");
        let lines: Vec<&str> = self.stdout.lines().collect();
        let at = lines.iter().position(|l| *l == echo);
        let at = at.unwrap_or_else(|| panic!("no echo {echo:?}\n{}", self.show()));
        assert_eq!(
            lines.get(at + 1).copied(),
            Some(outcome),
            "outcome of {command:?}\n{}",
            self.show()
        );
        self
    }

    /// The last stdout line is exactly `line` (the failure line of a run).
    pub fn assert_last_line(&self, line: &str) -> &Self {
        assert_eq!(self.last_line(), line, "last line\n{}", self.show());
        self
    }

    /// The last stdout line starts with `prefix`.
    pub fn assert_last_line_starts(&self, prefix: &str) -> &Self {
        assert!(
            self.last_line().starts_with(prefix),
            "last line not {prefix:?}...\n{}",
            self.show()
        );
        self
    }

    /// No command ran: nothing echoed as `> ...` and no outcome printed.
    pub fn assert_nothing_ran(&self) -> &Self {
        assert!(
            !self.stdout.lines().any(|l| l.starts_with("> ")),
            "a command ran\n{}",
            self.show()
        );
        self
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The line after `> COMMAND`, for values the test reads back.
    pub fn outcome_of(&self, command: &str) -> &str {
        let echo = format!("> {command}");
        let mut lines = self.stdout.lines().skip_while(|l| *l != echo);
        lines.next();
        lines
            .next()
            .unwrap_or_else(|| panic!("no outcome of {command:?}\n{}", self.show()))
    }
}

/// The lecture's Python echo server (`scripts/python/echo-server.py`),
/// which serves until it is stopped: killed when dropped.
pub struct PythonEcho {
    child: Child,
    pub addr: String,
}

impl PythonEcho {
    /// Start the echo server on 127.0.0.1 port 0 and read its address back.
    pub fn start() -> PythonEcho {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/echo-server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let line = first_line(&mut child);
        let addr = line.strip_prefix("listening on ").map(str::to_string);
        let addr = addr.unwrap_or_else(|| panic!("echo server said {line:?}"));
        PythonEcho { child, addr }
    }
}

/// `tests/peers/misbehaving_peer.py MODE COUNT INTERVAL`: one connection,
/// handled badly on purpose (see the script). Killed when dropped.
pub struct MisbehavingPeer {
    child: Child,
    pub addr: String,
}

impl MisbehavingPeer {
    pub fn start(mode: &str, count: usize, interval_secs: f64) -> MisbehavingPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/misbehaving_peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                mode.to_string(),
                count.to_string(),
                interval_secs.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let line = first_line(&mut child);
        let addr = line.strip_prefix("listening on ").map(str::to_string);
        let addr = addr.unwrap_or_else(|| panic!("misbehaving peer said {line:?}"));
        MisbehavingPeer { child, addr }
    }
}

impl Drop for MisbehavingPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peer's first stdout line, read with a deadline.
fn first_line(child: &mut Child) -> String {
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        // keep draining so the peer never blocks on a full pipe
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        String::from_utf8_lossy(&line).into_owned()
    });
    let deadline = Instant::now() + GUARD;
    while !reader.is_finished() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("echo server printed no address within {GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    reader.join().unwrap()
}

impl Drop for PythonEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `true` when setpriv can drop root to nobody here (it needs root itself).
pub fn can_run_unprivileged() -> Result<(), String> {
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "setpriv failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("no setpriv: {e}")),
    }
}

/// `Ok` when this process may create a network namespace (`unshare --net`).
pub fn can_unshare_net() -> Result<(), String> {
    let probe = Command::new("unshare")
        .args(["--net", "true"])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "unshare --net failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("no unshare: {e}")),
    }
}

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
            std::fs::write(dir.join(name), bytes).expect("write extra file");
        }
    }

    fn command(&self) -> Command {
        let mut words: Vec<String> = self.globals.clone();
        match &self.cli {
            Some(cli) => words.extend(cli.iter().cloned()),
            None => words.extend(["run".to_string(), SCRIPT.to_string()]),
        }
        words.extend(self.args.iter().cloned());
        let mut command = if self.unprivileged {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        command.args(words);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
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

/// A Python peer (`tests/peers/echo_server.py`) killed when dropped.
pub struct PythonEcho {
    child: Child,
    pub addr: String,
}

impl PythonEcho {
    /// Start the echo server on 127.0.0.1 port 0 and read its address back.
    pub fn start(connections: usize) -> PythonEcho {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/echo_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("0")
            .arg(connections.to_string())
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

//! The one way integration tests start a process: the `sockrepl` binary,
//! or the lecture's Python programs and the test peers.
//!
//! Every child goes through [`Sock`] so that each gets the same treatment:
//! the script is written to a private temporary directory (which is also
//! the child's working directory, so failure lines read `t.sock:N: ...`),
//! stdout and stderr are drained by threads while it runs (so no amount of
//! output can fill a pipe and stall it), and a watchdog kills the child
//! after [`GUARD`] so a hang fails one test instead of freezing `cargo test`.
//! The assertion helpers are `#[track_caller]`: a failure names the line of
//! the test, not a line of this file.
#![allow(dead_code, unused_macros)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any one child may run before the test kills it and fails.
pub const GUARD: Duration = Duration::from_secs(20);

/// The binary under test, built by cargo for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_sockrepl");

/// The name the script file gets inside the temporary directory.
pub const SCRIPT: &str = "t.sock";

/// A path inside the repository (scripts, lessons, peers, golden files).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Tests that keep a core busy for seconds (a million-line script, a 10 MB
/// line, the fuzz loop) hold one of these while they run: at most one such
/// test per core runs at a time. The rest of the suite mostly waits (on
/// sockets, timeouts, peers) and runs beside them on more threads than
/// there are cores; without this, several heavy tests at once would each
/// take several times as long and run into their watchdogs.
pub struct CoreSlot(());

static BUSY_CORES: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

fn busy_cores() -> MutexGuard<'static, usize> {
    BUSY_CORES.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for a free core and takes it until the slot is dropped.
pub fn cpu_heavy() -> CoreSlot {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut busy = busy_cores();
    while *busy >= cores {
        busy = BUSY_CORES.1.wait(busy).unwrap_or_else(|e| e.into_inner());
    }
    *busy += 1;
    CoreSlot(())
}

impl Drop for CoreSlot {
    fn drop(&mut self) {
        *busy_cores() -= 1;
        BUSY_CORES.1.notify_one();
    }
}

/// The lessons bind fixed abstract names (`@sockrepl-lesson08-abstract`),
/// which every process on the machine shares, so two runs of one lesson at
/// the same time collide. Each test that runs the lessons holds this lock.
pub fn lessons_lock() -> MutexGuard<'static, ()> {
    static LESSONS: Mutex<()> = Mutex::new(());
    LESSONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the calling test early, printing `skipped: REASON`, when `probe`
/// (one of the `can_*` checks below) says this machine cannot run it.
macro_rules! skip_unless {
    ($probe:expr) => {
        if let Err(reason) = $probe {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// Script lines that make a UDP handle `gate`: at each `recv gate` the
/// script waits until the test calls [`Running::open_gate`]. Tests that
/// look at a running child (its descriptors, its files) pause it this way
/// instead of guessing how long a `sleep` gives them. The wait ends after
/// [`GUARD`] all the same, so a child whose test was killed cannot linger.
pub const GATE: &str = "socket gate udp\nbind gate 127.0.0.1:0\nsettimeout gate 20s\n\
                        print gate at ${gate.addr}\n";

/// Where the script comes from: a file given to `run`, stdin, or nowhere.
enum Input {
    File(Vec<u8>),
    Stdin(Vec<u8>),
    None,
}

/// The program the child runs.
enum Program {
    Sockrepl,
    /// `python3` with this script (an absolute path) as its first word.
    Python(PathBuf),
}

/// One planned run of a child process.
pub struct Sock {
    program: Program,
    input: Input,
    /// `None` means "`run t.sock`"; `Some` replaces the whole command line.
    cli: Option<Vec<String>>,
    globals: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    extra_files: Vec<(String, Vec<u8>)>,
    symlinks: Vec<(String, String)>,
    /// An existing working directory instead of a private temporary one.
    dir: Option<PathBuf>,
    unprivileged: bool,
    guard: Duration,
    limits: Vec<(Limit, u64)>,
    new_netns: bool,
    executables: Vec<(String, Vec<u8>)>,
}

/// A resource limit set in the child before it starts.
#[derive(Clone, Copy)]
enum Limit {
    Files,
    Memory,
}

impl Sock {
    /// `sockrepl [FLAGS] run t.sock [ARGS]` with `text` as t.sock.
    pub fn script(text: &str) -> Sock {
        Sock::script_bytes(text.as_bytes())
    }

    /// Like [`Sock::script`] for scripts that are not valid UTF-8.
    pub fn script_bytes(bytes: &[u8]) -> Sock {
        Sock::new(Program::Sockrepl, Input::File(bytes.to_vec()))
    }

    /// `sockrepl [FLAGS] run -` with `text` on stdin.
    pub fn stdin_script(text: &str) -> Sock {
        Sock::new(Program::Sockrepl, Input::Stdin(text.as_bytes().to_vec())).with_cli(["run", "-"])
    }

    /// A bare command line (`--version`, `check a b`, ...) with empty stdin.
    pub fn cli<I, S>(words: I) -> Sock
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Sock::new(Program::Sockrepl, Input::None).with_cli(words)
    }

    /// `python3 SCRIPT [ARGS]`, SCRIPT a path in the repository: the
    /// lecture's Python programs (`scripts/python/`) and the test peers.
    pub fn python(script: &str) -> Sock {
        let path = repo(script);
        Sock::new(Program::Python(path), Input::None).with_cli(Vec::<String>::new())
    }

    /// `python3 -` with `program` on stdin: a program made by the test
    /// (`sockrepl export`'s).
    pub fn python_stdin(program: &str) -> Sock {
        let stdin = Input::Stdin(program.as_bytes().to_vec());
        Sock::new(Program::Python(PathBuf::from("-")), stdin).with_cli(Vec::<String>::new())
    }

    fn new(program: Program, input: Input) -> Sock {
        Sock {
            program,
            input,
            cli: None,
            globals: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            extra_files: Vec::new(),
            symlinks: Vec::new(),
            dir: None,
            unprivileged: false,
            guard: GUARD,
            limits: Vec::new(),
            new_netns: false,
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

    /// Script arguments, `${1}`..`${9}` (or the Python program's arguments).
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

    /// Run in `dir` (which the test owns) instead of a private temporary
    /// directory; the script, if any, must then come on stdin.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Sock {
        self.dir = Some(dir.into());
        self
    }

    /// Run the child as user `nobody` (uid/gid 65534) via `setpriv`.
    /// Check [`can_run_unprivileged`] first.
    pub fn unprivileged(mut self) -> Sock {
        self.unprivileged = true;
        self
    }

    /// Another watchdog than [`GUARD`]: shorter, for inputs that must be
    /// handled quickly, or longer, for a run known to take long (a million
    /// lines, the whole golden suite) that a loaded machine slows further.
    pub fn guard(mut self, limit: Duration) -> Sock {
        self.guard = limit;
        self
    }

    /// Run the child with at most `limit` open file descriptors (`ulimit -n`).
    pub fn fd_limit(mut self, limit: u64) -> Sock {
        self.limits.push((Limit::Files, limit));
        self
    }

    /// Run the child with at most `bytes` of address space (`ulimit -v`).
    pub fn memory_limit(mut self, bytes: u64) -> Sock {
        self.limits.push((Limit::Memory, bytes));
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
    /// it runs (read `/proc/PID/fd`, send SIGINT, talk to a peer).
    pub fn spawn(self) -> Running {
        let dir = self.workdir();
        let mut command = self.command();
        command.current_dir(dir.path());
        Running::start(command, self.stdin_bytes(), dir, self.guard)
    }

    /// Run it to its end, with the watchdog. Panics if the child outlives
    /// its guard ([`GUARD`] unless [`Sock::guard`] set another).
    #[track_caller]
    pub fn run(self) -> Run {
        self.spawn().finish()
    }

    /// The command line this builder runs, for a harness that wires the
    /// child's stdio itself (the pseudo-terminal of the shell tests).
    pub fn into_command(self) -> Command {
        assert!(
            matches!(self.input, Input::None) && self.extra_files.is_empty(),
            "into_command writes no files and feeds no stdin"
        );
        let mut command = self.command();
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command
    }

    /// The child's working directory, with the script and files written.
    fn workdir(&self) -> Workdir {
        if let Some(dir) = &self.dir {
            assert!(
                !matches!(self.input, Input::File(_))
                    && self.extra_files.is_empty()
                    && self.symlinks.is_empty(),
                "in_dir writes no files into the test's directory"
            );
            return Workdir::Given(dir.clone());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        self.write_files(dir.path());
        Workdir::Private(dir)
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
        let mut program = self.program();
        if self.new_netns {
            program.splice(0..0, ["unshare".into(), "--net".into(), "--".into()]);
        }
        let mut command = Command::new(program.remove(0));
        command.args(program).args(words);
        for &(limit, value) in &self.limits {
            set_limit(&mut command, limit, value);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// The program and its leading words, run through setpriv when
    /// unprivileged.
    fn program(&self) -> Vec<std::ffi::OsString> {
        let mut words: Vec<std::ffi::OsString> = Vec::new();
        if self.unprivileged {
            let setpriv = [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ];
            words.extend(setpriv.map(Into::into));
        }
        match &self.program {
            Program::Sockrepl => words.push(BIN.into()),
            Program::Python(script) => words.extend(["python3".into(), script.into()]),
        }
        words
    }

    fn stdin_bytes(&self) -> Option<Vec<u8>> {
        match &self.input {
            Input::Stdin(bytes) => Some(bytes.clone()),
            _ => None,
        }
    }
}

/// A child's working directory: private (removed with the run) or the test's.
enum Workdir {
    Private(tempfile::TempDir),
    Given(PathBuf),
}

impl Workdir {
    fn path(&self) -> &Path {
        match self {
            Workdir::Private(dir) => dir.path(),
            Workdir::Given(dir) => dir,
        }
    }
}

/// Sets a resource limit in the child between fork and exec.
fn set_limit(command: &mut Command, limit: Limit, value: u64) {
    use std::os::unix::process::CommandExt;
    let resource = match limit {
        Limit::Files => libc::RLIMIT_NOFILE,
        Limit::Memory => libc::RLIMIT_AS,
    };
    let rlimit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only this child.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(resource, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

fn feed(child: &mut Child, bytes: Vec<u8>) -> JoinHandle<()> {
    let mut pipe = child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let _ = pipe.write_all(&bytes); // a child that stops reading early is fine
    })
}

/// What a child wrote to one pipe so far, and when it arrived.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    /// (when, how many bytes had arrived by then), one entry per read.
    arrivals: Vec<(Instant, usize)>,
}

type SharedOutput = Arc<Mutex<Output>>;

/// Reads `pipe` to its end into `sink`, whose bytes so far can be read
/// while the child runs.
fn drain<R: Read + Send + 'static>(mut pipe: R, sink: SharedOutput) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 65536];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            let now = Instant::now();
            let mut out = sink.lock().unwrap();
            out.bytes.extend_from_slice(&chunk[..n]);
            let total = out.bytes.len();
            out.arrivals.push((now, total));
        }
    })
}

/// The exit status, or `None` after killing a child that outlived `deadline`.
fn wait_or_kill(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
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

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A started child; killed if dropped unfinished.
pub struct Running {
    child: Child,
    dir: Workdir,
    stdout: SharedOutput,
    stderr: SharedOutput,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
    guard: Duration,
}

impl Running {
    fn start(
        mut command: Command,
        stdin: Option<Vec<u8>>,
        dir: Workdir,
        guard: Duration,
    ) -> Running {
        let input = if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        command
            .stdin(input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let (stdout, stderr) = Default::default();
        let mut threads = vec![
            drain(child.stdout.take().expect("stdout"), Arc::clone(&stdout)),
            drain(child.stderr.take().expect("stderr"), Arc::clone(&stderr)),
        ];
        threads.extend(stdin.map(|bytes| feed(&mut child, bytes)));
        Running {
            child,
            dir,
            stdout,
            stderr,
            threads,
            started,
            guard,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The path of a file inside the run's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The transcript printed so far.
    pub fn stdout_so_far(&self) -> String {
        lossy(&self.stdout.lock().unwrap().bytes)
    }

    /// Waits (at most `limit`) until stdout has a line equal to `line`.
    #[track_caller]
    pub fn wait_for_line(&self, line: &str, limit: Duration) {
        self.wait_for(|l| l == line, &format!("no line {line:?}"), limit);
    }

    /// Waits (at most `limit`) for a stdout line starting with `prefix`;
    /// returns the rest of that line.
    #[track_caller]
    pub fn wait_for_line_starting(&self, prefix: &str, limit: Duration) -> String {
        let line = self.wait_for(
            |l| l.starts_with(prefix),
            &format!("no line starting {prefix:?}"),
            limit,
        );
        line[prefix.len()..].to_string()
    }

    /// The first complete stdout line that is `wanted`, looking at each
    /// line once (a long transcript is not searched again every time).
    #[track_caller]
    fn wait_for(&self, wanted: impl Fn(&str) -> bool, what: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut scanned = 0;
        loop {
            let found = self
                .next_lines(&mut scanned)
                .into_iter()
                .find(|l| wanted(l));
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {limit:?}; stdout so far:\n{}\n--- stderr so far\n{}",
                tail(&self.stdout_so_far()),
                tail(&lossy(&self.stderr.lock().unwrap().bytes))
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The complete stdout lines after byte `scanned`, which moves past them.
    fn next_lines(&self, scanned: &mut usize) -> Vec<String> {
        let out = &self.stdout.lock().unwrap().bytes;
        let Some(end) = out[*scanned..].iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let text = lossy(&out[*scanned..*scanned + end]);
        *scanned += end + 1;
        text.lines().map(str::to_string).collect()
    }

    /// Lets the script (which starts with [`GATE`]) past one `recv gate`.
    #[track_caller]
    pub fn open_gate(&self) {
        let gate = self.wait_for_line_starting("gate at ", GUARD);
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        socket
            .send_to(b"go", &gate)
            .expect("a datagram to the gate");
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
    #[track_caller]
    pub fn finish(mut self) -> Run {
        let status = wait_or_kill(&mut self.child, self.started + self.guard);
        for thread in self.threads.drain(..) {
            thread.join().expect("an output thread");
        }
        let out = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stdout = lossy(&out.bytes);
        let stderr = lossy(&self.stderr.lock().unwrap().bytes);
        let arrivals = out.arrivals.iter();
        let arrivals = arrivals.map(|&(at, total)| (at - self.started, total));
        let Some(status) = status else {
            panic!(
                "child still running after {:?}: killed\n--- stdout (tail)\n{}\n--- stderr\n{}",
                self.guard,
                tail(&stdout),
                tail(&stderr)
            );
        };
        let dir = std::mem::replace(&mut self.dir, Workdir::Given(PathBuf::new()));
        Run {
            status: status.code(),
            stdout,
            stderr,
            elapsed: self.started.elapsed(),
            arrivals: arrivals.collect(),
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
    /// (time since the start, stdout bytes by then), one entry per read.
    arrivals: Vec<(Duration, usize)>,
    dir: Workdir,
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

    /// How long after the start the child had printed the whole of stdout
    /// line `index` (of `stdout.lines()`; the transcript must be UTF-8).
    #[track_caller]
    pub fn printed_at(&self, index: usize) -> Duration {
        let lines: Vec<&str> = self.stdout.split_inclusive('\n').collect();
        assert!(index < lines.len(), "no line {index}\n{}", self.show());
        let end: usize = lines[..=index].iter().map(|l| l.len()).sum();
        let arrived = self.arrivals.iter().find(|&&(_, total)| total >= end);
        arrived.expect("every byte arrived in some read").0
    }

    #[track_caller]
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
    #[track_caller]
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

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n{}",
            self.show()
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    /// stdout or stderr (usage errors may go to either) contains `needle`.
    #[track_caller]
    pub fn assert_output_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "output lacks {needle:?}\n{}",
            self.show()
        );
        self
    }

    /// stdout has exactly this line.
    #[track_caller]
    pub fn assert_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout.lines().any(|l| l == line),
            "no line {line:?}\n{}",
            self.show()
        );
        self
    }

    /// The line right after the transcript echo `> COMMAND` is `outcome`.
    #[track_caller]
    pub fn assert_outcome(&self, command: &str, outcome: &str) -> &Self {
        assert_eq!(
            self.outcome_of(command),
            outcome,
            "outcome of {command:?}\n{}",
            self.show()
        );
        self
    }

    /// The last stdout line is exactly `line` (the failure line of a run).
    #[track_caller]
    pub fn assert_last_line(&self, line: &str) -> &Self {
        assert_eq!(self.last_line(), line, "last line\n{}", self.show());
        self
    }

    /// The last stdout line starts with `prefix`.
    #[track_caller]
    pub fn assert_last_line_starts(&self, prefix: &str) -> &Self {
        assert!(
            self.last_line().starts_with(prefix),
            "last line not {prefix:?}...\n{}",
            self.show()
        );
        self
    }

    /// No command ran: nothing echoed as `> ...` and no outcome printed.
    #[track_caller]
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

    /// The line after the first `> COMMAND`, for values the test reads back.
    #[track_caller]
    pub fn outcome_of(&self, command: &str) -> &str {
        let echo = format!("> {command}");
        let mut lines = self.stdout.lines().skip_while(|l| *l != echo);
        let found = lines.next().is_some();
        assert!(found, "no echo {echo:?}\n{}", self.show());
        lines
            .next()
            .unwrap_or_else(|| panic!("no outcome of {command:?}\n{}", self.show()))
    }
}

/// A peer listening on port 0 that prints `listening on ADDR` first: the
/// Python programs below, or a sockrepl script (whose `listen` prints it).
/// Killed when dropped.
pub struct Peer {
    child: Running,
    pub addr: String,
}

impl Peer {
    #[track_caller]
    pub fn start(sock: Sock) -> Peer {
        let child = sock.spawn();
        let rest = child.wait_for_line_starting("listening on ", GUARD);
        // sockrepl's `listen` adds " (backlog N)"
        let addr = rest.split(' ').next().unwrap_or_default().to_string();
        Peer { child, addr }
    }

    /// Waits for the peer to end on its own and collects its run.
    #[track_caller]
    pub fn finish(self) -> Run {
        self.child.finish()
    }

    /// Stops a peer that serves until it is stopped (SIGTERM), and
    /// collects its run.
    #[track_caller]
    pub fn stop(self) -> Run {
        self.child.signal(libc::SIGTERM);
        self.child.finish()
    }
}

/// The lecture's Python echo server (`scripts/python/echo-server.py`).
pub struct PythonEcho;

impl PythonEcho {
    /// The echo server on 127.0.0.1, port 0: it serves until it is
    /// stopped (killed when dropped).
    #[track_caller]
    pub fn start() -> Peer {
        Peer::start(Sock::python("scripts/python/echo-server.py").args(["0".to_string()]))
    }
}

/// `tests/peers/misbehaving_peer.py MODE COUNT INTERVAL`: one connection,
/// handled badly on purpose (see the script).
pub struct MisbehavingPeer;

impl MisbehavingPeer {
    #[track_caller]
    pub fn start(mode: &str, count: usize, interval_secs: f64) -> Peer {
        let args = [
            mode.to_string(),
            count.to_string(),
            interval_secs.to_string(),
        ];
        Peer::start(Sock::python("tests/peers/misbehaving_peer.py").args(args))
    }
}

/// `Ok` when setpriv can drop root to nobody here (it needs root itself).
pub fn can_run_unprivileged() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let setpriv = ["--reuid=65534", "--regid=65534", "--clear-groups", "true"];
    PROBE
        .get_or_init(|| try_program("setpriv", &setpriv))
        .clone()
        .map_err(|e| format!("cannot drop to an unprivileged user: {e}"))
}

/// `Ok` when this process may create a network namespace (`unshare --net`).
pub fn can_unshare_net() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| try_program("unshare", &["--net", "true"]))
        .clone()
        .map_err(|e| format!("cannot create a network namespace: {e}"))
}

/// `Ok` when the tests run as root (raw sockets, `require raw`).
pub fn can_use_root() -> Result<(), String> {
    // /proc/self belongs to the effective uid of this test process
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    match uid {
        Ok(0) => Ok(()),
        _ => Err("not root".to_string()),
    }
}

/// Runs a helper program once; `Err` says why it failed.
fn try_program(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("no {program}: {e}")),
    }
}

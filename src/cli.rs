//! The command line: which mode runs, with which flags, and the exit status.
//!
//! Status 0: everything ran and held; 1: a command or assertion failed;
//! 2: usage error, unreadable file or syntax error; 130: interrupted;
//! 143 or 129: ended by SIGTERM or SIGHUP (after cleaning up).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::duration::{parse_duration, parse_timeout};
use crate::errors::file_error;
use crate::golden::{run_tests, skip_channel, ReportSpec, TestOptions};
use crate::interp::{End, Interpreter};
use crate::script::{Loader, Script};
use crate::session::Session;
use crate::transcript::Transcript;

#[derive(Parser, Debug)]
#[command(
    name = "sockrepl",
    version,
    propagate_version = true,
    about = "A scriptable socket REPL: the Berkeley socket API on real kernel sockets, \
             from a shell, from scripts, and as golden tests."
)]
struct Cli {
    #[command(flatten)]
    global: Globals,
    #[command(subcommand)]
    mode: Option<Mode>,
}

/// The flags of every mode (SPEC §1, §9, §14), taken before the
/// subcommand and after it: each mode flattens its own copy, and
/// [`Globals::merge`] joins the two, so `--set a=1 run --set b=2` sets both.
/// (clap's `global = true` keeps only the copy after the subcommand.)
#[derive(Args, Debug, Default)]
struct Globals {
    /// Default timeout for blocking commands (250ms, 1.5s, 2s, 1m, none).
    #[arg(long, value_name = "DUR", value_parser = check_timeout)]
    timeout: Option<String>,
    /// Deterministic transcript: kernel-chosen ports, names and fds as placeholders.
    #[arg(long)]
    stable: bool,
    /// Set a variable before the first line: ${NAME} in the script (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Let scripts start programs (spawn).
    #[arg(long)]
    allow_exec: bool,
    /// Run in a network namespace of its own, with only loopback (test: one per script).
    #[arg(long)]
    netns: bool,
    /// Run each script sandboxed: own network, files limited by Landlock, limits (see docs/testing.md).
    #[arg(long)]
    sandbox: bool,
    /// With --sandbox: an environment variable the script may read as ${env.NAME} (repeatable).
    #[arg(long, value_name = "NAME")]
    pass_env: Vec<String>,
    /// With --sandbox: a folder the script may read (default: the script's folder; test: its PATHs).
    #[arg(long, value_name = "DIR")]
    sandbox_read: Vec<PathBuf>,
    /// With --sandbox: the memory a script may hold (default 512M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    limit_memory: Option<u64>,
    /// With --sandbox: the CPU time a script may use (default 60s).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    limit_cpu: Option<std::time::Duration>,
    /// With --sandbox: the processes a script may have (default 64).
    #[arg(long, value_name = "N")]
    limit_procs: Option<u64>,
    /// With --sandbox: the descriptors a script may hold open (default 1024).
    #[arg(long, value_name = "N")]
    limit_fds: Option<u64>,
    /// Exit status for a script skipped by `require` (the test runner uses 77).
    #[arg(long, hide = true)]
    skip_status: Option<i32>,
    /// The test runner's skip channel: a socket to tell it "skipped" on.
    #[arg(long, hide = true, value_name = "FD")]
    skip_fd: Option<i32>,
}

impl Globals {
    /// The flags given before the subcommand, joined with those given
    /// after it: lists add up, switches add up, and a value given in both
    /// places is the later one (after the subcommand), as a repeated flag.
    fn merge(&mut self, after: Globals) {
        let Globals {
            timeout,
            stable,
            set,
            allow_exec,
            netns,
            sandbox,
            pass_env,
            sandbox_read,
            limit_memory,
            limit_cpu,
            limit_procs,
            limit_fds,
            skip_status,
            skip_fd,
        } = after;
        self.timeout = timeout.or(self.timeout.take());
        self.stable |= stable;
        self.set.extend(set);
        self.allow_exec |= allow_exec;
        self.netns |= netns;
        self.sandbox |= sandbox;
        self.pass_env.extend(pass_env);
        self.sandbox_read.extend(sandbox_read);
        self.limit_memory = limit_memory.or(self.limit_memory);
        self.limit_cpu = limit_cpu.or(self.limit_cpu);
        self.limit_procs = limit_procs.or(self.limit_procs);
        self.limit_fds = limit_fds.or(self.limit_fds);
        self.skip_status = skip_status.or(self.skip_status);
        self.skip_fd = skip_fd.or(self.skip_fd);
    }
}

/// The modes of SPEC §1. Each takes the global flags after its name too,
/// and `--version` anywhere prints `sockrepl VERSION` (`display_name`;
/// clap would say `sockrepl-run`).
#[derive(Subcommand, Debug)]
enum Mode {
    /// Run a script ('-' reads it from stdin).
    #[command(display_name = "sockrepl")]
    Run {
        /// Show the script's comment lines in the transcript, in place.
        #[arg(long)]
        comments: bool,
        /// At a terminal, wait for Enter before each command.
        #[arg(long)]
        step: bool,
        file: String,
        /// Script arguments, ${1} to ${9}.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        global: Globals,
    },
    /// Golden-output tests: run every *.sock under the paths and compare with its .out.
    #[command(display_name = "sockrepl")]
    Test {
        paths: Vec<PathBuf>,
        /// Scripts run at once (default: one per core).
        #[arg(short = 'j', long, value_name = "N")]
        jobs: Option<usize>,
        /// Write the .out files from the current transcripts.
        #[arg(long)]
        bless: bool,
        /// End a script (and the programs it started) that runs longer than this.
        #[arg(
            long,
            visible_alias = "kill-after",
            value_name = "DUR",
            default_value = "60s",
            value_parser = parse_duration
        )]
        script_timeout: std::time::Duration,
        /// Also list the scripts that passed.
        #[arg(short, long)]
        verbose: bool,
        /// Also write the results as junit, tap, json or gradescope (repeatable).
        #[arg(long, value_name = "FORMAT=FILE")]
        report: Vec<ReportSpec>,
        /// The sockrepl that runs each script (default: this one).
        #[arg(long, value_name = "PATH")]
        program: Option<PathBuf>,
        #[command(flatten)]
        global: Globals,
    },
    /// Print the script as a Python 3 program making the same calls (see docs/language.md).
    #[command(display_name = "sockrepl")]
    Export {
        file: String,
        /// The program's default arguments, ${1} to ${9}.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        global: Globals,
    },
    /// Parse only: report syntax errors, run nothing.
    #[command(display_name = "sockrepl")]
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        global: Globals,
    },
}

impl Mode {
    /// The global flags given after the subcommand.
    fn global_mut(&mut self) -> &mut Globals {
        match self {
            Mode::Run { global, .. }
            | Mode::Test { global, .. }
            | Mode::Check { global, .. }
            | Mode::Export { global, .. } => global,
        }
    }
}

/// When SIGTERM or SIGHUP ends a session, how long its programs get
/// between their SIGTERM and SIGKILL: the test runner kills the session
/// itself 1 s after its own SIGTERM, and the programs must be gone first.
pub const TERMINATION_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// `NAME=VALUE` for `--set`.
fn parse_set(word: &str) -> Result<(String, String), String> {
    let (name, value) = word
        .split_once('=')
        .ok_or_else(|| format!("'{word}' is not NAME=VALUE"))?;
    crate::parser::check_variable_name(name).map_err(|e| e.message)?;
    Ok((name.to_string(), value.to_string()))
}

/// `64M`, `1G`, `512K` or bytes.
fn parse_size(word: &str) -> Result<u64, String> {
    let shift = match word.chars().last() {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        _ => 0,
    };
    let digits = word.strip_suffix(['K', 'M', 'G']).unwrap_or(word);
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_shl(shift).filter(|bytes| bytes >> shift == n))
        .filter(|&bytes| bytes >= 1 << 20)
        .ok_or_else(|| {
            format!(
                "'{word}' is not a size of at least 1M (512K is too small): write 64M, 1G or bytes"
            )
        })
}

fn check_timeout(word: &str) -> Result<String, String> {
    parse_timeout(word).map(|_| word.to_string())
}

/// Runs the program and returns its exit status.
pub fn main() -> i32 {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return error.exit_code();
        }
    };
    if let Some(after) = cli.mode.as_mut().map(Mode::global_mut) {
        let after = std::mem::take(after);
        cli.global.merge(after);
    }
    if let Some(fd) = cli.global.skip_fd {
        if let Err(message) = skip_channel::claim(fd) {
            eprintln!("sockrepl: {message}");
            return 2;
        }
    }
    // The sandbox, entered before any socket or thread (the test runner
    // passes --sandbox on to each script instead).
    if cli.global.sandbox
        && !matches!(
            cli.mode,
            Some(Mode::Test { .. } | Mode::Check { .. } | Mode::Export { .. })
        )
    {
        match crate::sandbox::enter(&sandbox_config(&cli)) {
            Ok(None) => {}
            Ok(Some(status)) => return status,
            Err(error) => {
                eprintln!("sockrepl: --sandbox: cannot run sandboxed: {error}");
                return 2;
            }
        }
    }
    // A script's own network namespace, made before any socket or thread
    // (the test runner passes --netns on to each script instead).
    if cli.global.netns
        && !cli.global.sandbox
        && !matches!(
            cli.mode,
            Some(Mode::Test { .. } | Mode::Check { .. } | Mode::Export { .. })
        )
    {
        if let Err(error) = crate::netns::enter() {
            eprintln!("sockrepl: --netns: {error}");
            return 2;
        }
    }
    match &cli.mode {
        Some(Mode::Run {
            file,
            args,
            comments,
            step,
            ..
        }) => {
            let how = RunHow {
                comments: *comments,
                step: *step,
            };
            run_file(&cli, file, args, how)
        }
        Some(Mode::Test {
            paths,
            jobs,
            bless,
            script_timeout,
            verbose,
            report,
            program,
            ..
        }) => {
            let mut options = TestOptions::new(paths.clone());
            if let Some(program) = program {
                options.program = program.clone();
            }
            options.jobs = *jobs;
            options.bless = *bless;
            options.timeout = cli.global.timeout.clone();
            options.script_timeout = *script_timeout;
            options.verbose = *verbose;
            options.reports = report.clone();
            options.sets = cli
                .global
                .set
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            options.allow_exec = cli.global.allow_exec;
            options.netns = cli.global.netns;
            if cli.global.sandbox {
                options.sandbox_flags = sandbox_flags(&cli, paths);
            }
            run_tests(&options).unwrap_or_else(|error| {
                eprintln!("sockrepl test: {error:#}");
                2
            })
        }
        Some(Mode::Check { files, .. }) => check_files(files),
        Some(Mode::Export { file, args, .. }) => export_file(&cli, file, args),
        None if std::io::stdin().is_terminal() => crate::repl::run(session(&cli)),
        None => run_file(&cli, "-", &[], RunHow::default()),
    }
}

/// How `run` shows a script: `--comments`, `--step`.
#[derive(Debug, Clone, Copy, Default)]
struct RunHow {
    comments: bool,
    step: bool,
}

/// What `--sandbox` allows: the folders given, or the script's own.
fn sandbox_config(cli: &Cli) -> crate::sandbox::Config {
    let mut trees = cli.global.sandbox_read.clone();
    if trees.is_empty() {
        trees.push(match &cli.mode {
            Some(Mode::Run { file, .. }) if file != "-" => Path::new(file)
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            _ => PathBuf::from("."),
        });
    }
    let mut limits = crate::sandbox::Limits::default();
    limits.memory = cli.global.limit_memory.unwrap_or(limits.memory);
    limits.cpu_seconds = cli
        .global
        .limit_cpu
        .map_or(limits.cpu_seconds, |d| d.as_secs().max(1));
    limits.processes = cli.global.limit_procs.unwrap_or(limits.processes);
    limits.descriptors = cli.global.limit_fds.unwrap_or(limits.descriptors);
    crate::sandbox::Config {
        trees,
        pass_env: cli.global.pass_env.clone(),
        limits,
    }
}

/// The flags each script of `test --sandbox` gets: the sandbox, its
/// limits, and the test tree (each PATH, a file's folder) to read.
fn sandbox_flags(cli: &Cli, paths: &[PathBuf]) -> Vec<std::ffi::OsString> {
    let mut flags: Vec<std::ffi::OsString> = vec!["--sandbox".into()];
    let mut trees = cli.global.sandbox_read.clone();
    if trees.is_empty() {
        trees = match paths {
            [] => vec![PathBuf::from(".")],
            paths => paths.iter().map(|p| tree_of(p)).collect(),
        };
    }
    for tree in trees {
        let tree = tree.canonicalize().unwrap_or(tree);
        flags.extend(["--sandbox-read".into(), tree.into_os_string()]);
    }
    for name in &cli.global.pass_env {
        flags.extend(["--pass-env".into(), name.into()]);
    }
    let limits = [
        (
            "--limit-memory",
            cli.global.limit_memory.map(|m| m.to_string()),
        ),
        (
            "--limit-cpu",
            cli.global
                .limit_cpu
                .map(|d| format!("{}s", d.as_secs().max(1))),
        ),
        (
            "--limit-procs",
            cli.global.limit_procs.map(|n| n.to_string()),
        ),
        ("--limit-fds", cli.global.limit_fds.map(|n| n.to_string())),
    ];
    for (flag, value) in limits {
        if let Some(value) = value {
            flags.extend([flag.into(), value.into()]);
        }
    }
    flags
}

/// The folder a test PATH names, or a file's folder.
fn tree_of(path: &Path) -> PathBuf {
    match path.is_dir() {
        true => path.to_path_buf(),
        false => path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

fn session(cli: &Cli) -> Session {
    let mut session = Session::new(Transcript::stdout(), cli.global.stable);
    if let Some(timeout) = &cli.global.timeout {
        session.default_timeout = parse_timeout(timeout).expect("checked by clap");
    }
    for (name, value) in &cli.global.set {
        session.vars.set(name, value.clone().into_bytes());
    }
    session.allow_exec = cli.global.allow_exec;
    session
}

/// `run FILE [ARG...]`: parse the whole script, then run it.
fn run_file(cli: &Cli, file: &str, args: &[String], how: RunHow) -> i32 {
    let (text, name, path) = match read_script(file) {
        Ok(read) => read,
        Err(message) => {
            eprintln!("sockrepl: {message}");
            return 2;
        }
    };
    let given = cli.global.set.iter().map(|(name, _)| name.clone());
    let script = match Loader::new(args)
        .keeping_comments(how.comments)
        .knowing(given)
        .streaming()
        .parse_text(text.into(), &name, path.as_deref())
    {
        Ok(script) => script,
        Err(errors) => {
            let session = session(cli);
            for error in errors {
                session.out.line(&error.to_string());
            }
            return 2;
        }
    };
    let status = run_script(cli, &script, args, how);
    // The process ends now: freeing a large script line by line would only
    // cost time (handles were closed, and socket files removed, already).
    std::mem::forget(script);
    status
}

fn run_script(cli: &Cli, script: &Script, args: &[String], how: RunHow) -> i32 {
    if let Err(error) = crate::wait::catch_interrupts() {
        eprintln!("sockrepl: cannot catch Ctrl-C: {error}");
    }
    if let Err(error) = crate::wait::catch_terminations() {
        eprintln!("sockrepl: cannot catch SIGTERM and SIGHUP: {error}");
    }
    let mut interpreter = Interpreter::new(session(cli), true);
    interpreter.args = args.to_vec();
    interpreter.comments = how.comments;
    interpreter.step = stepping(how.step);
    let end = interpreter.run_script(script);
    match end {
        // Whoever sent it may not wait long: a shorter grace for programs.
        End::Terminated(_) => interpreter.session.end_programs(TERMINATION_GRACE),
        End::Failed => report_leftover_output(&mut interpreter.session),
        _ => {}
    }
    interpreter.session.close_all();
    match end {
        End::Skipped => {
            // The runner counts a skip only from this channel (the reason
            // is on the transcript's last line until End carries it).
            if let Some(fd) = cli.global.skip_fd {
                skip_channel::send(fd, "");
            }
            cli.global.skip_status.unwrap_or(0)
        }
        end => end.status(cli.global.skip_status.unwrap_or(0)),
    }
}

/// `--step`'s mode: `None` without it or without a terminal to read Enter
/// from (said on stderr), `Some(true)` when stdout is that terminal too,
/// so the command and its Enter share a line.
fn stepping(step: bool) -> Option<bool> {
    if !step {
        return None;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("sockrepl: --step needs a terminal to read Enter from: running without stops");
        return None;
    }
    eprintln!("{}", crate::step::USAGE);
    Some(std::io::stdout().is_terminal())
}

/// After a failure, what each program wrote that the script never read
/// (a traceback, a usage line: why it failed, often) goes to stderr, after
/// the programs have ended: not part of the transcript, which stays
/// deterministic, but shown by `sockrepl test` and in its reports.
fn report_leftover_output(session: &mut Session) {
    // A program that crashed may still be writing why (Python closes its
    // sockets before it prints the traceback): a moment to finish.
    let settle = crate::wait::Deadline::after(Some(LEFTOVER_SETTLE));
    for handle in session.handles() {
        if let Ok(program) = handle.program() {
            let _ = program.wait_exit(settle, "an exit");
        }
    }
    session.end_programs(crate::program::DEFAULT_GRACE);
    for handle in session.handles() {
        let Ok(program) = handle.program() else {
            continue;
        };
        let (unread, status) = program.leftover_output();
        if unread.is_empty() {
            continue;
        }
        let ended = status.map(|s| format!(", which {s},")).unwrap_or_default();
        eprintln!(
            "sockrepl: what {}{ended} wrote that was not read:",
            handle.name
        );
        let text = String::from_utf8_lossy(&unread[..unread.len().min(LEFTOVER_SHOWN)]);
        for line in text.lines() {
            eprintln!("  {}| {line}", handle.name);
        }
        if unread.len() > LEFTOVER_SHOWN {
            eprintln!("  ({} more bytes)", unread.len() - LEFTOVER_SHOWN);
        }
    }
}

/// How long a failure waits for its programs to exit on their own.
const LEFTOVER_SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// How much of a program's unread output a failure shows on stderr.
const LEFTOVER_SHOWN: usize = 4096;

/// The script's bytes, how to name it, and its path (none for stdin).
fn read_script(file: &str) -> Result<(Vec<u8>, String, Option<PathBuf>), String> {
    if file == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok((text, "<stdin>".to_string(), None));
    }
    let path = Path::new(file);
    if path.is_dir() {
        return Err(format!("{file} is a directory, not a script"));
    }
    let text = crate::script::read_script_file(path).map_err(|e| file_error("read", path, &e))?;
    Ok((text, file.to_string(), Some(path.to_path_buf())))
}

/// `export FILE [ARG...]`: the program on stdout; a script `run` would
/// reject, or one that cannot be exported, is status 2.
fn export_file(cli: &Cli, file: &str, args: &[String]) -> i32 {
    let options = crate::export::Options {
        args: args.to_vec(),
        timeout: cli.global.timeout.clone(),
        sets: cli.global.set.clone(),
        allow_exec: cli.global.allow_exec,
        netns: cli.global.netns,
    };
    match crate::export::export_file(file, &options) {
        crate::export::Exported::Program(text) => {
            print!("{text}");
            0
        }
        crate::export::Exported::Rejected { status, stdout } => {
            for line in stdout {
                println!("{line}");
            }
            status
        }
    }
}

/// `check FILE...`: syntax errors on stdout, status 2 if any.
fn check_files(files: &[PathBuf]) -> i32 {
    let mut status = 0;
    for file in files {
        let name = file.display().to_string();
        match read_script(&name) {
            Err(message) => {
                eprintln!("sockrepl: {message}");
                status = 2;
            }
            // The command line may give any argument and variable: only
            // what the script itself gets wrong is an error here.
            Ok((text, name, path)) => {
                match Loader::new(&[]).for_check().streaming().parse_text(
                    text.into(),
                    &name,
                    path.as_deref(),
                ) {
                    Ok(script) => match script.commands {
                        1 => println!("{name}: ok (1 command)"),
                        count => println!("{name}: ok ({count} commands)"),
                    },
                    Err(errors) => {
                        for error in errors {
                            println!("{error}");
                        }
                        status = 2;
                    }
                }
            }
        }
    }
    status
}

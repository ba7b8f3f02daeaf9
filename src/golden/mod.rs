//! `sockrepl test [PATH...]`: golden-output tests for sockrepl scripts.
//!
//! Why: a `.sock` script plus the `.out` transcript beside it is a complete,
//! readable regression test of socket behaviour, so a whole folder of them
//! can be checked (or re-blessed after an intended change) in one command,
//! and a teacher can grade a class's submissions with it.
//!
//! How: every `*.sock` under the paths is found (`discover`), each one is run
//! in its own child `sockrepl --stable --skip-fd N run FILE` started in the
//! script's directory, as the leader of its own process group (`child`), by
//! a small pool of worker threads. A watchdog ends children (with their
//! programs) at the script timeout. Each child's stdout is its transcript:
//! it must equal the `.out` byte for byte, or, without an `.out`, the script
//! must exit 0; a skip counts only when the child says so on its skip
//! channel (`skip_channel`). The worker judges its script (`judge`, with a
//! bounded `diff`) and keeps only what the reports need. Results are
//! printed in sorted path order, written to `--report` files (`report`),
//! and the last line printed is always `N passed, M failed[, K skipped]`.
//! The runner trusts only itself: nothing a script prints, exits with, or
//! links to can make it count as passed or skipped, or make the runner
//! read or write outside the test tree (`files`). SIGINT, SIGTERM and
//! SIGHUP end every child before the runner exits (`signals`).

mod child;
mod diff;
mod discover;
mod files;
mod judge;
mod report;
mod signals;
pub(crate) mod skip_channel;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use anyhow::{Context, Result};

use child::{Launcher, RunControl};
use diff::paint;
use discover::{find_scripts, Found};
use judge::{check_script, Failure, FailureKind, Verdict};
use report::{open_reports, points_of, Entry};
pub use report::{ReportFormat, ReportSpec};

const FAILED: Style = AnsiColor::Red.on_default().bold();
const SKIPPED: Style = AnsiColor::Yellow.on_default();
const OK: Style = AnsiColor::Green.on_default();

/// How long a script may run before it is ended and counted as failed.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `sockrepl test` was asked to do.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Files and folders to search for `*.sock`; empty means the current directory.
    pub paths: Vec<PathBuf>,
    /// Scripts run at once; `None` means one per core.
    pub jobs: Option<usize>,
    /// Write each transcript to the `.out` beside its script instead of comparing.
    pub bless: bool,
    /// Forwarded to every child as `--timeout`.
    pub timeout: Option<String>,
    /// A script still running after this long is ended (with its process
    /// group) and counted as failed.
    pub script_timeout: Duration,
    /// The sockrepl binary the children run.
    pub program: PathBuf,
    /// Print `ok PATH` for each passing script, too.
    pub verbose: bool,
    /// `--report FORMAT=FILE`, in the order given.
    pub reports: Vec<ReportSpec>,
    /// `NAME=VALUE` words, forwarded to every child as `--set NAME=VALUE`.
    pub sets: Vec<String>,
    /// Forwarded to every child as `--allow-exec`.
    pub allow_exec: bool,
    /// Forwarded to every child as `--netns`.
    pub netns: bool,
    /// `--sandbox` and what goes with it, forwarded to every child.
    pub sandbox_flags: Vec<OsString>,
}

impl TestOptions {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            jobs: None,
            bless: false,
            timeout: None,
            script_timeout: DEFAULT_SCRIPT_TIMEOUT,
            // If our own path is unknowable, PATH lookup is the best guess.
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sockrepl")),
            verbose: false,
            reports: Vec::new(),
            sets: Vec::new(),
            allow_exec: false,
            netns: false,
            sandbox_flags: Vec::new(),
        }
    }

    /// The global flags every child gets before `run`.
    fn child_flags(&self) -> Vec<OsString> {
        let mut flags: Vec<OsString> = Vec::new();
        if let Some(timeout) = &self.timeout {
            flags.extend(["--timeout".into(), timeout.into()]);
        }
        for set in &self.sets {
            flags.extend(["--set".into(), set.into()]);
        }
        if self.allow_exec {
            flags.push("--allow-exec".into());
        }
        if self.netns {
            flags.push("--netns".into());
        }
        flags.extend(self.sandbox_flags.iter().cloned());
        flags
    }
}

/// Runs the tests, prints the report to stdout (colour only on a terminal
/// without `NO_COLOR`) and usage errors to stderr, and returns the exit
/// status: 0 all passed, 1 something failed, 2 usage error, 128 + N when
/// signal N stopped the run (its children ended first).
pub fn run_tests(opts: &TestOptions) -> Result<i32> {
    let control = Arc::new(RunControl::default());
    if let Err(err) = signals::stop_children_on_signals(Arc::clone(&control)) {
        eprintln!(
            "sockrepl test: cannot watch for signals ({err}); Ctrl-C may leave scripts running"
        );
    }
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr().lock();
    run_controlled(opts, &control, &mut out, &mut err)
}

/// [`run_tests`] writing to the given streams, which receive ANSI styles
/// unconditionally (wrap them in `anstream` to strip those).
pub fn run_tests_to(opts: &TestOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    run_controlled(opts, &RunControl::default(), out, err)
}

fn run_controlled(
    opts: &TestOptions,
    control: &RunControl,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let plan = match plan_run(opts) {
        Ok(plan) => plan,
        Err(message) => return usage_error(err, &message),
    };
    if let Some(note) = &plan.note {
        writeln!(err, "sockrepl test: {note}")?;
    }
    let program = absolute_program(&opts.program)?;
    let child_flags = opts.child_flags();
    let launcher = Launcher {
        program: &program,
        child_flags: &child_flags,
        script_timeout: opts.script_timeout,
        control,
    };
    let started = Instant::now();
    let mut console = Console::new(out, opts.verbose);
    // Entries are kept for the report files only; without any, each is
    // dropped once shown.
    let keep_entries = !plan.reports.is_empty();
    let mut entries = Vec::new();
    run_in_pool(
        &plan.jobs,
        worker_count(opts.jobs, plan.jobs.len()),
        |job| run_job(&launcher, job, opts.bless),
        |_, entry| {
            console.show(&entry, control);
            if keep_entries || is_not_run(&entry.verdict) {
                entries.push(entry);
            }
        },
    );
    let summary = console.tally.summary();
    let mut status = console.finish(&summary, control);
    for report in plan.reports {
        if let Err(message) = report.write(&entries, &summary, started.elapsed()) {
            writeln!(err, "sockrepl test: {message}")?;
            status = status.max(2);
        }
    }
    if let Some(signal) = control.stopping_signal() {
        let not_run = entries
            .iter()
            .filter(|entry| is_not_run(&entry.verdict))
            .count();
        let name = signal_name(signal);
        writeln!(
            err,
            "sockrepl test: stopped by {name}: {not_run} scripts not run to their end"
        )?;
        status = 128 + signal;
    }
    Ok(status)
}

/// Everything checked before the first script runs.
struct Plan {
    jobs: Vec<Job>,
    reports: Vec<report::OpenReport>,
    /// Said on stderr before the summary: why there is nothing to run.
    note: Option<String>,
}

/// One thing to report on: a script to run, or a path refused; and what it
/// is worth to Gradescope.
struct Job {
    found: Found,
    points: f64,
}

/// Usage errors (status 2) come out of here, before anything runs.
fn plan_run(opts: &TestOptions) -> Result<Plan, String> {
    if opts.jobs == Some(0) {
        return Err("-j must be at least 1".into());
    }
    let reports = open_reports(&opts.reports)?;
    let roots = if opts.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        opts.paths.clone()
    };
    let found = find_scripts(&roots).map_err(|usage| usage.to_string())?;
    // No scripts is no usage error: nothing failed, so `0 passed, 0
    // failed` and status 0 (as an empty suite passes), said on stderr too.
    let note = found.is_empty().then(|| {
        let names: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        format!("no *.sock files under {}", names.join(" "))
    });
    let wants_points = opts
        .reports
        .iter()
        .any(|r| r.format == ReportFormat::Gradescope);
    let jobs = found
        .into_iter()
        .map(|found| {
            let points = match &found {
                Found::Script(path) if wants_points => points_of(path)?,
                _ => 1.0,
            };
            Ok(Job { found, points })
        })
        .collect::<Result<_, String>>()?;
    Ok(Plan {
        jobs,
        reports,
        note,
    })
}

fn run_job(launcher: &Launcher, job: &Job, bless: bool) -> Entry {
    let (verdict, time) = match &job.found {
        Found::Script(script) => check_script(launcher, script, bless),
        Found::Refused { reason, .. } => {
            let failure = Failure::bare(FailureKind::Refused, reason.clone());
            (Verdict::Failed(failure), Duration::ZERO)
        }
    };
    Entry {
        name: job.found.path().display().to_string(),
        verdict,
        time,
        points: job.points,
    }
}

fn usage_error(err: &mut dyn Write, message: &str) -> Result<i32> {
    writeln!(err, "sockrepl test: {message}")?;
    Ok(2)
}

fn is_not_run(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Failed(failure) if failure.kind == FailureKind::NotRun)
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |s| s.to_string())
}

/// Children start in their script's directory, so a relative program path
/// (`target/debug/sockrepl`) must be anchored to ours first.
fn absolute_program(program: &Path) -> Result<PathBuf> {
    if program.is_absolute() || program.components().count() < 2 {
        return Ok(program.to_path_buf()); // absolute, or a bare name for PATH lookup
    }
    let cwd = std::env::current_dir().context("cannot find the current directory")?;
    Ok(cwd.join(program))
}

fn worker_count(jobs: Option<usize>, scripts: usize) -> usize {
    let cores = || thread::available_parallelism().map_or(1, |n| n.get());
    jobs.unwrap_or_else(cores).clamp(1, scripts.max(1))
}

/// Runs `check` on every item with `workers` threads, and hands the results
/// to `collect` in the items' order as soon as each is ready, so the output
/// is deterministic yet progress still shows.
fn run_in_pool<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    check: impl Fn(&T) -> R + Sync,
    mut collect: impl FnMut(&T, R),
) {
    let next = AtomicUsize::new(0);
    let (results, finished) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..workers {
            let results = results.clone();
            let (next, check) = (&next, &check);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { return };
                if results.send((index, check(item))).is_err() {
                    return;
                }
            });
        }
        drop(results);
        let mut pending: Vec<Option<R>> = items.iter().map(|_| None).collect();
        let mut reported = 0;
        for (index, result) in finished {
            pending[index] = Some(result);
            while let Some(result) = pending.get_mut(reported).and_then(Option::take) {
                collect(&items[reported], result);
                reported += 1;
            }
        }
    });
}

/// The console report: one entry at a time, then the summary line. A
/// closed stdout (`sockrepl test | head`) stops the run quietly: there is
/// no one left to tell, and the children are ended rather than waited for.
struct Console<'a> {
    out: &'a mut dyn Write,
    verbose: bool,
    closed: bool,
    tally: Tally,
}

impl<'a> Console<'a> {
    fn new(out: &'a mut dyn Write, verbose: bool) -> Self {
        Console {
            out,
            verbose,
            closed: false,
            tally: Tally::default(),
        }
    }

    fn show(&mut self, entry: &Entry, control: &RunControl) {
        self.tally.count(&entry.verdict);
        let text = describe(entry, self.verbose);
        self.write(text.as_bytes(), control);
    }

    fn write(&mut self, bytes: &[u8], control: &RunControl) {
        if self.closed || bytes.is_empty() {
            return;
        }
        if self.out.write_all(bytes).is_err() {
            self.closed = true;
            control.stop();
        }
    }

    /// Prints the summary; returns the status the run ends with.
    fn finish(mut self, summary: &str, control: &RunControl) -> i32 {
        self.write(format!("{summary}\n").as_bytes(), control);
        if !self.closed {
            let _ = self.out.flush();
        }
        // Scripts the run never got to count as failed, so a run cut short
        // by a closed stdout is never a success.
        if self.tally.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// What the console shows for one entry, styled.
fn describe(entry: &Entry, verbose: bool) -> String {
    let mut text = String::new();
    let name = &entry.name;
    match &entry.verdict {
        Verdict::Passed if verbose => paint(&mut text, OK, &format!("ok {name}")),
        Verdict::Passed => {}
        Verdict::Blessed { out_file, new } => {
            let change = if *new { "new" } else { "changed" };
            let line = format!("blessed: {} ({change})", out_file.display());
            paint(&mut text, OK, &line);
        }
        Verdict::Skipped { reason } => {
            paint(&mut text, SKIPPED, &format!("skipped: {name}: {reason}"));
        }
        // Counted in the summary; one line each would bury what did run.
        Verdict::Failed(failure) if failure.kind == FailureKind::NotRun => {}
        Verdict::Failed(failure) => {
            paint(
                &mut text,
                FAILED,
                &format!("failed: {name}: {}", failure.reason),
            );
            if let Some(diff) = &failure.diff {
                text.push_str(diff);
            }
            text.push_str(&failure.output);
        }
    }
    text
}

#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Tally {
    fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Passed | Verdict::Blessed { .. } => self.passed += 1,
            Verdict::Failed(_) => self.failed += 1,
            Verdict::Skipped { .. } => self.skipped += 1,
        }
    }

    fn summary(&self) -> String {
        let Self {
            passed,
            failed,
            skipped,
        } = self;
        match skipped {
            0 => format!("{passed} passed, {failed} failed"),
            _ => format!("{passed} passed, {failed} failed, {skipped} skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn entry(verdict: Verdict) -> Entry {
        Entry {
            name: "t/x.sock".into(),
            verdict,
            time: Duration::ZERO,
            points: 1.0,
        }
    }

    fn plain(styled: &str) -> String {
        anstream::adapter::strip_str(styled).to_string()
    }

    #[test]
    fn summary_mentions_skipped_only_when_there_are_some() {
        let mut tally = Tally {
            passed: 3,
            failed: 1,
            skipped: 0,
        };
        assert_eq!(tally.summary(), "3 passed, 1 failed");
        tally.skipped = 2;
        assert_eq!(tally.summary(), "3 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn the_pool_reports_in_item_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..12).collect();
        for workers in [1, 3, 12] {
            let mut seen = Vec::new();
            run_in_pool(
                &items,
                workers,
                |item| {
                    // Early items finish last.
                    thread::sleep(Duration::from_millis(12 - item));
                    item * 10
                },
                |item, result| seen.push((*item, result)),
            );
            let expected: Vec<(u64, u64)> = items.iter().map(|i| (*i, i * 10)).collect();
            assert_eq!(seen, expected, "with {workers} workers");
        }
    }

    #[test]
    fn a_closed_stdout_stops_the_run_quietly_with_status_1() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let control = RunControl::default();
        let mut closed = Closed;
        let mut console = Console::new(&mut closed, true);
        console.show(&entry(Verdict::Passed), &control);
        assert!(control.is_stopping(), "no more children start");
        console.show(&entry(judge::not_run()), &control);
        assert_eq!(console.finish("1 passed, 1 failed", &control), 1);
    }

    #[test]
    fn worker_count_is_at_least_one_and_at_most_the_scripts() {
        assert_eq!(worker_count(Some(8), 3), 3);
        assert_eq!(worker_count(Some(2), 30), 2);
        assert!(worker_count(None, 30) >= 1);
        assert_eq!(worker_count(Some(4), 0), 1);
    }

    #[test]
    fn a_relative_program_is_anchored_but_a_bare_name_is_left_for_path_lookup() {
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            absolute_program(Path::new("bin/x")).expect("cwd"),
            cwd.join("bin/x")
        );
        assert_eq!(
            absolute_program(Path::new("sockrepl")).expect("cwd"),
            Path::new("sockrepl")
        );
    }

    #[test]
    fn child_flags_come_before_run_in_the_order_given() {
        let mut opts = TestOptions::new(vec![]);
        opts.timeout = Some("2s".into());
        opts.sets = vec!["host=127.0.0.1".into(), "port=80".into()];
        opts.allow_exec = true;
        opts.netns = true;
        let flags: Vec<String> = opts
            .child_flags()
            .into_iter()
            .map(|f| f.into_string().expect("utf-8"))
            .collect();
        assert_eq!(
            flags,
            [
                "--timeout",
                "2s",
                "--set",
                "host=127.0.0.1",
                "--set",
                "port=80",
                "--allow-exec",
                "--netns"
            ]
        );
    }

    #[test]
    fn failures_are_described_with_path_reason_and_output() {
        let failure = Failure {
            kind: FailureKind::Unsuccessful,
            reason: "the script failed (exit status: 1) and there is no t/x.out".into(),
            failure_line: Some("x.sock:2: fail: boom".into()),
            diff: None,
            output: "  transcript:\n  | > a\n  | x.sock:2: fail: boom\n".into(),
        };
        assert_eq!(
            plain(&describe(&entry(Verdict::Failed(failure)), false)),
            "failed: t/x.sock: the script failed (exit status: 1) and there is no t/x.out\n  \
             transcript:\n  | > a\n  | x.sock:2: fail: boom\n"
        );
        assert_eq!(describe(&entry(judge::not_run()), true), "");
        assert_eq!(describe(&entry(Verdict::Passed), false), "");
        assert_eq!(
            plain(&describe(&entry(Verdict::Passed), true)),
            "ok t/x.sock\n"
        );
    }
}

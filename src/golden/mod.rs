//! `sockrepl test [PATH...]`: golden-output tests for sockrepl scripts.
//!
//! Why: a `.sock` script plus the `.out` transcript beside it is a complete,
//! readable regression test of socket behaviour, so a whole folder of them
//! can be checked (or re-blessed after an intended change) in one command.
//!
//! How: every `*.sock` under the paths is found (`discover`), each one is run
//! in its own child `sockrepl --stable --skip-status 77 run FILE` started in
//! the script's directory (`child`), by a small pool of worker threads. A
//! watchdog kills children that hang. Each child's stdout is its transcript:
//! it must equal the `.out` byte for byte, or, without an `.out`, the script
//! must exit 0. Results are reported in sorted path order, failures with a
//! unified diff (`diff`), and the last line printed is always
//! `N passed, M failed[, K skipped]`.

mod child;
mod diff;
mod discover;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use anyhow::{Context, Result};

use child::{ChildRun, Ending, Launcher, SKIP_STATUS};
use diff::{paint, tail, unified_diff};
use discover::find_scripts;

/// Lines of transcript (and of stderr) shown for a failure without a diff.
const TAIL_LINES: usize = 20;

const FAILED: Style = AnsiColor::Red.on_default().bold();
const SKIPPED: Style = AnsiColor::Yellow.on_default();
const OK: Style = AnsiColor::Green.on_default();

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
    /// A child still running after this long is killed and counted as failed.
    pub kill_after: Duration,
    /// The sockrepl binary the children run.
    pub program: PathBuf,
    /// Print `ok PATH` for each passing script, too.
    pub verbose: bool,
}

impl TestOptions {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            jobs: None,
            bless: false,
            timeout: None,
            kill_after: Duration::from_secs(120),
            // If our own path is unknowable, PATH lookup is the best guess.
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sockrepl")),
            verbose: false,
        }
    }
}

/// Runs the tests, prints the report to stdout (colour only on a terminal
/// without `NO_COLOR`) and usage errors to stderr, and returns the exit
/// status: 0 all passed, 1 something failed, 2 usage error.
pub fn run_tests(opts: &TestOptions) -> Result<i32> {
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr().lock();
    run_tests_to(opts, &mut out, &mut err)
}

/// [`run_tests`] writing to the given streams, which receive ANSI styles
/// unconditionally (wrap them in `anstream` to strip those).
pub fn run_tests_to(opts: &TestOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    if opts.jobs == Some(0) {
        return usage_error(err, "-j must be at least 1");
    }
    let roots = if opts.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        opts.paths.clone()
    };
    let scripts = match find_scripts(&roots)? {
        Ok(scripts) => scripts,
        Err(usage) => return usage_error(err, &usage.to_string()),
    };
    if scripts.is_empty() {
        let names: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        return usage_error(err, &format!("no *.sock files under {}", names.join(" ")));
    }
    let program = absolute_program(&opts.program)?;
    let launcher = Launcher {
        program: &program,
        timeout: opts.timeout.as_deref(),
        kill_after: opts.kill_after,
    };
    let mut tally = Tally::default();
    run_in_pool(
        &scripts,
        worker_count(opts.jobs, scripts.len()),
        |script| check_script(&launcher, script, opts.bless),
        |script, outcome| {
            tally.count(&outcome);
            report(out, script, &outcome, opts.verbose)
        },
    )?;
    writeln!(out, "{}", tally.summary())?;
    out.flush()?;
    Ok(if tally.failed > 0 { 1 } else { 0 })
}

fn usage_error(err: &mut dyn Write, message: &str) -> Result<i32> {
    writeln!(err, "sockrepl test: {message}")?;
    Ok(2)
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
/// to `report` in the items' order as soon as each is ready, so the output is
/// deterministic yet progress still shows.
fn run_in_pool<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    check: impl Fn(&T) -> R + Sync,
    mut report: impl FnMut(&T, R) -> io::Result<()>,
) -> io::Result<()> {
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
                    return; // reporting stopped (stdout failed): no one wants more
                }
            });
        }
        drop(results);
        let mut pending: Vec<Option<R>> = items.iter().map(|_| None).collect();
        let mut reported = 0;
        for (index, result) in finished {
            pending[index] = Some(result);
            while let Some(result) = pending.get_mut(reported).and_then(Option::take) {
                report(&items[reported], result)?;
                reported += 1;
            }
        }
        Ok(())
    })
}

/// The verdict on one script.
#[derive(Debug)]
enum Outcome {
    Passed,
    /// `--bless` wrote this `.out`; `new` if there was none before.
    Blessed {
        out_file: PathBuf,
        new: bool,
    },
    Skipped {
        reason: String,
    },
    Failed(Failure),
}

#[derive(Debug)]
enum Failure {
    /// The child never ran, or its `.out` could not be read or written.
    Setup(String),
    Hung {
        run: ChildRun,
        after: Duration,
    },
    /// Exited with a status outside 0, 1, 2 and 77, or by a signal.
    Crashed {
        run: ChildRun,
        status: ExitStatus,
    },
    Mismatch {
        run: ChildRun,
        expected: Vec<u8>,
        out_file: PathBuf,
    },
    /// No `.out` to compare with and the script did not exit 0.
    Unsuccessful {
        run: ChildRun,
        status: ExitStatus,
        out_file: PathBuf,
    },
}

fn check_script(launcher: &Launcher, script: &Path, bless: bool) -> Outcome {
    let run = match launcher.run(script) {
        Ok(run) => run,
        Err(err) => {
            let program = launcher.program.display();
            return Outcome::Failed(Failure::Setup(format!("cannot run {program}: {err}")));
        }
    };
    let status = match run.ending {
        Ending::Hung(after) => return Outcome::Failed(Failure::Hung { run, after }),
        Ending::Exited(status) => status,
    };
    match status.code() {
        Some(SKIP_STATUS) => Outcome::Skipped {
            reason: skip_reason(&run),
        },
        // 101 is a Rust panic; no code at all means a signal ended it.
        Some(code) if code != PANIC_STATUS => judge_transcript(script, run, status, bless),
        _ => Outcome::Failed(Failure::Crashed { run, status }),
    }
}

/// The exit status of a Rust panic.
const PANIC_STATUS: i32 = 101;

/// Compares (or with `bless`, records) the transcript of a script that ran
/// normally: 0, 1, 2, or the status its `exit` gave.
fn judge_transcript(script: &Path, run: ChildRun, status: ExitStatus, bless: bool) -> Outcome {
    let out_file = script.with_extension("out");
    let expected = match read_if_exists(&out_file) {
        Ok(expected) => expected,
        Err(err) => return setup_failure(&out_file, "read", err),
    };
    match expected {
        Some(expected) if expected == run.stdout => Outcome::Passed,
        _ if bless => {
            let new = expected.is_none();
            match std::fs::write(&out_file, &run.stdout) {
                Ok(()) => Outcome::Blessed { out_file, new },
                Err(err) => setup_failure(&out_file, "write", err),
            }
        }
        Some(expected) => Outcome::Failed(Failure::Mismatch {
            run,
            expected,
            out_file,
        }),
        None if status.success() => Outcome::Passed,
        None => Outcome::Failed(Failure::Unsuccessful {
            run,
            status,
            out_file,
        }),
    }
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

fn setup_failure(path: &Path, verb: &str, err: io::Error) -> Outcome {
    Outcome::Failed(Failure::Setup(format!(
        "cannot {verb} {}: {err}",
        path.display()
    )))
}

/// A skipped script's transcript ends with the `require` that was not met.
fn skip_reason(run: &ChildRun) -> String {
    let last_line = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        text.lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(str::to_owned)
    };
    last_line(&run.stdout)
        .map(|line| {
            line.strip_prefix("skipped: ")
                .map(str::to_owned)
                .unwrap_or(line)
        })
        .or_else(|| last_line(&run.stderr))
        .unwrap_or_else(|| "a required feature is missing".to_owned())
}

#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Tally {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed | Outcome::Blessed { .. } => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
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

fn report(out: &mut dyn Write, script: &Path, outcome: &Outcome, verbose: bool) -> io::Result<()> {
    let mut text = String::new();
    let script_name = script.display();
    match outcome {
        Outcome::Passed if verbose => paint(&mut text, OK, &format!("ok {script_name}")),
        Outcome::Passed => {}
        Outcome::Blessed { out_file, new } => {
            let change = if *new { "new" } else { "changed" };
            paint(
                &mut text,
                OK,
                &format!("blessed: {} ({change})", out_file.display()),
            );
        }
        Outcome::Skipped { reason } => {
            paint(
                &mut text,
                SKIPPED,
                &format!("skipped: {script_name}: {reason}"),
            );
        }
        Outcome::Failed(failure) => describe_failure(&mut text, script, failure),
    }
    out.write_all(text.as_bytes())
}

fn describe_failure(text: &mut String, script: &Path, failure: &Failure) {
    let headline = |text: &mut String, reason: &str| {
        paint(
            text,
            FAILED,
            &format!("failed: {}: {reason}", script.display()),
        );
    };
    let run = match failure {
        Failure::Setup(reason) => return headline(text, reason),
        Failure::Hung { run, after } => {
            headline(text, &format!("killed after {after:?}: the script hung"));
            run
        }
        Failure::Crashed { run, status } => {
            headline(text, &format!("sockrepl crashed ({status})"));
            run
        }
        Failure::Mismatch {
            run,
            expected,
            out_file,
        } => {
            let out_name = out_file.display().to_string();
            headline(text, &format!("transcript differs from {out_name}"));
            let script_name = script.display().to_string();
            text.push_str(&unified_diff(
                expected,
                &run.stdout,
                &out_name,
                &script_name,
            ));
            return push_stderr(text, run);
        }
        Failure::Unsuccessful {
            run,
            status,
            out_file,
        } => {
            let what = match status.code() {
                Some(2) => "syntax or usage error",
                _ => "the script failed",
            };
            let out_name = out_file.display();
            headline(
                text,
                &format!("{what} ({status}) and there is no {out_name}"),
            );
            run
        }
    };
    text.push_str(&tail("transcript", &run.stdout, TAIL_LINES));
    push_stderr(text, run);
}

fn push_stderr(text: &mut String, run: &ChildRun) {
    if !run.stderr.is_empty() {
        text.push_str(&tail("stderr", &run.stderr, TAIL_LINES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn exited(code: i32) -> ExitStatus {
        std::os::unix::process::ExitStatusExt::from_raw(code << 8)
    }

    #[cfg(unix)]
    fn run_with(code: i32, stdout: &[u8]) -> (ChildRun, ExitStatus) {
        let status = exited(code);
        let run = ChildRun {
            ending: Ending::Exited(status),
            stdout: stdout.to_vec(),
            stderr: vec![],
        };
        (run, status)
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
                |item, result| {
                    seen.push((*item, result));
                    Ok(())
                },
            )
            .expect("report never fails here");
            let expected: Vec<(u64, u64)> = items.iter().map(|i| (*i, i * 10)).collect();
            assert_eq!(seen, expected, "with {workers} workers");
        }
    }

    #[test]
    fn a_failing_report_stops_the_pool_with_its_error() {
        let items = [1, 2, 3];
        let result = run_in_pool(
            &items,
            2,
            |item| *item,
            |_, _| Err(io::ErrorKind::BrokenPipe.into()),
        );
        assert_eq!(
            result.expect_err("must fail").kind(),
            io::ErrorKind::BrokenPipe
        );
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

    #[cfg(unix)]
    #[test]
    fn judging_compares_bytes_and_blesses_only_on_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("echo.sock");
        let out_file = dir.path().join("echo.out");

        let (run, status) = run_with(1, b"> a\necho.sock:2: fail: boom\n");
        let outcome = judge_transcript(&script, run, status, false);
        assert!(
            matches!(outcome, Outcome::Failed(Failure::Unsuccessful { .. })),
            "{outcome:?}"
        );

        let (run, status) = run_with(1, b"> a\necho.sock:2: fail: boom\n");
        let outcome = judge_transcript(&script, run, status, true);
        assert!(
            matches!(outcome, Outcome::Blessed { new: true, .. }),
            "{outcome:?}"
        );
        assert_eq!(
            std::fs::read(&out_file).expect("blessed"),
            b"> a\necho.sock:2: fail: boom\n"
        );

        let (run, status) = run_with(1, b"> a\necho.sock:2: fail: boom\n");
        assert!(matches!(
            judge_transcript(&script, run, status, false),
            Outcome::Passed
        ));

        let (run, status) = run_with(0, b"> a\necho.sock:2: fail: boon\n");
        let outcome = judge_transcript(&script, run, status, false);
        assert!(
            matches!(outcome, Outcome::Failed(Failure::Mismatch { .. })),
            "{outcome:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_skip_reason_is_the_last_non_blank_line_of_the_transcript() {
        let (run, _) = run_with(77, b"> a\nx.sock:2: require ipv6: not available\n\n");
        assert_eq!(skip_reason(&run), "x.sock:2: require ipv6: not available");
        let (run, _) = run_with(77, b"");
        assert_eq!(skip_reason(&run), "a required feature is missing");
    }

    #[cfg(unix)]
    #[test]
    fn failures_are_described_with_path_reason_and_output() {
        let (run, status) = run_with(1, b"> a\nx.sock:2: fail: boom\n");
        let failure = Failure::Unsuccessful {
            run,
            status,
            out_file: "t/x.out".into(),
        };
        let mut text = String::new();
        describe_failure(&mut text, Path::new("t/x.sock"), &failure);
        let mut plain = Vec::new();
        anstream::StripStream::new(&mut plain)
            .write_all(text.as_bytes())
            .expect("write");
        assert_eq!(
            String::from_utf8(plain).expect("utf-8"),
            "failed: t/x.sock: the script failed (exit status: 1) and there is no t/x.out\n  \
             transcript:\n  | > a\n  | x.sock:2: fail: boom\n"
        );
    }
}

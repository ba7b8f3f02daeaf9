//! How a program ended, and signal names as scripts write them.
//!
//! `wait NAME 3` and `wait NAME SIGTERM` compare against these types, and
//! the transcript prints them, so both the parsing and the wording live
//! here, next to each other.

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use std::fmt;
use std::str::FromStr;

/// How a program's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)` (or returned from `main`).
    Exited(i32),
    /// A signal ended it.
    Signaled { signal: Signal, core_dumped: bool },
}

impl ExitStatus {
    /// The status in a `waitpid` result; `None` for stop/continue reports,
    /// which we never ask for.
    pub(crate) fn from_wait(status: WaitStatus) -> Option<Self> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus::Exited(code)),
            WaitStatus::Signaled(_, signal, core_dumped) => Some(ExitStatus::Signaled {
                signal,
                core_dumped,
            }),
            _ => None,
        }
    }

    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }

    /// Whether this is what `wait NAME EXPECTED` asked for.
    pub fn matches(&self, expected: ExpectedExit) -> bool {
        match (*self, expected) {
            (ExitStatus::Exited(code), ExpectedExit::Code(want)) => code == want,
            (ExitStatus::Signaled { signal, .. }, ExpectedExit::Signal(want)) => signal == want,
            _ => false,
        }
    }
}

impl fmt::Display for ExitStatus {
    /// Reads after "it": "exited with status 3", "was killed by SIGTERM".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "was killed by {}", signal.as_str())?;
                if *core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// What `wait NAME [STATUS|SIGNAME]` expects: an exit code or a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedExit {
    Code(i32),
    Signal(Signal),
}

impl FromStr for ExpectedExit {
    type Err = String;

    /// `0`..`255`, or a signal name as [`parse_signal`] takes it.
    fn from_str(word: &str) -> Result<Self, String> {
        if let Ok(code) = word.parse::<u8>() {
            return Ok(ExpectedExit::Code(code.into()));
        }
        if word.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("exit status {word} is out of range (0-255)"));
        }
        parse_signal(word).map(ExpectedExit::Signal)
    }
}

impl fmt::Display for ExpectedExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedExit::Code(code) => write!(f, "exited with status {code}"),
            ExpectedExit::Signal(signal) => write!(f, "was killed by {}", signal.as_str()),
        }
    }
}

/// A signal by name: `SIGTERM`, `TERM` or `sigterm` (case does not matter).
pub fn parse_signal(word: &str) -> Result<Signal, String> {
    let upper = word.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| {
        format!("unknown signal {word}: expected a name such as SIGTERM, SIGINT, SIGKILL, SIGHUP or SIGUSR1")
    })
}

/// The C name of a signal, as the transcript shows it.
pub fn signal_name(signal: Signal) -> &'static str {
    signal.as_str()
}

/// The C name of a signal number (`SIGTERM`), or `signal N`.
pub fn signal_name_of(number: i32) -> String {
    match Signal::try_from(number) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => format!("signal {number}"),
    }
}

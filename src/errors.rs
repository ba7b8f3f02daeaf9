//! The ways a command can fail, and how each is named.
//!
//! Socket calls fail with an errno; sockrepl shows it as the C name and the
//! libc text (`ECONNREFUSED (Connection refused)`) so a student can look it
//! up, adds a hint where the cause is clear, and lets `fails` match it by
//! value so aliases such as `EAGAIN`/`EWOULDBLOCK` both work.

use nix::errno::Errno;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::duration::format_duration;
use crate::tls::TlsError;

/// Why a command did not succeed at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A system call failed with this errno; `hint` says what to do about it.
    Sys { errno: Errno, hint: Option<String> },
    /// A blocking command ran out of time waiting for `what`.
    Timeout {
        what: String,
        after: Duration,
        detail: Option<String>,
    },
    /// An assertion (`expect`, `fails`, ...) did not hold.
    Assertion(String),
    /// A host name could not be resolved.
    Resolve(String),
    /// TLS failed: a handshake, a verification, an alert, a certificate
    /// file. The message names the reason and ends with a hint.
    Tls(String),
    /// The script asked for something impossible: wrong socket kind, a
    /// name already taken, an address of the wrong family...
    Usage(String),
    /// The script named a handle that does not exist: a mistake in the
    /// script, which no `fails` accepts (told apart from `Usage` for that).
    UnknownHandle(String),
    /// Ctrl-C arrived while the command waited.
    Interrupted,
    /// A file could not be opened, read or written (`what`: "cannot write
    /// out.bin"); `fails ENOSPC ...` matches it by its errno.
    File {
        errno: Errno,
        what: String,
        detail: Option<String>,
    },
}

impl Failure {
    pub fn sys(errno: Errno) -> Self {
        Failure::Sys { errno, hint: None }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    /// A file error with its errno, when the system gave one.
    pub fn file(verb: &str, path: &std::path::Path, error: &io::Error) -> Self {
        match error.raw_os_error() {
            Some(code) => Failure::File {
                errno: Errno::from_raw(code),
                what: format!("cannot {verb} {}", one_line_path(path)),
                detail: None,
            },
            None => Failure::Usage(file_error(verb, path, error)),
        }
    }

    /// Adds a hint unless this failure already has one or is not a system error.
    pub fn with_hint(self, hint: impl FnOnce(Errno) -> Option<String>) -> Self {
        match self {
            Failure::Sys { errno, hint: None } => Failure::Sys {
                errno,
                hint: hint(errno),
            },
            other => other,
        }
    }

    /// Adds how far the command got before it failed (bytes sent or
    /// received), after any hint: nothing reported as done is lost from view.
    pub fn with_progress(self, progress: String) -> Self {
        let append = |old: Option<String>| {
            Some(match old {
                Some(old) => format!("{old}; {progress}"),
                None => progress.clone(),
            })
        };
        match self {
            Failure::Sys { errno, hint } => Failure::Sys {
                errno,
                hint: append(hint),
            },
            Failure::Timeout {
                what,
                after,
                detail,
            } => Failure::Timeout {
                what,
                after,
                detail: append(detail),
            },
            Failure::File {
                errno,
                what,
                detail,
            } => Failure::File {
                errno,
                what,
                detail: append(detail),
            },
            other => other,
        }
    }

    /// The failure with `from` replaced by `to` in its text (a value that
    /// must not be shown as it is).
    pub fn replace_text(self, from: &str, to: &str) -> Self {
        let swap = |text: String| text.replace(from, to);
        match self {
            Failure::Assertion(text) => Failure::Assertion(swap(text)),
            Failure::Usage(text) => Failure::Usage(swap(text)),
            Failure::UnknownHandle(text) => Failure::UnknownHandle(swap(text)),
            Failure::Timeout {
                what,
                after,
                detail,
            } => Failure::Timeout {
                what: swap(what),
                after,
                detail: detail.map(swap),
            },
            Failure::Sys { errno, hint } => Failure::Sys {
                errno,
                hint: hint.map(swap),
            },
            other => other,
        }
    }

    /// Whether `fails NAME` accepts this failure.
    pub fn matches(&self, expected: &ErrorName) -> bool {
        match (self, expected) {
            (Failure::Sys { errno, .. }, ErrorName::Errno(want)) => errno == want,
            (Failure::Timeout { .. }, ErrorName::Timeout) => true,
            (Failure::File { errno, .. }, ErrorName::Errno(want)) => errno == want,
            _ => false,
        }
    }

    /// Whether `fails` without a name accepts this failure: every failure
    /// of the command (SPEC §6: "COMMAND fails") but a handle the script
    /// named that does not exist (a mistake in the script, never an
    /// "expected" failure) and an interruption (Ctrl-C, SIGTERM, the test
    /// runner's time limit), which must end the run.
    pub fn is_expectable(&self) -> bool {
        !matches!(self, Failure::UnknownHandle(_) | Failure::Interrupted)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        if let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
            return Failure::from(tls);
        }
        match error.raw_os_error() {
            Some(code) => Failure::sys(Errno::from_raw(code)),
            None => Failure::Usage(error.to_string()),
        }
    }
}

/// A TLS failure keeps the errno of a failed system call (so `fails
/// ECONNRESET` matches it); every other one is named with its hint.
impl From<&TlsError> for Failure {
    fn from(error: &TlsError) -> Self {
        if let Some(code) = error.raw_os_error() {
            return Failure::sys(Errno::from_raw(code));
        }
        match error.hint() {
            Some(hint) => Failure::Tls(format!("{error}; hint: {hint}")),
            None => Failure::Tls(error.to_string()),
        }
    }
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Self {
        Failure::sys(errno)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Sys { errno, hint } => {
                write!(f, "{}", describe_errno(*errno))?;
                if let Some(hint) = hint {
                    write!(f, "; hint: {hint}")?;
                }
                Ok(())
            }
            Failure::Timeout {
                what,
                after,
                detail,
            } => {
                write!(f, "TIMEOUT ({what} within {}", format_duration(*after))?;
                if let Some(detail) = detail {
                    write!(f, "; {detail}")?;
                }
                f.write_str(")")
            }
            Failure::Assertion(message)
            | Failure::Usage(message)
            | Failure::UnknownHandle(message)
            | Failure::Tls(message) => f.write_str(message),
            Failure::Resolve(message) => write!(f, "cannot resolve {message}"),
            Failure::File {
                errno,
                what,
                detail,
            } => {
                write!(f, "{what}: {}", describe_errno(*errno))?;
                match detail {
                    Some(detail) => write!(f, "; {detail}"),
                    None => Ok(()),
                }
            }
            Failure::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// `ECONNREFUSED (Connection refused)`.
pub fn describe_errno(errno: Errno) -> String {
    format!("{} ({})", errno_name(errno), errno_text(errno))
}

/// The C library's text for an errno, as `strerror` (and Python) gives it.
pub fn errno_text(errno: Errno) -> String {
    let text = io::Error::from_raw_os_error(errno as i32).to_string();
    match text.rfind(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// The C name of an errno value, e.g. `ECONNREFUSED`.
pub fn errno_name(errno: Errno) -> String {
    format!("{errno:?}")
}

/// A file error as a person reads it: `cannot read x.bin: No such file or directory`.
pub fn file_error(verb: &str, path: &std::path::Path, error: &io::Error) -> String {
    let reason = match error.raw_os_error() {
        Some(code) => describe_errno(Errno::from_raw(code)),
        None => error.to_string(),
    };
    format!("cannot {verb} {}: {reason}", one_line_path(path))
}

/// A path in a message: one line, whatever bytes it holds.
fn one_line_path(path: &std::path::Path) -> String {
    crate::data::one_line(&path.display().to_string()).into_owned()
}

/// What `fails NAME` expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    Errno(Errno),
    Timeout,
}

impl ErrorName {
    /// Parses `ECONNREFUSED`, an alias such as `EWOULDBLOCK`, or `TIMEOUT`.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "TIMEOUT" {
            return Some(ErrorName::Timeout);
        }
        errno_by_name(name).map(ErrorName::Errno)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorName::Errno(errno) => f.write_str(&errno_name(*errno)),
            ErrorName::Timeout => f.write_str("TIMEOUT"),
        }
    }
}

/// Names that libc defines as another errno's value.
const ALIASES: &[(&str, Errno)] = &[
    ("EWOULDBLOCK", Errno::EAGAIN),
    ("ENOTSUP", Errno::EOPNOTSUPP),
    ("EDEADLOCK", Errno::EDEADLK),
];

/// Looks an errno up by its C name, aliases included.
pub fn errno_by_name(name: &str) -> Option<Errno> {
    if let Some((_, errno)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        return Some(*errno);
    }
    if !name.starts_with('E') {
        return None;
    }
    (1..200)
        .map(Errno::from_raw)
        .find(|errno| *errno != Errno::UnknownErrno && errno_name(*errno) == name)
}

/// Every errno name `fails` accepts, for completion and suggestions.
pub fn all_error_names() -> Vec<String> {
    let mut names: Vec<String> = (1..200)
        .map(Errno::from_raw)
        .filter(|errno| *errno != Errno::UnknownErrno)
        .map(errno_name)
        .chain(ALIASES.iter().map(|(alias, _)| alias.to_string()))
        .collect();
    names.push("TIMEOUT".to_string());
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_match_by_value() {
        assert_eq!(errno_by_name("EWOULDBLOCK"), Some(Errno::EAGAIN));
        assert_eq!(errno_by_name("EAGAIN"), Some(Errno::EAGAIN));
        assert_eq!(errno_by_name("ECONNREFUSED"), Some(Errno::ECONNREFUSED));
        assert_eq!(errno_by_name("ENOPE"), None);
    }

    #[test]
    fn describes_with_name_and_text() {
        assert_eq!(
            describe_errno(Errno::ECONNREFUSED),
            "ECONNREFUSED (Connection refused)"
        );
    }
}

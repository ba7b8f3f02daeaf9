//! The skip channel: how a child tells the runner "my `require` was not
//! met" in a way the script itself cannot imitate.
//!
//! An exit status will not do (a script can `exit 77`), nor can anything in
//! the transcript (a script can `print skipped: ...`). So the runner makes a
//! Unix socket pair per child and hands one end over as an inherited fd
//! (`--skip-fd N`). The child marks it close-on-exec at once, so programs a
//! script spawns never get it; a socket cannot be opened through
//! `/proc/self/fd/N` (ENXIO) nor connected to (it has no address), so no
//! command of a script can write to it. Only the interpreter's own skip
//! ending writes `skip REASON` there; the runner counts a skip only when
//! that arrives.

use std::io::{self, Read};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The message's first word; the skip reason follows it.
const SKIP_WORD: &str = "skip";

/// More than any skip reason needs; a longer message is cut here.
const MESSAGE_LIMIT: u64 = 4096;

/// Runner side: lets the child inherit `fd` (made close-on-exec, so the
/// children other workers start at the same time do not get it).
pub(crate) fn inherit(command: &mut Command, fd: RawFd) {
    // SAFETY: fcntl is async-signal-safe and changes only the new child's
    // descriptor table.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

/// Runner side, after the child has exited: the skip reason it sent
/// (`Some("")` when it gave none), or `None` when it sent no skip.
pub(crate) fn receive(channel: UnixStream) -> Option<String> {
    // The child is gone, so whatever it wrote is already queued.
    channel.set_nonblocking(true).ok()?;
    let mut message = Vec::new();
    let _ = channel.take(MESSAGE_LIMIT).read_to_end(&mut message);
    parse(&message)
}

fn parse(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let rest = text.strip_prefix(SKIP_WORD)?;
    if !(rest.is_empty() || rest.starts_with([' ', '\n'])) {
        return None;
    }
    Some(rest.trim().to_owned())
}

/// Child side, before anything else runs: checks that `fd` is a socket
/// (so `--skip-fd 1` cannot send the message into the transcript) and
/// keeps it from every program the script may start.
pub(crate) fn claim(fd: RawFd) -> Result<(), String> {
    let not_ours = || format!("--skip-fd {fd}: not an open socket");
    if fd <= 2 {
        return Err(not_ours());
    }
    // SAFETY: fstat writes only into `stat`; a closed fd is an error.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 || stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(not_ours());
    }
    // SAFETY: sets a flag on a descriptor checked to be open just above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(format!("--skip-fd {fd}: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Child side, when `require` ended the script: tells the runner. A
/// failure to write only means the runner will count a failure instead.
pub(crate) fn send(fd: RawFd, reason: &str) {
    let message = if reason.is_empty() {
        format!("{SKIP_WORD}\n")
    } else {
        format!("{SKIP_WORD} {reason}\n")
    };
    // SAFETY: writes from a live buffer to a descriptor `claim` checked.
    let _ = unsafe { libc::write(fd, message.as_ptr().cast(), message.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_skip_message_carries_its_reason() {
        assert_eq!(parse(b"skip no IPv6\n"), Some("no IPv6".into()));
        assert_eq!(parse(b"skip\n"), Some(String::new()));
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"skipped"), None);
        assert_eq!(parse(b"pass"), None);
    }

    #[test]
    fn what_the_child_sends_the_runner_receives() {
        let (runner, child) = UnixStream::pair().expect("a Unix socket pair");
        claim(child.as_raw_fd()).expect("a socket");
        send(child.as_raw_fd(), "raw sockets need root");
        drop(child);
        assert_eq!(receive(runner), Some("raw sockets need root".into()));
    }

    #[test]
    fn silence_is_no_skip() {
        let (runner, child) = UnixStream::pair().expect("a Unix socket pair");
        drop(child);
        assert_eq!(receive(runner), None);
    }

    #[test]
    fn only_an_open_socket_above_stderr_is_claimed() {
        assert!(claim(1).is_err(), "stdout is never the channel");
        let file = tempfile::tempfile().expect("tempfile");
        assert!(claim(file.as_raw_fd()).is_err(), "a file is not a socket");
    }
}

//! `record FILE`: each command that ran successfully is written to FILE,
//! so a session worked out by hand becomes a script `sockrepl run` replays.
//! A recording is always a script of its own: a file that already holds
//! something is refused, because lines added to an older script (whose
//! handles may clash with the new ones) would not replay.
//!
//! Ports the kernel chose differ on every run, so an address that belongs
//! to one of the session's own handles is written as `${H.addr}` (or its
//! port as `${H.port}` when the host part differs, as in `127.0.0.1:PORT`
//! for a handle bound to `0.0.0.0`). The handles are taken as they were
//! before the command ran: `bind srv 127.0.0.1:9000` stays as typed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::state::HandleInfo;

pub struct Recorder {
    pub path: PathBuf,
    file: File,
}

impl Recorder {
    /// Starts a new script in FILE, with a header; a FILE that already
    /// holds something is refused with a message that says what to do.
    /// Handles that already exist are named in a comment: the recording
    /// does not make them, so it replays only after something that does.
    pub fn start(path: &Path, live: &[HandleInfo]) -> Result<Self, String> {
        let shown = path.display();
        if let Some(lines) = lines_in(path) {
            return Err(format!(
                "{shown} already holds a script ({lines} lines): a recording starts a new one; \
                 give another name, or remove {shown} first"
            ));
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .and_then(|file| Self::begin(file, live))
            .map_err(|error| format!("cannot write {shown}: {error}"))?;
        Ok(Recorder {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the header of a new recording.
    fn begin(mut file: File, live: &[HandleInfo]) -> io::Result<File> {
        writeln!(file, "# recorded by sockrepl {}", env!("CARGO_PKG_VERSION"))?;
        if !live.is_empty() {
            writeln!(
                file,
                "# made before this recording started: {}",
                names(live)
            )?;
        }
        Ok(file)
    }

    /// Appends one command line, its addresses rewritten.
    pub fn write(&mut self, line: &str, before: &[HandleInfo]) -> io::Result<()> {
        writeln!(self.file, "{}", rewrite(line.trim(), before))?;
        self.file.flush()
    }
}

/// How many lines FILE holds, when it is a regular file that is not empty
/// (counted in its first MiB: enough to tell the user what it is).
fn lines_in(path: &Path) -> Option<usize> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let mut head = Vec::new();
    File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut head)
        .ok()?;
    Some(
        head.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            .max(1),
    )
}

/// The handles' names, comma separated.
pub fn names(handles: &[HandleInfo]) -> String {
    handles
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the addresses of `handles` in `line` as `${H.addr}`/`${H.port}`.
pub fn rewrite(line: &str, handles: &[HandleInfo]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    for (colon, _) in line.match_indices(':') {
        if colon < copied {
            continue;
        }
        let digits_end = line[colon + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(line.len(), |n| colon + 1 + n);
        let port_text = &line[colon + 1..digits_end];
        let followed_by_word =
            line[digits_end..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        let Some(port) = port_text.parse::<u16>().ok().filter(|&p| p != 0) else {
            continue;
        };
        if followed_by_word {
            continue;
        }
        let Some(handle) = handles.iter().find(|h| h.port == Some(port)) else {
            continue;
        };
        let host_start = host_start(line, colon).max(copied);
        let whole = &line[host_start..digits_end];
        if handle.local.as_deref() == Some(whole) {
            out.push_str(&line[copied..host_start]);
            out.push_str(&format!("${{{}.addr}}", handle.name));
        } else {
            out.push_str(&line[copied..colon + 1]);
            out.push_str(&format!("${{{}.port}}", handle.name));
        }
        copied = digits_end;
    }
    out.push_str(&line[copied..]);
    out
}

/// Where the host before the `:` at `colon` starts: a `[v6]` literal or a
/// run of name characters (empty for `:PORT`).
fn host_start(line: &str, colon: usize) -> usize {
    let head = &line[..colon];
    if head.ends_with(']') {
        if let Some(open) = head.rfind('[') {
            return open;
        }
    }
    head.rfind(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-' || c == '_'))
        .map_or(0, |at| {
            at + head[at..].chars().next().map_or(1, char::len_utf8)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;

    fn handle(name: &str, local: &str, port: u16) -> HandleInfo {
        HandleInfo {
            name: name.into(),
            serial: 1,
            fd: -1,
            kind: Kind::from_short("tcp"),
            listening: false,
            reading_shut: false,
            connected: false,
            local: Some(local.into()),
            port: Some(port),
        }
    }

    #[test]
    fn writes_own_addresses_as_expansions() {
        let handles = [handle("srv", "127.0.0.1:41234", 41234)];
        assert_eq!(
            rewrite("connect cli 127.0.0.1:41234", &handles),
            "connect cli ${srv.addr}"
        );
        assert_eq!(
            rewrite("connect cli localhost:41234", &handles),
            "connect cli localhost:${srv.port}"
        );
        assert_eq!(
            rewrite("connect cli :41234 # x", &handles),
            "connect cli :${srv.port} # x"
        );
    }

    #[test]
    fn leaves_other_addresses_alone() {
        let handles = [handle("srv", "127.0.0.1:41234", 41234)];
        assert_eq!(
            rewrite("bind srv 127.0.0.1:0", &handles),
            "bind srv 127.0.0.1:0"
        );
        assert_eq!(
            rewrite("connect c 127.0.0.1:4123", &handles),
            "connect c 127.0.0.1:4123"
        );
        assert_eq!(rewrite("send c 'a:41234x'", &handles), "send c 'a:41234x'");
        assert_eq!(rewrite("send c 'é:1'", &handles), "send c 'é:1'");
    }

    #[test]
    fn handles_ipv6_literals() {
        let handles = [handle("s6", "[::1]:5000", 5000)];
        assert_eq!(
            rewrite("connect c [::1]:5000", &handles),
            "connect c ${s6.addr}"
        );
    }
}

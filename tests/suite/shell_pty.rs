//! The interactive shell driven through a real pseudo-terminal, as a person
//! at a terminal would use it: Tab completion, hints, Ctrl-C, live
//! notifications, history across restarts, `record`, and NO_COLOR.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::Sock;

/// Bare `sockrepl`: the shell, since stdin is a terminal.
const NO_WORDS: [&str; 0] = [];

const WAIT: Duration = Duration::from_secs(10);

/// sockrepl running on the slave side of a pseudo-terminal.
struct Shell {
    master: File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the output earlier `expect` calls consumed.
    seen: usize,
}

impl Shell {
    fn start(state_dir: &Path, env: &[(&str, &str)]) -> Shell {
        let (master, slave_path) = open_pty();
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .expect("open the pty slave");
        let mut command = Sock::cli(NO_WORDS).into_command();
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .env("TERM", "xterm-256color")
            .env("XDG_STATE_HOME", state_dir)
            .env("HOME", state_dir)
            .env_remove("NO_COLOR");
        for (key, value) in env {
            command.env(key, value);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start sockrepl");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // EIO once the child has gone and the slave is closed.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        let mut shell = Shell {
            master,
            child,
            output,
            seen: 0,
        };
        shell.expect("sockrepl> ");
        shell
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Types a line and waits for the next prompt; returns its output.
    fn line(&mut self, text: &str) -> String {
        self.send(&format!("{text}\r"));
        self.entered(text)
    }

    /// Waits for a line to be entered and the prompt after its output.
    fn entered(&mut self, text: &str) -> String {
        self.expect(&format!("{text}\n"));
        self.expect("sockrepl> ")
    }

    fn raw_output(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// Waits until `needle` appears in the (escape-stripped) output after
    /// what earlier calls consumed; returns the text up to and including it.
    fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, WAIT)
    }

    fn expect_within(&mut self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let text = strip(&self.raw_output());
            if let Some(at) = text.get(self.seen..).and_then(|t| t.find(needle)) {
                let end = self.seen + at + needle.len();
                let found = text[self.seen..end].to_string();
                self.seen = end;
                return found;
            }
            if start.elapsed() > limit {
                panic!(
                    "no {needle:?} within {limit:?}; output after the last match:\n{}",
                    &text[self.seen.min(text.len())..]
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < WAIT, "the shell did not leave");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open_pty() -> (File, String) {
    // SAFETY: plain libc pty calls on a descriptor we own.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(fd >= 0, "posix_openpt failed");
        assert_eq!(libc::grantpt(fd), 0);
        assert_eq!(libc::unlockpt(fd), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 150,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        libc::ioctl(fd, libc::TIOCSWINSZ, &size);
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (File::from_raw_fd(fd), name)
    }
}

/// The output without escape sequences and carriage returns.
fn strip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether the bytes hold an SGR (colour) escape sequence.
fn has_colour(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("\x1b[").any(|(at, _)| {
        let rest = &text[at + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

fn listening_shell(dir: &Path) -> (Shell, u16) {
    let mut shell = Shell::start(dir, &[]);
    shell.line("socket srv");
    let bound = shell.line("bind srv 127.0.0.1:0");
    let port = bound
        .rsplit("127.0.0.1:")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {bound:?}"));
    shell.line("listen srv");
    (shell, port)
}

#[test]
fn tab_completes_commands_and_fitting_handles() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, _) = listening_shell(dir.path());
    shell.line("socket other");
    shell.send("acc\t");
    shell.expect("accept");
    // Only a listening handle fits after accept: srv, not other.
    shell.send("\t");
    shell.expect("accept srv");
    shell.send("\r");
    shell.expect("accept srv \n");
    shell.send("\x03"); // cancel the accept
    let out = shell.expect("sockrepl> ");
    assert!(out.contains("interrupted"), "{out}");
    shell.send("getsockopt other SO_REUSEA\t");
    shell.expect("SO_REUSEADDR");
}

#[test]
fn shows_the_synopsis_as_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    shell.send("bind");
    shell.expect("bind NAME ADDR");
    shell.send(" x");
    shell.expect(" ADDR");
}

#[test]
fn ctrl_c_cancels_a_blocking_accept_and_keeps_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, port) = listening_shell(dir.path());
    shell.send("accept srv\r");
    shell.expect("accept srv");
    thread::sleep(Duration::from_millis(300));
    let pressed = Instant::now();
    shell.send("\x03");
    shell.expect_within("error: accept: interrupted", Duration::from_secs(1));
    assert!(
        pressed.elapsed() < Duration::from_secs(1),
        "took {:?}",
        pressed.elapsed()
    );
    shell.expect("sockrepl> ");
    // The handle still works: a connection made now is accepted.
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let out = shell.line("accept srv conn");
    assert!(out.contains("accepted conn from 127.0.0.1:"), "{out}");
    // Ctrl-D leaves with status 0.
    shell.send("\x04");
    assert_eq!(shell.wait().code(), Some(0));
}

#[test]
fn notifies_while_the_prompt_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, port) = listening_shell(dir.path());
    shell.send("print half-typed");
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    shell.expect("[srv] connection waiting");
    // The line being edited survives the notification.
    shell.send("\r");
    shell.entered("print half-typed");
    shell.line("accept srv conn");
    client.write_all(b"hello world!").unwrap();
    shell.expect("[conn] 12 bytes ready");
    drop(client);
    shell.expect("[conn] peer closed");
    let out = shell.line("set notify off");
    assert!(out.contains("notifications off"));
    let before = strip(&shell.raw_output()).matches("[conn]").count();
    thread::sleep(Duration::from_millis(400));
    assert_eq!(
        strip(&shell.raw_output()).matches("[conn]").count(),
        before,
        "repeated"
    );
}

#[test]
fn bytes_arriving_after_a_recv_are_announced_even_when_fewer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, port) = listening_shell(dir.path());
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    shell.line("accept srv conn");
    client.write_all(b"hello world!").unwrap();
    shell.expect("[conn] 12 bytes ready");
    let out = shell.line("recv conn 12");
    assert!(out.contains("b'hello world!'"), "{out}");
    // Fewer bytes than were announced before: still news once the 12 are gone.
    client.write_all(b"12345").unwrap();
    shell.expect_within("[conn] 5 bytes ready", Duration::from_secs(2));
}

#[test]
fn history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    shell.line("print remembered-line");
    shell.line("print remembered-line");
    shell.line("print in-between");
    // A duplicate further back is skipped too: the line moves to the end.
    shell.line("print remembered-line");
    shell.send("exit\r");
    assert_eq!(shell.wait().code(), Some(0));
    drop(shell);
    let file = dir.path().join("sockrepl/history");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(saved.matches("print remembered-line").count(), 1, "{saved}");
    let order: Vec<&str> = saved.lines().filter(|l| l.starts_with("print ")).collect();
    assert_eq!(
        order,
        ["print in-between", "print remembered-line"],
        "{saved}"
    );
    let mut shell = Shell::start(dir.path(), &[]);
    shell.send("\x1b[A\x1b[A"); // Up past the exit
    shell.expect("print remembered-line");
    shell.send("\r");
    let out = shell.entered("print remembered-line");
    assert!(out.starts_with("remembered-line\n"), "{out}");
}

#[test]
fn record_writes_a_script_that_replays() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("session.sock");
    let mut shell = Shell::start(dir.path(), &[]);
    shell.line(&format!("record {}", script.display()));
    shell.line("socket srv");
    let bound = shell.line("bind srv 127.0.0.1:0");
    let addr = bound
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap()
        .to_string();
    shell.line("listen srv");
    shell.line("socket cli");
    shell.line(&format!("connect cli {addr}"));
    shell.line("accept srv conn");
    shell.line("bogus command"); // fails: not recorded
    shell.line("send cli 'ping\\n'");
    shell.line("expect conn 'ping\\n'");
    shell.line("record stop");
    shell.send("\x04");
    assert_eq!(shell.wait().code(), Some(0));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("connect cli ${srv.addr}"), "{text}");
    assert!(!text.contains("bogus"), "{text}");
    let path = script.to_string_lossy().into_owned();
    Sock::cli(["run", path.as_str()]).run().assert_status(0);
    Sock::cli(["check", path.as_str()]).run().assert_status(0);
}

#[test]
fn no_color_means_no_colour_sequences() {
    let keys = "socket srv\rbnid srv\rbind nosuch :0\rbi\tsrv 127.0.0.1:0\rsend srv 'x' 12\r";
    let dir = tempfile::tempdir().unwrap();
    let mut plain = Shell::start(dir.path(), &[("NO_COLOR", "1")]);
    plain.send(keys);
    plain.entered("send srv 'x' 12");
    assert!(
        !has_colour(&plain.raw_output()),
        "{:?}",
        String::from_utf8_lossy(&plain.raw_output())
    );
    // The same keys with colour allowed do colour: the check above means something.
    let mut coloured = Shell::start(dir.path(), &[]);
    coloured.send(keys);
    coloured.entered("send srv 'x' 12");
    assert!(has_colour(&coloured.raw_output()));
}

#[test]
fn nothing_typed_ends_the_shell_but_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    for line in [
        "require raw",
        "require nonsense",
        "source /nonexistent",
        "help nosuch",
        "'",
        "exit nope",
        "${x",
    ] {
        shell.line(line);
    }
    shell.send("print never");
    shell.expect("print never TEXT...");
    shell.send("\x03"); // Ctrl-C at the prompt only clears the line
    shell.expect("sockrepl> ");
    let out = shell.line("print still-here");
    assert!(out.starts_with("still-here\n"), "{out}");
    assert!(shell.child.try_wait().unwrap().is_none(), "the shell ended");
    shell.send("exit 3\r");
    assert_eq!(shell.wait().code(), Some(3));
}

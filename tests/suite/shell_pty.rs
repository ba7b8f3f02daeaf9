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
        let mut shell = Shell::spawn(state_dir, env, &[]);
        shell.expect("sockrepl> ");
        shell
    }

    /// The shell with global flags (`--sandbox`).
    fn start_with(state_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Shell {
        let mut shell = Shell::spawn(state_dir, env, args);
        shell.expect("sockrepl> ");
        shell
    }

    /// `sockrepl ARGS...` on the terminal, without waiting for anything.
    fn spawn(state_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Shell {
        let (master, slave_path) = open_pty();
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .expect("open the pty slave");
        let mut command = Sock::cli(NO_WORDS).into_command();
        command
            .args(args)
            .current_dir(state_dir)
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
        Shell {
            master,
            child,
            output,
            seen: 0,
        }
    }

    /// Makes the terminal `columns` wide, as a user resizing a window.
    fn resize(&self, columns: u16) {
        let size = libc::winsize {
            ws_row: 40,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own, on our pty master.
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.master),
                libc::TIOCSWINSZ,
                &size,
            )
        };
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

#[test]
fn record_leaves_out_a_connect_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("twice.sock");
    let (mut shell, port) = listening_shell(dir.path());
    shell.line(&format!("record {}", script.display()));
    shell.line("socket cli");
    shell.line(&format!("connect cli 127.0.0.1:{port}"));
    let again = shell.line(&format!("connect cli 127.0.0.1:{port}"));
    assert!(again.contains("EISCONN"), "{again}");
    shell.line("record stop");
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(text.matches("connect cli").count(), 1, "{text}");
}

#[test]
fn record_refuses_a_file_that_holds_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sock");
    std::fs::write(&old, "socket srv\nbind srv 127.0.0.1:0\n").unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    let out = shell.line(&format!("record {}", old.display()));
    assert!(out.contains("already holds a script (2 lines)"), "{out}");
    shell.line("socket s");
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        "socket srv\nbind srv 127.0.0.1:0\n",
        "the old script was changed"
    );
    let new = dir.path().join("new.sock");
    let out = shell.line(&format!("record {}", new.display()));
    assert!(out.contains("recording to"), "{out}");
    shell.line("socket t");
    shell.line("record stop");
    let text = std::fs::read_to_string(&new).unwrap();
    assert!(text.starts_with("# recorded by sockrepl"), "{text}");
    assert!(
        text.contains("socket t\n") && !text.contains("socket s\n"),
        "{text}"
    );
}

#[test]
fn source_at_the_prompt_shows_each_command_and_where_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    let setup = dir.path().join("setup.sock");
    std::fs::write(
        &setup,
        "socket a udp\nbind a 127.0.0.1:0\nbind a 127.0.0.1:0\n",
    )
    .unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    let out = shell.line(&format!("source {}", setup.display()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "> socket a udp", "{out}");
    assert!(
        lines[1].starts_with("created a: AF_INET SOCK_DGRAM"),
        "{out}"
    );
    assert_eq!(lines[2], "> bind a 127.0.0.1:0", "{out}");
    let failure = format!("error: {}:3: bind: EINVAL", setup.display());
    assert!(out.contains(&failure), "no {failure:?} in:\n{out}");
}

/// Whether `text` shows in the output within `wait` (for what must not).
fn appears_within(shell: &Shell, text: &str, wait: Duration) -> bool {
    thread::sleep(wait);
    strip(&shell.raw_output())[shell.seen..].contains(text)
}

#[test]
fn run_step_waits_for_enter_before_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("steps.sock");
    std::fs::write(
        &script,
        "# make it\nsocket s udp\nbind s 127.0.0.1:0\nprint done\n",
    )
    .unwrap();
    let path = script.to_string_lossy().into_owned();
    let mut run = Shell::spawn(dir.path(), &[], &["run", "--step", "--comments", &path]);
    run.expect("Enter runs the command shown");
    run.expect("# make it\n> socket s udp");
    let wait = Duration::from_millis(400);
    assert!(!appears_within(&run, "created", wait), "ran before Enter");
    run.send("\r");
    // The Enter ends the command's line; its outcome follows at once.
    run.expect("\ncreated s: AF_INET SOCK_DGRAM");
    run.expect("> bind s 127.0.0.1:0");
    assert!(!appears_within(&run, "bound", wait), "ran before Enter");
    run.send("\r");
    run.expect("\nbound to 127.0.0.1:");
    run.expect("> print done");
    run.send("\x04"); // Ctrl-D: this command and the rest without stops
    run.expect("\ndone\n");
    assert_eq!(run.wait().code(), Some(0));
}

#[test]
fn run_step_stops_at_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("steps.sock");
    std::fs::write(&script, "socket s udp\nprint never\n").unwrap();
    let path = script.to_string_lossy().into_owned();
    let mut run = Shell::spawn(dir.path(), &[], &["run", "--step", &path]);
    run.expect("> socket s udp");
    run.send("\r");
    run.expect("> print never");
    run.send("\x03");
    run.expect("steps.sock:2: print: interrupted");
    assert_eq!(run.wait().code(), Some(130));
}

#[test]
fn help_fits_an_80_column_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start(dir.path(), &[("NO_COLOR", "1")]);
    shell.resize(80);
    let overview = shell.line("help");
    assert!(overview.contains("Server side"), "{overview}");
    assert!(overview.lines().count() <= 20, "{overview}");
    let one = shell.line("help expect");
    for text in [&overview, &one] {
        for line in text.lines().filter(|l| !l.starts_with("sockrepl> ")) {
            assert!(line.chars().count() <= 80, "too wide: {line:?}");
        }
    }
    // Wrapped at word boundaries: every word of the summary is whole.
    assert!(one.contains("re.match;"), "{one}");
}

#[test]
fn a_long_wait_says_what_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, _) = listening_shell(dir.path());
    shell.send("accept srv\r");
    shell.expect("accept srv\n");
    let started = Instant::now();
    shell.expect_within(
        "[waiting for a connection on srv; Ctrl-C cancels]",
        Duration::from_secs(3),
    );
    assert!(started.elapsed() >= Duration::from_millis(900), "too early");
    shell.send("\x03");
    shell.expect("error: accept: interrupted");
    shell.expect("sockrepl> ");
}

#[test]
fn a_timeout_at_the_prompt_says_how_to_wait_longer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut shell, _) = listening_shell(dir.path());
    shell.line("timeout 300ms");
    let out = shell.line("accept srv");
    assert!(
        out.contains(
            "error: accept: TIMEOUT (no connection within 300ms); hint: settimeout srv none \
             waits without a limit (Ctrl-C cancels), settimeout srv 30s waits longer"
        ),
        "{out}"
    );
    // A wait shorter than a second says nothing while it waits.
    assert!(!out.contains("[waiting"), "{out}");
    let out = shell.line("poll srv --timeout 200ms");
    assert!(out.contains("hint: give it --timeout 30s"), "{out}");
}

/// Issue 14: rustyline waits with select(2), which aborts for a descriptor
/// numbered 1024 or more; a session holding 1,100 sockets (with a limit
/// above 1,024) crashed with status 101 at the next prompt.
#[test]
fn issue14_the_shell_survives_holding_more_than_1024_descriptors() {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    if hard < 2048 {
        eprintln!("skipped: the hard descriptor limit is {hard}");
        return;
    }
    // Inherited by the shell started below.
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        soft.max(4096).min(hard),
        hard,
    )
    .expect("setrlimit");
    let dir = tempfile::tempdir().unwrap();
    let sockets: String = (0..1100).map(|n| format!("socket s{n} udp\n")).collect();
    std::fs::write(dir.path().join("many.inc"), sockets).unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    shell.send(&format!(
        "source {}\r",
        dir.path().join("many.inc").display()
    ));
    shell.expect_within("created s1099", Duration::from_secs(30));
    shell.expect("sockrepl> ");
    let out = shell.line("print still here");
    assert!(out.contains("still here"), "{out}");
    shell.send("exit\r");
    let status = shell.wait();
    assert_eq!(status.code(), Some(0), "the shell crashed: {status:?}");
}

/// Issue 14: a 16 KB line arriving without bracketed paste (a terminal or
/// tool that lacks it) was painted again after every character: 6.5 s.
#[test]
fn issue14_pasting_16_kb_without_bracketed_paste_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start(dir.path(), &[]);
    let text = "x".repeat(16 * 1024);
    let started = Instant::now();
    shell.send(&format!("print {text}\r"));
    shell.expect_within(&format!("\n{text}\n"), Duration::from_secs(60));
    let took = started.elapsed();
    // Repainting after each character took over a minute; a loaded
    // machine stays far below this bound.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Issue 14: in a sandboxed shell `record` writes only under `${tmp}`, and
/// says so rather than failing with EACCES.
#[test]
fn issue14_a_sandboxed_shell_records_only_under_its_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::start_with(dir.path(), &[], &["--sandbox"]);
    let out = shell.line("record ../elsewhere.sock");
    assert!(
        out.contains(
            "error: record: --sandbox: ../elsewhere.sock is outside what this script may use"
        ),
        "{out}"
    );
    shell.send("exit\r");
    assert_eq!(shell.wait().code(), Some(0));
}

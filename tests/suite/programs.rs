//! Programs under test (SPEC §13), end to end: `spawn` only with
//! `--allow-exec`, nothing a session started outliving it however it ends
//! (its last line, a failure, `exit`, Ctrl-C, SIGTERM, SIGHUP, the test
//! runner's time limit, `kill -9`, the shell's SIGTERM), no zombie between
//! commands, and Ctrl-C cutting every wait short.
//!
//! The program under test writes its own pid and its child's to `pids`
//! (in the script's folder, which is its working directory), so each test
//! can look for both in `/proc` after the session has ended.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, Running, Sock};

/// A program that forks a grandchild, records both pids, says `ready`
/// and waits: a server that started a worker. (`$$$$` is the shell's `$$`:
/// sockrepl reads `$$` as one `$`.)
const FAMILY: &str =
    "spawn p -- sh -c 'echo $$$$ > pids; sleep 300 & echo $! >> pids; echo ready; wait'\n\
     expect p 'ready\\n'\n";

/// Running and not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next(),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// Waits (a little: init reaps what it inherits) for `pid` to be gone.
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The two pids the FAMILY program recorded, waiting for both.
fn family_pids(file: &Path) -> [i32; 2] {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(file).unwrap_or_default();
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if let [program, grandchild] = pids[..] {
            return [program, grandchild];
        }
        assert!(
            Instant::now() < deadline,
            "{} never held two pids: {text:?}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Both processes of the family are gone; kills any survivor (by pid) so
/// a failure leaves nothing behind either.
fn assert_family_gone(pids: [i32; 2], how: &str) {
    let survivors: Vec<i32> = pids.into_iter().filter(|&pid| !gone(pid)).collect();
    for &pid in &survivors {
        // SAFETY: kill(2) on a pid this test's program recorded.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        survivors.is_empty(),
        "after {how}, still running: {survivors:?}"
    );
}

fn allowed(text: &str) -> Sock {
    Sock::script(text).flag("--allow-exec")
}

#[test]
fn spawn_is_refused_without_allow_exec_and_names_the_flag() {
    let run = Sock::script("spawn p -- true\nprint never\n")
        .stable()
        .run();
    run.assert_status(1)
        .assert_last_line_starts(
            "t.sock:1: spawn: starting programs is off: run sockrepl with --allow-exec",
        )
        .assert_stdout_lacks("never\n");
}

#[test]
fn nothing_outlives_a_session_that_ran_to_its_last_line() {
    let run = allowed(FAMILY).run();
    run.assert_status(0);
    assert_family_gone(family_pids(&run.path("pids")), "the last line");
}

#[test]
fn nothing_outlives_a_session_that_failed() {
    let run = allowed(&format!("{FAMILY}settimeout p 100ms\nexpect p never\n")).run();
    run.assert_status(1)
        .assert_last_line_starts("t.sock:4: expect: TIMEOUT");
    assert_family_gone(family_pids(&run.path("pids")), "a failure");
}

#[test]
fn nothing_outlives_a_session_that_said_exit() {
    let run = allowed(&format!("{FAMILY}exit 4\nprint never\n")).run();
    run.assert_status(4);
    assert_family_gone(family_pids(&run.path("pids")), "exit");
}

/// A session waiting for its program forever, with a Unix socket file in
/// its folder and one in `${tmp}`: what a signal must clean up.
fn waiting_session() -> Running {
    let script = format!(
        "{FAMILY}socket u unix\nbind u ./lab.sock\nsocket v unix\nbind v ${{tmp}}/v.sock\n\
         print tmp=${{tmp}}\ntimeout none\nwait p\n"
    );
    let running = allowed(&script).spawn();
    running.wait_for_line("> wait p", Duration::from_secs(10));
    running
}

fn ended_by(signal: libc::c_int, status: i32, name: &str) {
    let running = waiting_session();
    let pids = family_pids(&running.path("pids"));
    let started = Instant::now();
    running.signal(signal);
    let run = running.finish();
    run.assert_status(status)
        .assert_last_line(&format!("t.sock:9: wait: {name}"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_family_gone(pids, name);
    assert!(!run.path("lab.sock").exists(), "lab.sock left behind");
    let tmp = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("tmp="))
        .expect("the session printed ${tmp}");
    assert!(!Path::new(tmp).exists(), "{tmp} left behind");
}

#[test]
fn ctrl_c_ends_the_session_and_its_programs() {
    ended_by(libc::SIGINT, 130, "interrupted");
}

#[test]
fn sigterm_ends_the_session_cleanly_with_143() {
    ended_by(libc::SIGTERM, 143, "stopped by SIGTERM");
}

#[test]
fn sighup_ends_the_session_cleanly_with_129() {
    ended_by(libc::SIGHUP, 129, "stopped by SIGHUP");
}

#[test]
fn sigterm_between_commands_stops_before_the_next_line() {
    // The program ignores SIGTERM: its session may not wait the full 1 s
    // grace when a signal ends it (the test runner kills after 1 s).
    let script = format!(
        "{FAMILY}spawn stubborn -- sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'\n\
         repeat 100000000\nprint busy\nend\n"
    );
    let running = allowed(&script).spawn();
    running.wait_for_line("busy", Duration::from_secs(10));
    let pids = family_pids(&running.path("pids"));
    let started = Instant::now();
    running.signal(libc::SIGTERM);
    let run = running.finish();
    run.assert_status(143);
    let last = run.last_line();
    // Caught after a `print` ran, or before the next one: either way the
    // report names the line, the signal and the iteration.
    assert!(
        last.starts_with("t.sock:5: print: stopped by SIGTERM") && last.contains("(in iteration "),
        "{}",
        run.show()
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert_family_gone(pids, "SIGTERM between commands");
}

#[test]
fn kill_9_of_sockrepl_leaves_neither_the_program_nor_what_it_started() {
    let running = waiting_session();
    let pids = family_pids(&running.path("pids"));
    running.signal(libc::SIGKILL);
    let run = running.finish();
    assert_eq!(run.status, None, "killed by a signal\n{}", run.show());
    // The program dies of PR_SET_PDEATHSIG, the grandchild by the guardian.
    assert_family_gone(pids, "kill -9");
}

#[test]
fn the_runners_time_limit_ends_the_script_and_its_programs() {
    let script = format!("{FAMILY}timeout none\nwait p\n");
    let run = Sock::cli(["--allow-exec", "test", "--script-timeout", "1s", "t"])
        .file("t/hang.sock", script.as_bytes())
        .run();
    run.assert_status(1)
        .assert_stdout_contains("ran longer than the 1s script timeout")
        .assert_last_line("0 passed, 1 failed");
    assert_family_gone(family_pids(&run.path("t/pids")), "the script timeout");
}

#[test]
fn a_program_that_exited_is_reaped_by_the_next_command() {
    let running =
        allowed("spawn quick -- true\nsleep 300ms\nprint reaped\nsleep 3s\nprint done\n").spawn();
    running.wait_for_line("reaped", Duration::from_secs(10));
    let zombies = zombie_children(running.pid());
    let run = running.finish();
    run.assert_status(0);
    assert!(
        zombies.is_empty(),
        "zombies while the session ran: {zombies:?}"
    );
}

/// Children of `parent` that are zombies, from /proc.
fn zombie_children(parent: u32) -> Vec<String> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.parse::<u32>().ok()?;
            let stat = fs::read_to_string(format!("/proc/{name}/stat")).ok()?;
            let rest = stat.rsplit(')').next()?.to_string();
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == parent && state == "Z").then_some(stat)
        })
        .collect()
}

/// Ctrl-C during the last line's wait: status 130 at once, the line
/// named, and the programs ended.
fn interrupts(script: &str, waiting_line: &str) {
    let running = allowed(script).spawn();
    running.wait_for_line(&format!("> {waiting_line}"), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(100)); // well inside the wait
    let started = Instant::now();
    running.signal(libc::SIGINT);
    let run = running.finish();
    run.assert_status(130);
    assert!(run.last_line().ends_with(": interrupted"), "{}", run.show());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{waiting_line}: took {:?}",
        started.elapsed()
    );
}

#[test]
fn ctrl_c_interrupts_a_wait_for_a_program() {
    interrupts("spawn p -- sleep 300\ntimeout none\nwait p\n", "wait p");
}

#[test]
fn ctrl_c_interrupts_a_receive_from_a_program() {
    interrupts(
        "spawn p -- sleep 300\ntimeout none\nrecvline p\n",
        "recvline p",
    );
}

#[test]
fn ctrl_c_interrupts_a_send_to_a_program_that_does_not_read() {
    // A pipe holds 64 KiB: 1 MiB to a program that never reads blocks.
    let script = "spawn p -- sleep 300\ntimeout none\nsendall p --file big\n";
    let running = allowed(script).file("big", &vec![b'x'; 1 << 20]).spawn();
    running.wait_for_line("> sendall p --file big", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(100));
    running.signal(libc::SIGINT);
    let run = running.finish();
    run.assert_status(130);
    assert!(
        run.last_line()
            .starts_with("t.sock:3: sendall: interrupted"),
        "{}",
        run.show()
    );
}

#[test]
fn ctrl_c_interrupts_connect_retry() {
    interrupts(
        "socket c unix\nconnect c ./nobody.sock --retry 60s\n",
        "connect c ./nobody.sock --retry 60s",
    );
}

#[test]
fn connect_retry_gives_up_within_its_duration() {
    let started = Instant::now();
    let run = Sock::script("socket u unix\nconnect u ./nobody.sock --retry 500ms\n")
        .stable()
        .run();
    let took = started.elapsed();
    run.assert_status(1).assert_last_line(
        "t.sock:2: connect: ENOENT (No such file or directory); hint: no socket file at ./nobody.sock; gave up after retrying for 500ms",
    );
    assert!(took >= Duration::from_millis(500), "gave up after {took:?}");
    assert!(took < Duration::from_millis(1500), "gave up after {took:?}");
}

#[test]
fn a_program_is_found_from_the_script_folder_and_runs_there() {
    let run = Sock::cli(["--allow-exec", "--stable", "run", "sub/t.sock"])
        .file(
            "sub/t.sock",
            b"spawn p -- ./hello.sh\nexpect p 'hello from sub\\n'\nwait p\n\
              spawn q --cwd .. --env GREETING=hi -- sh -c 'echo $GREETING; ls'\n\
              recvall q\n",
        )
        .executable(
            "sub/hello.sh",
            "#!/bin/sh\necho hello from $(basename \"$PWD\")\n",
        )
        .run();
    run.assert_status(0)
        .assert_outcome("recvall q", "b'hi\\nsub\\n' (7 bytes, then end of stream)");
}

/// The shell on a pseudo-terminal, with `--allow-exec`: its output so far.
struct PtyShell {
    master: fs::File,
    child: std::process::Child,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl PtyShell {
    fn start(dir: &Path) -> PtyShell {
        use std::io::Read;
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        // SAFETY: plain libc pty calls on a descriptor we own.
        let (master, slave) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(fd >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
            let name = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned();
            (fs::File::from_raw_fd(fd), name)
        };
        let slave = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(slave)
            .unwrap();
        let mut command = std::process::Command::new(common::BIN);
        command
            .arg("--allow-exec")
            .current_dir(dir)
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .env("TERM", "xterm")
            .env("HOME", dir)
            .env("XDG_STATE_HOME", dir);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("the shell starts");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), output.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        PtyShell {
            master,
            child,
            output,
        }
    }

    /// Waits until the output holds `needle` `times` times.
    fn wait_for(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned();
            if text.matches(needle).count() >= times {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} x{times} in {text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_line(&mut self, line: &str) {
        use std::io::Write;
        self.master
            .write_all(format!("{line}\r").as_bytes())
            .unwrap();
    }

    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the shell did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal is back in its usual (canonical, echoing) mode.
    fn terminal_restored(&self) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: tcgetattr fills a termios for the pty we own.
        let mut settings: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut settings) },
            0
        );
        settings.c_lflag & (libc::ICANON | libc::ECHO) == (libc::ICANON | libc::ECHO)
    }
}

impl Drop for PtyShell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shell_ended_by_sigterm(command_running: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = PtyShell::start(dir.path());
    shell.wait_for("sockrepl> ", 1);
    shell.type_line(FAMILY.lines().next().unwrap());
    shell.wait_for("sockrepl> ", 2);
    let pids = family_pids(&dir.path().join("pids"));
    if command_running {
        shell.type_line("wait p");
        std::thread::sleep(Duration::from_millis(300));
    }
    // At its prompt the line editor is in raw mode, and while a command
    // runs the shell does not echo: the check below means something.
    assert!(
        !shell.terminal_restored(),
        "the shell left the terminal as it was"
    );
    // SAFETY: kill(2) on the shell this test started.
    unsafe { libc::kill(shell.child.id() as i32, libc::SIGTERM) };
    assert_eq!(shell.exit_code(), Some(143));
    assert_family_gone(pids, "SIGTERM to the shell");
    assert!(shell.terminal_restored(), "the terminal was left raw");
}

#[test]
fn sigterm_at_the_shells_prompt_ends_its_programs() {
    shell_ended_by_sigterm(false);
}

#[test]
fn sigterm_during_a_shell_command_ends_its_programs() {
    shell_ended_by_sigterm(true);
}

#[test]
fn a_megabyte_goes_through_cat_and_back_without_deadlock() {
    // Far more than two pipes hold: sendall must read cat's output while
    // it waits for room in cat's stdin, or both would block for good.
    let data: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    let run = allowed(
        "spawn cat -- cat\nsendall cat --file big\nexpect cat --file big\n\
         shutdown cat write\nexpect_eof cat\nwait cat\n",
    )
    .file("big", &data)
    .run();
    run.assert_status(0)
        .assert_outcome("sendall cat --file big", "sent 1048576 bytes")
        .assert_outcome("expect cat --file big", "ok: 1048576 bytes as expected")
        .assert_outcome("expect_eof cat", "ok: end of stream");
}

//! The program layer against real programs (`cat`, `sh`, `sleep`).

use super::group::{live_members, proc_stat};
use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const SOON: Duration = Duration::from_secs(5);

fn soon() -> Option<Instant> {
    Some(Instant::now() + SOON)
}

fn here() -> PathBuf {
    std::env::temp_dir()
}

fn spawn(program: &str, args: &[&str]) -> Program {
    Program::spawn(&SpawnRequest::new(program, here()).args(args.iter().copied()))
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
}

fn sh(script: &str) -> Program {
    spawn("sh", &["-c", script])
}

/// Everything the program writes until it closes its output.
fn read_to_end(program: &mut Program) -> Vec<u8> {
    while !program.at_end() {
        program.fill_wait(soon(), None).unwrap();
    }
    let all = program.buffered().to_vec();
    program.consume(all.len());
    all
}

/// Buffers output until it holds `want` (or fails after a while).
fn read_until(program: &mut Program, want: &[u8]) {
    while !program.buffered().ends_with(want) {
        assert!(!program.at_end(), "ended with {:?}", program.buffered());
        program.fill_wait(soon(), None).unwrap();
    }
}

#[test]
fn cat_echoes_what_it_is_sent_and_exits_at_end_of_input() {
    let mut cat = spawn("cat", &[]);
    cat.write_all(b"hello\n", soon(), None).unwrap();
    read_until(&mut cat, b"hello\n");
    assert_eq!(cat.buffered(), b"hello\n");
    cat.consume(6);
    cat.close_stdin();
    assert_eq!(cat.wait(soon(), None), Ok(ExitStatus::Exited(0)));
    assert_eq!(read_to_end(&mut cat), b"");
    assert!(cat.at_end());
}

#[test]
fn stdout_and_stderr_share_one_pipe_in_the_order_written() {
    for _ in 0..20 {
        let mut program = sh("echo a; echo b >&2; echo c");
        assert_eq!(read_to_end(&mut program), b"a\nb\nc\n");
        assert_eq!(program.wait(soon(), None), Ok(ExitStatus::Exited(0)));
    }
}

#[test]
fn exit_codes_are_reported() {
    let mut program = sh("exit 3");
    let status = program.wait(soon(), None).unwrap();
    assert_eq!(status, ExitStatus::Exited(3));
    assert!(status.matches(ExpectedExit::Code(3)));
    assert!(!status.matches(ExpectedExit::Code(0)));
    assert_eq!(status.to_string(), "exited with status 3");
}

#[test]
fn a_signal_that_ends_the_program_is_named() {
    let mut program = spawn("/bin/sleep", &["30"]);
    program.signal(Signal::SIGTERM).unwrap();
    let status = program.wait(soon(), None).unwrap();
    assert!(status.matches(ExpectedExit::Signal(Signal::SIGTERM)));
    assert_eq!(status.to_string(), "was killed by SIGTERM");
    let again = program.signal(Signal::SIGTERM).unwrap_err();
    assert_eq!(again, ProgramError::AlreadyExited { status });
}

#[test]
fn output_written_before_exit_is_still_there_after_it() {
    let mut program = sh("echo bye");
    assert_eq!(program.wait(soon(), None), Ok(ExitStatus::Exited(0)));
    assert_eq!(read_to_end(&mut program), b"bye\n");
}

#[test]
fn waiting_for_a_program_that_never_exits_stops_at_the_deadline() {
    let mut program = spawn("/bin/sleep", &["30"]);
    let started = Instant::now();
    let deadline = Some(started + Duration::from_millis(100));
    assert_eq!(program.wait(deadline, None), Err(ProgramError::Timeout));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(1));
    assert_eq!(program.try_wait(), Ok(None));
}

#[test]
fn an_interrupt_descriptor_cuts_a_wait_short() {
    let mut program = spawn("/bin/sleep", &["30"]);
    let (read, write) = nix::unistd::pipe().unwrap();
    nix::unistd::write(&write, b"!").unwrap();
    assert_eq!(
        program.wait(None, Some(read.as_fd())),
        Err(ProgramError::Interrupted)
    );
}

#[test]
fn without_a_pidfd_waiting_and_ending_still_work() {
    let mut program = sh("read line; exit 4");
    program.reaper.forget_pidfd();
    assert!(program.exit_fd().is_none());
    let short = Some(Instant::now() + Duration::from_millis(50));
    assert_eq!(program.wait(short, None), Err(ProgramError::Timeout));
    program.write_all(b"go\n", soon(), None).unwrap();
    assert_eq!(program.wait(soon(), None), Ok(ExitStatus::Exited(4)));

    let mut sleeper = spawn("/bin/sleep", &["30"]);
    sleeper.reaper.forget_pidfd();
    let started = Instant::now();
    let status = sleeper.terminate(DEFAULT_GRACE).unwrap();
    assert!(
        status.matches(ExpectedExit::Signal(Signal::SIGTERM)),
        "{status}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn terminate_escalates_to_sigkill_for_a_program_that_ignores_sigterm() {
    let mut program = sh("trap '' TERM; echo ready; sleep 30");
    read_until(&mut program, b"ready\n");
    let pgid = Pid::from_raw(program.pid() as i32);
    let started = Instant::now();
    let status = program.terminate(DEFAULT_GRACE).unwrap();
    let took = started.elapsed();
    assert!(
        status.matches(ExpectedExit::Signal(Signal::SIGKILL)),
        "{status}"
    );
    // Not before the grace period; well before the program's own 30 s
    // (the upper bound leaves room for a loaded machine: it is not a
    // measure of speed).
    assert!(took >= DEFAULT_GRACE, "{took:?}");
    assert!(took < DEFAULT_GRACE + Duration::from_secs(10), "{took:?}");
    assert_eq!(live_members(pgid), Vec::<Pid>::new());
    assert!(!registry::running_groups().contains(&pgid));
}

#[test]
fn terminate_is_quick_for_a_program_that_obeys_sigterm() {
    let mut program = spawn("/bin/sleep", &["30"]);
    let started = Instant::now();
    let status = program.terminate(DEFAULT_GRACE).unwrap();
    assert!(status.matches(ExpectedExit::Signal(Signal::SIGTERM)));
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn ending_the_group_reaches_a_grandchild() {
    let mut program = sh("sleep 30 & echo $!; wait");
    read_until(&mut program, b"\n");
    let text = String::from_utf8(program.buffered().to_vec()).unwrap();
    let grandchild: i32 = text.trim().parse().unwrap();
    assert!(proc_stat(grandchild).is_some_and(|s| s.alive()));
    program.terminate(DEFAULT_GRACE).unwrap();
    // Reparented to init once `sh` died; init may take a while to reap it,
    // but it must not be running.
    assert!(!proc_stat(grandchild).is_some_and(|s| s.alive()));
}

#[test]
fn dropping_a_program_ends_its_group_and_a_leftover_member() {
    // `sh` exits at once and leaves `sleep` running in its group.
    let mut program = sh("sleep 30 & echo $!");
    read_until(&mut program, b"\n");
    let grandchild: i32 = String::from_utf8_lossy(program.buffered())
        .trim()
        .parse()
        .unwrap();
    assert_eq!(program.wait(soon(), None), Ok(ExitStatus::Exited(0)));
    assert!(proc_stat(grandchild).is_some_and(|s| s.alive()));
    drop(program);
    assert!(!proc_stat(grandchild).is_some_and(|s| s.alive()));
}

#[test]
fn many_spawn_and_terminate_cycles_leave_no_zombie() {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    for _ in 0..50 {
        let mut program = spawn("/bin/sleep", &["30"]);
        pids.push(program.pid() as i32);
        program.terminate(DEFAULT_GRACE).unwrap();
    }
    for _ in 0..50 {
        pids.push(spawn("true", &[]).pid() as i32); // dropped at once
    }
    for pid in pids {
        let ours = proc_stat(pid).is_some_and(|s| s.ppid == me);
        assert!(!ours, "pid {pid} is still our child: {:?}", proc_stat(pid));
        assert!(!registry::running_groups().contains(&Pid::from_raw(pid)));
    }
}

#[test]
fn the_program_inherits_only_its_three_standard_descriptors() {
    let _socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A descriptor opened without O_CLOEXEC, as careless library code might.
    let leaky = nix::unistd::dup(std::io::stdin()).unwrap();
    let mut program = spawn("/bin/sleep", &["30"]);
    let fd_dir = format!("/proc/{}/fd", program.pid());
    let mut fds: Vec<String> = fs::read_dir(&fd_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    fds.sort();
    let target = |fd: &str| fs::read_link(format!("{fd_dir}/{fd}")).unwrap();
    drop(leaky);
    assert_eq!(fds, ["0", "1", "2"]);
    assert!(target("0").to_string_lossy().starts_with("pipe:"));
    assert_eq!(target("1"), target("2"), "stdout and stderr are one pipe");
    program.terminate(DEFAULT_GRACE).unwrap();
}

#[test]
fn the_program_runs_in_a_process_group_of_its_own_under_the_name_given() {
    // `cat` with no input waits, found on PATH and named as written.
    let program = spawn("cat", &["-"]);
    let stat = proc_stat(program.pid() as i32).unwrap();
    assert_eq!(stat.pgrp, program.pid() as i32);
    assert_ne!(stat.pgrp, nix::unistd::getpgrp().as_raw());
    // The spawn returns once the program's memory has replaced ours; its
    // arguments are copied in a moment later.
    let cmdline = format!("/proc/{}/cmdline", program.pid());
    let deadline = Instant::now() + SOON;
    let mut argv = fs::read(&cmdline).unwrap();
    while argv.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        argv = fs::read(&cmdline).unwrap();
    }
    assert_eq!(argv, b"cat\x00-\x00");
    assert!(program.path().is_absolute());
}

#[test]
fn a_program_spawned_by_a_thread_that_ends_is_killed_with_it() {
    // PR_SET_PDEATHSIG fires when the spawning *thread* exits: this is why
    // the session must spawn from a thread that lives as long as it does.
    let mut program = std::thread::spawn(|| spawn("/bin/sleep", &["30"]))
        .join()
        .unwrap();
    let status = program.wait(soon(), None).unwrap();
    assert!(
        status.matches(ExpectedExit::Signal(Signal::SIGKILL)),
        "{status}"
    );
}

#[test]
fn after_kill_9_of_the_session_the_program_and_what_it_forked_die() {
    // A "session" (a forked child) spawns `sh`, which forks `sleep`; the
    // session is SIGKILLed. `sh` dies of its PR_SET_PDEATHSIG; `sleep`,
    // which the death signal does not reach, is killed by the guardian.
    use nix::unistd::{fork, ForkResult};
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child spawns, reports through the pipe and waits to be
    // killed (or for its alarm); it never returns into the harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read);
            nix::unistd::alarm::set(30);
            let _ = std::panic::catch_unwind(|| {
                let mut program = sh("sleep 30 & echo $!; wait");
                read_until(&mut program, b"\n");
                let grandchild = String::from_utf8_lossy(program.buffered()).into_owned();
                let report = format!("{} {grandchild}", program.pid());
                nix::unistd::write(&write, report.as_bytes()).unwrap();
                std::mem::forget(program); // the kill comes first
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            // SAFETY: leave at once, running nothing of the parent's.
            unsafe { libc::_exit(1) }
        }
        ForkResult::Parent { child } => {
            drop(write);
            // One line, not to the end: the child holds the pipe until killed.
            let mut report = String::new();
            let mut pipe = std::io::BufReader::new(fs::File::from(read));
            std::io::BufRead::read_line(&mut pipe, &mut report).unwrap();
            let pids: Vec<i32> = report
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            let (program, grandchild) = (pids[0], pids[1]);
            nix::sys::signal::kill(child, Signal::SIGKILL).unwrap();
            nix::sys::wait::waitpid(child, None).unwrap();
            let alive = |pid| proc_stat(pid).is_some_and(|s| s.alive());
            let deadline = Instant::now() + SOON;
            while (alive(program) || alive(grandchild)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let orphan_alive = alive(grandchild);
            if orphan_alive {
                let _ = nix::sys::signal::kill(Pid::from_raw(grandchild), Signal::SIGKILL);
            }
            assert!(!alive(program), "the program survived");
            assert!(!orphan_alive, "the grandchild survived the session");
        }
    }
}

#[test]
fn writing_to_a_program_that_exited_says_so() {
    let mut program = spawn("true", &[]);
    program.wait(soon(), None).unwrap();
    // Another test's child, between its fork and its exec, may hold a copy
    // of the pipe for a moment: the write fails once that copy is gone.
    let started = std::time::Instant::now();
    let error = loop {
        match program.write(b"x") {
            Err(error) => break error,
            Ok(_) if started.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(n) => panic!("wrote {n} bytes to a program that exited"),
        }
    };
    assert_eq!(
        error,
        ProgramError::NotReading {
            status: Some(ExitStatus::Exited(0))
        }
    );
    assert_eq!(error.errno(), Some(Errno::EPIPE));
    program.close_stdin();
    assert_eq!(program.write(b"x"), Err(ProgramError::StdinClosed));
}

#[test]
fn a_megabyte_goes_through_cat_without_deadlock() {
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut cat = spawn("cat", &[]);
    cat.write_all(&data, soon(), None).unwrap();
    cat.close_stdin();
    assert_eq!(read_to_end(&mut cat), data);
    assert_eq!(cat.wait(soon(), None), Ok(ExitStatus::Exited(0)));
}

#[test]
fn the_output_buffer_is_bounded_and_loses_nothing() {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
    let mut buffer = output::OutputBuffer::with_cap(read, 4);
    nix::unistd::write(&write, b"abcdefgh").unwrap();
    assert_eq!(buffer.fill(), Ok(4));
    assert_eq!(buffer.fill(), Err(ProgramError::OutputFull { cap: 4 }));
    buffer.consume(3);
    assert_eq!(buffer.fill(), Ok(3));
    assert_eq!(buffer.buffered(), b"defg");
    drop(write);
    buffer.consume(4);
    assert_eq!(buffer.fill(), Ok(1));
    assert_eq!(buffer.fill(), Ok(0));
    assert_eq!(buffer.buffered(), b"h");
    assert!(buffer.at_end());
}

#[test]
fn environment_and_working_directory_are_passed() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let request = SpawnRequest::new("sh", dir.path())
        .args(["-c", "echo $GREETING; pwd"])
        .env("GREETING", "hi")
        .cwd("sub");
    let mut program = Program::spawn(&request).unwrap();
    let expected = format!("hi\n{}\n", dir.path().join("sub").display());
    assert_eq!(read_to_end(&mut program), expected.as_bytes());
}

#[test]
fn a_name_with_a_slash_is_found_from_the_base_directory() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hello");
    fs::write(&script, "#!/bin/sh\necho \"in $(pwd)\"\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut program = Program::spawn(&SpawnRequest::new("./hello", dir.path())).unwrap();
    let expected = format!("in {}\n", dir.path().display());
    assert_eq!(read_to_end(&mut program), expected.as_bytes());
    assert_eq!(program.path(), dir.path().join("./hello"));
}

fn spawn_error(request: SpawnRequest) -> ProgramError {
    Program::spawn(&request).unwrap_err()
}

#[test]
fn a_missing_program_is_named() {
    let error = spawn_error(SpawnRequest::new("no-such-program-x7", here()));
    assert_eq!(
        error.to_string(),
        "no program named no-such-program-x7 on PATH"
    );
    assert_eq!(error.errno(), Some(Errno::ENOENT));
    let dir = tempfile::tempdir().unwrap();
    let error = spawn_error(SpawnRequest::new("./missing", dir.path()));
    assert!(matches!(error, ProgramError::NoFile { .. }), "{error}");
    assert!(error.to_string().starts_with("no file "), "{error}");
}

#[test]
fn a_file_that_cannot_run_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    fs::write(&plain, "echo hi\n").unwrap();
    let error = spawn_error(SpawnRequest::new("./plain", dir.path()));
    assert!(
        matches!(error, ProgramError::NotExecutable { .. }),
        "{error}"
    );
    assert_eq!(error.errno(), Some(Errno::EACCES));

    let on_path = SpawnRequest::new("plain", dir.path()).env("PATH", dir.path());
    assert!(matches!(
        spawn_error(on_path),
        ProgramError::NotExecutable { .. }
    ));

    fs::create_dir(dir.path().join("adir")).unwrap();
    let error = spawn_error(SpawnRequest::new("./adir", dir.path()));
    assert!(matches!(error, ProgramError::IsDirectory { .. }), "{error}");

    let orphan = dir.path().join("orphan");
    fs::write(&orphan, "#!/no/such/interpreter\n").unwrap();
    fs::set_permissions(&orphan, fs::Permissions::from_mode(0o755)).unwrap();
    let error = spawn_error(SpawnRequest::new("./orphan", dir.path()));
    assert!(error.to_string().contains("interpreter"), "{error}");

    let bad_cwd = SpawnRequest::new("true", dir.path()).cwd("nowhere");
    assert!(matches!(
        spawn_error(bad_cwd),
        ProgramError::BadWorkingDirectory {
            errno: Errno::ENOENT,
            ..
        }
    ));
}

#[test]
fn signal_names_parse_and_print() {
    assert_eq!(parse_signal("SIGTERM"), Ok(Signal::SIGTERM));
    assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
    assert_eq!(parse_signal("SIGUSR1"), Ok(Signal::SIGUSR1));
    assert!(parse_signal("SIGFOO").unwrap_err().contains("SIGFOO"));
    assert_eq!(signal_name(Signal::SIGHUP), "SIGHUP");
    assert_eq!("0".parse(), Ok(ExpectedExit::Code(0)));
    assert_eq!("SIGKILL".parse(), Ok(ExpectedExit::Signal(Signal::SIGKILL)));
    assert!("256".parse::<ExpectedExit>().is_err());
}

#[test]
fn the_registry_kills_every_group_from_a_signal_handler_path() {
    // In a forked child, so the harness's other programs are not touched.
    let outcome = crate::netns::forked::in_child(|| {
        for pgid in registry::running_groups() {
            registry::unregister(pgid); // the parent's, not ours
        }
        let mut program = spawn("/bin/sleep", &["30"]);
        registry::kill_all_now();
        let status = program.wait(soon(), None).map_err(|e| e.to_string())?;
        Ok(status.to_string())
    });
    assert_eq!(outcome, Ok("was killed by SIGKILL".to_string()));
}

/// Not a check: spawn+wait of /bin/true, to compare with Python's
/// `subprocess.run(['/bin/true'])`. The variants take turns, so a busy
/// machine slows them alike; medians are shown.
/// `cargo test --release spawn_cost -- --ignored --nocapture --test-threads=1`
#[test]
#[ignore]
fn spawn_cost() {
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    type Variant = (&'static str, Box<dyn FnMut()>);
    let mut variants: Vec<Variant> = vec![
        (
            "std Command (posix_spawn)",
            Box::new(|| {
                Command::new("/bin/true").status().unwrap();
            }),
        ),
        (
            "std Command + process_group (posix_spawn)",
            Box::new(|| {
                Command::new("/bin/true").process_group(0).status().unwrap();
            }),
        ),
        (
            "std Command + empty pre_exec (fork)",
            Box::new(|| {
                let mut command = Command::new("/bin/true");
                // SAFETY: the closure does nothing.
                unsafe { command.pre_exec(|| Ok(())) };
                command.status().unwrap();
            }),
        ),
        (
            "Program::spawn + wait (clone CLONE_VM|CLONE_VFORK, pdeathsig)",
            Box::new(|| {
                let mut program = spawn("/bin/true", &[]);
                program.wait(soon(), None).unwrap();
            }),
        ),
    ];
    let rounds = 300;
    let mut times = vec![Vec::with_capacity(rounds); variants.len()];
    let mut cpu = vec![Duration::ZERO; variants.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            let (started, cpu_before) = (Instant::now(), cpu_time());
            run();
            times[i].push(started.elapsed());
            cpu[i] += cpu_time() - cpu_before;
        }
    }
    for (((label, _), mut took), cpu) in variants.iter().zip(times).zip(cpu) {
        took.sort_unstable();
        println!(
            "{label}: median {:?}, min {:?}, CPU {:?}",
            took[rounds / 2],
            took[0],
            cpu / rounds as u32
        );
    }
}

/// CPU time (user + system) of this process and its reaped children:
/// unlike wall time, it barely moves when other work shares the machine.
fn cpu_time() -> Duration {
    let used = |who| {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage fills the struct it is given.
        let usage = unsafe {
            libc::getrusage(who, usage.as_mut_ptr());
            usage.assume_init()
        };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    used(libc::RUSAGE_SELF) + used(libc::RUSAGE_CHILDREN)
}

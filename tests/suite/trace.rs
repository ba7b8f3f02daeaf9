//! `trace` as its users meet it (SPEC §16): refused without the right to
//! capture, with both ways to get it named; working for an unprivileged
//! user in a network namespace of their own; showing what arrives between
//! two commands before the next one; and writing a pcap file that tshark
//! reads.
//!
//! The golden scripts of every trace form run in the golden suite
//! (`tests/golden/trace`, the lessons); those need the right to capture
//! and are skipped by `require capture` without it. This file runs them
//! again as `nobody` under `--netns`, so they run whoever runs the tests.

use crate::common::Sock;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The lessons that trace, and the golden scripts of every trace form.
const TRACED: &[&str] = &[
    "scripts/lessons/03-handshake.sock",
    "scripts/lessons/17-teardown.sock",
    "scripts/lessons/18-reset.sock",
    "scripts/lessons/19-udp-packets.sock",
    "tests/golden/trace",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A directory anyone may read, holding copies of `paths` (files, or
/// directories of scripts), so `nobody` can run them wherever the
/// repository lives. Returns it and the copied paths.
fn readable_copy(paths: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let open = |path: &Path| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap()
    };
    open(dir.path());
    let mut copied = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let from = repo(path);
        let to = dir.path().join(index.to_string());
        std::fs::create_dir(&to).unwrap();
        open(&to);
        let files: Vec<PathBuf> = if from.is_dir() {
            std::fs::read_dir(&from)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect()
        } else {
            let out = from.with_extension("out");
            vec![from.clone(), out]
        };
        for file in files.iter().filter(|f| f.is_file()) {
            let target = to.join(file.file_name().unwrap());
            std::fs::copy(file, &target).unwrap();
            open(&target);
        }
        copied.push(match from.is_dir() {
            true => to.display().to_string(),
            false => to.join(from.file_name().unwrap()).display().to_string(),
        });
    }
    (dir, copied)
}

/// Whether the user running the tests is root (then `Sock::unprivileged`
/// drops to `nobody`); a user who is not root runs as themself.
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn unprivileged(sock: Sock) -> Option<Sock> {
    if !is_root() {
        return Some(sock);
    }
    match crate::common::can_run_unprivileged() {
        Ok(()) => Some(sock.unprivileged()),
        Err(reason) => {
            eprintln!("skipped: cannot drop to an unprivileged user: {reason}");
            None
        }
    }
}

#[test]
fn without_the_right_trace_is_refused_naming_both_ways() {
    let Some(probe) = unprivileged(Sock::stdin_script("require capture\n")) else {
        return;
    };
    if !probe.run().stdout.contains("skipped: ") {
        return eprintln!("skipped: this user may capture packets (CAP_NET_RAW)");
    }
    let (_dir, copied) = readable_copy(&["tests/unprivileged"]);
    let Some(sock) = unprivileged(Sock::cli(["test", copied[0].as_str()])) else {
        return;
    };
    let run = sock.run();
    assert_eq!(
        run.stdout.lines().last(),
        Some("1 passed, 0 failed, 1 skipped"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run
        .stdout
        .contains("capturing packets needs root or CAP_NET_RAW, or run with --netns"));
}

#[test]
fn an_unprivileged_user_traces_in_a_namespace_of_its_own() {
    let (_dir, copied) = readable_copy(TRACED);
    let mut words = vec!["--netns".to_string(), "test".to_string()];
    words.extend(copied);
    let Some(sock) = unprivileged(Sock::cli(words)) else {
        return;
    };
    let run = sock.run();
    if run.stdout.contains("cannot make a network namespace") {
        eprintln!(
            "skipped: no network namespace for this user here:\n{}",
            run.stdout
        );
        return;
    }
    let summary = run.stdout.lines().last().unwrap_or_default().to_string();
    let passed: usize = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not all passed, or some skipped: {summary}\n{}", run.stdout));
    let goldens = std::fs::read_dir(repo("tests/golden/trace"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "sock")
        })
        .count();
    let lessons = TRACED.len() - 1;
    assert_eq!(passed, lessons + goldens, "{}", run.stdout);
}

/// Every line of `transcript` between the line `after` and the line `before`.
fn lines_between<'a>(transcript: &'a str, after: &str, before: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = transcript.lines().collect();
    let start = lines.iter().position(|l| *l == after).expect(after);
    let end = lines.iter().position(|l| *l == before).expect(before);
    lines[start + 1..end].to_vec()
}

#[test]
fn what_arrives_between_commands_is_shown_before_the_next_one() {
    use sockrepl::interp::{End, Interpreter};
    use sockrepl::script::Loader;
    use sockrepl::session::Session;
    use sockrepl::transcript::Transcript;
    use std::io::Write;

    let mut interpreter = Interpreter::new(Session::new(Transcript::memory(), true), true);
    let run = |interpreter: &mut Interpreter, text: &str| {
        let script = Loader::new(&[])
            .parse(text.as_bytes(), "between.sock", None)
            .unwrap();
        interpreter.run_script(&script)
    };
    let start = "require capture\ntrace on\nsocket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\n";
    match run(&mut interpreter, start) {
        End::Skipped => return eprintln!("skipped: no right to capture packets here"),
        end => assert_eq!(end, End::Completed),
    }
    // A program outside the session connects, between two commands.
    let server = interpreter.session.handle("srv").unwrap().local_addr();
    let server = server.unwrap().as_socket().unwrap();
    let mut outside = std::net::TcpStream::connect(server).unwrap();
    assert_eq!(run(&mut interpreter, "accept srv conn\n"), End::Completed);
    outside.write_all(b"hi").unwrap();
    assert_eq!(run(&mut interpreter, "expect conn hi\n"), End::Completed);
    let transcript = String::from_utf8(interpreter.session.out.take()).unwrap();

    let between = |line: &str| format!("  (between commands) {line}");
    assert_eq!(
        lines_between(
            &transcript,
            "listening on 127.0.0.1:<srv.port> (backlog 128)",
            "> accept srv conn"
        ),
        [
            between("127.0.0.1:<unknown-1.port> > srv  SYN seq=0"),
            between("srv > 127.0.0.1:<unknown-1.port>  SYN-ACK seq=0 ack=1"),
            between("127.0.0.1:<unknown-1.port> > srv  ACK seq=1 ack=1"),
        ],
        "{transcript}"
    );
    let data = lines_between(
        &transcript,
        "accepted conn from 127.0.0.1:<conn.peer.port>",
        "> expect conn hi",
    );
    assert_eq!(
        data,
        [between(
            "127.0.0.1:<conn.peer.port> > conn  PSH-ACK seq=1 ack=1 len=2"
        )],
        "{transcript}"
    );
}

/// The lesson's text with `trace on` writing to `pcap`.
fn with_pcap(lesson: &str, pcap: &Path) -> String {
    let text = std::fs::read_to_string(repo(lesson)).unwrap();
    assert!(text.contains("\ntrace on\n"), "{lesson} traces");
    text.replace(
        "\ntrace on\n",
        &format!("\ntrace on --pcap {}\n", pcap.display()),
    )
}

/// tshark's lines for the packets of `file` that match `filter`.
fn tshark(file: &Path, filter: &str) -> Option<Vec<String>> {
    // A HOME of its own: tshark reads and writes its profile there.
    let home = file.parent().unwrap();
    let output = Command::new("tshark")
        .env("HOME", home)
        .arg("-r")
        .arg(file)
        .args(["-Y", filter])
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "tshark -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}

#[test]
fn the_pcap_of_a_lesson_opens_in_tshark() {
    for (lesson, syns, fins) in [
        ("scripts/lessons/03-handshake.sock", 2, 0),
        ("scripts/lessons/17-teardown.sock", 0, 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("lesson.pcap");
        let mut sock = Sock::script(&with_pcap(lesson, &pcap)).stable();
        if !is_root() {
            sock = sock.flag("--netns");
        }
        let run = sock.run();
        if run.stdout.contains("skipped: ")
            || run.stdout.contains("cannot make a network namespace")
        {
            return eprintln!("skipped: no right to capture packets here:\n{}", run.stdout);
        }
        run.assert_status(0);
        let Some(all) = tshark(&pcap, "tcp") else {
            return eprintln!("skipped: tshark is not installed (.ci/run installs it)");
        };
        assert!(!all.is_empty(), "{lesson}: no TCP packet in the pcap");
        let count = |filter| tshark(&pcap, filter).unwrap().len();
        assert_eq!(count("tcp.flags.syn == 1"), syns, "{lesson}: SYNs\n{all:?}");
        assert_eq!(count("tcp.flags.fin == 1"), fins, "{lesson}: FINs\n{all:?}");
    }
}

/// The proof of determinism: 50 runs of each trace lesson, byte for byte
/// the same. Slow (minutes on a loaded machine), so run on demand:
/// `cargo test --test trace -- --ignored`.
#[test]
#[ignore]
fn fifty_runs_of_each_trace_lesson_are_identical() {
    for lesson in TRACED.iter().filter(|l| l.ends_with(".sock")) {
        let mut first: Option<String> = None;
        for run in 0..50 {
            let output = Command::new(crate::common::BIN)
                .args(["--stable", "run", lesson])
                .current_dir(repo(""))
                .output()
                .unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            match &first {
                None => first = Some(stdout),
                Some(first) => assert_eq!(&stdout, first, "{lesson}: run {run} differs"),
            }
        }
    }
}

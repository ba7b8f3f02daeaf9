//! The reference and the exercises stay true to the program.
//!
//! `docs/language.md` quotes every command's `Help` text (the text the
//! shell's `help` shows) in that command's own section, so the two cannot
//! drift apart; the examples in the help and the docs are valid commands;
//! and the lecture's exercises in `scripts/` run to the end, including the
//! echo client against the lecture's Python echo server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sockrepl::cmd::{specs, Command as SockCommand, Scope};
use sockrepl::lexer::{split_line, Context};
use sockrepl::script::Loader;

const BIN: &str = env!("CARGO_BIN_EXE_sockrepl");
/// Longest any one child process may run before the test kills it.
const GUARD: Duration = Duration::from_secs(60);
/// The exercises that run on their own (echo-client.sock needs a server).
const SELF_CONTAINED: &[&str] = &[
    "echo.sock",
    "udp.sock",
    "ipv6.sock",
    "unix.sock",
    "errors.sock",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn language_md() -> String {
    std::fs::read_to_string(repo("docs/language.md")).expect("docs/language.md is readable")
}

/// Collapses runs of whitespace, as the `\` continuations in the Help consts do.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text under the heading "#### `NAME`", up to the next heading
/// (lines inside ``` fences are never headings).
fn section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let heading = format!("#### `{name}`\n");
    let start = doc.find(&heading)? + heading.len();
    let mut in_fence = false;
    let mut offset = start;
    for line in doc[start..].split_inclusive('\n') {
        if line.starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            return Some(&doc[start..offset]);
        }
        offset += line.len();
    }
    Some(&doc[start..])
}

/// Every "#### `name`" heading outside code fences.
fn command_headings(doc: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut names = Vec::new();
    for line in doc.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        } else if let Some(name) = line
            .strip_prefix("#### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            if !in_fence {
                names.push(name.to_string());
            }
        }
    }
    names
}

#[test]
fn every_command_has_a_section_quoting_its_help_text() {
    let doc = language_md();
    assert!(
        specs().count() >= 30,
        "the registry lists {} commands",
        specs().count()
    );
    for help in specs() {
        let text = section(&doc, help.name)
            .unwrap_or_else(|| panic!("docs/language.md has no section \"#### `{}`\"", help.name));
        for (field, value) in [
            ("synopsis", help.synopsis),
            ("python", help.python),
            ("example", help.example),
        ] {
            assert!(
                text.contains(value),
                "the section of {} lacks its {field}, verbatim: {value:?}",
                help.name
            );
        }
        assert!(
            normalise(text).contains(&normalise(help.summary)),
            "the section of {} lacks its summary (whitespace aside): {:?}",
            help.name,
            help.summary
        );
    }
}

#[test]
fn every_command_section_is_a_command_the_program_knows() {
    let doc = language_md();
    let headings = command_headings(&doc);
    for name in &headings {
        assert!(
            specs().any(|h| h.name == *name),
            "docs/language.md documents '{name}', which is not a command"
        );
    }
    let mut unique = headings.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), headings.len(), "a command has two sections");
}

#[test]
fn every_help_example_is_a_valid_command() {
    for help in specs() {
        let words = split_line(help.example, &Context { args: &[] })
            .unwrap_or_else(|e| panic!("example of {} does not split: {}", help.name, e.message));
        assert_eq!(
            words[0].literal(),
            Some(help.name),
            "the example of {} runs another command",
            help.name
        );
        if let Err(error) = SockCommand::parse_in(&words, Scope::Shell) {
            panic!(
                "example of {} ({:?}) does not parse: {}",
                help.name, help.example, error.message
            );
        }
    }
}

#[test]
fn the_sock_code_blocks_of_the_docs_parse() {
    let doc = language_md();
    let blocks: Vec<&str> = doc
        .split("```sock\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(!blocks.is_empty(), "docs/language.md has no ```sock block");
    for block in blocks {
        if let Err(errors) = Loader::new(&[]).parse(block.as_bytes(), "docs", None) {
            panic!("a ```sock block does not parse: {}\n{block}", errors[0]);
        }
    }
}

#[test]
fn the_exercises_parse() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo("scripts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sock") {
            let text = std::fs::read(&path).unwrap();
            let args = ["127.0.0.1:9".to_string()]; // echo-client.sock's server
            if let Err(errors) =
                Loader::new(&args).parse(&text, &path.display().to_string(), Some(&path))
            {
                panic!(
                    "{}",
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            count += 1;
        }
    }
    assert!(
        count > SELF_CONTAINED.len(),
        "only {count} scripts in scripts/"
    );
}

/// Waits for a child, killing it past `GUARD`.
fn finish(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > GUARD {
            let _ = child.kill();
            panic!("{what} ran longer than {GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn sockrepl(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .current_dir(repo(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockrepl starts");
    finish(child, &format!("sockrepl {}", args.join(" ")))
}

fn assert_ran(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what}: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_exercises_run_to_the_end() {
    for script in SELF_CONTAINED {
        let path = format!("scripts/{script}");
        let stdout = assert_ran(&sockrepl(&["--stable", "run", &path]), &path);
        assert!(
            stdout.starts_with("> "),
            "{path} printed no transcript:\n{stdout}"
        );
    }
}

#[test]
fn every_lesson_runs_to_the_end() {
    let mut lessons: Vec<PathBuf> = std::fs::read_dir(repo("scripts/lessons"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sock"))
        .collect();
    lessons.sort();
    assert_eq!(lessons.len(), 13, "{lessons:?}");
    for lesson in &lessons {
        let path = lesson.to_string_lossy();
        // Lesson 13 starts the lecture's Python server itself.
        let ran = sockrepl(&["--stable", "--allow-exec", "run", &path]);
        assert_ran(&ran, &path);
    }
}

#[test]
fn the_main_demo_shows_the_lecture_round_trip() {
    let stdout = assert_ran(
        &sockrepl(&["--stable", "run", "scripts/echo.sock"]),
        "echo.sock",
    );
    for line in [
        "> connect cli 127.0.0.1:<srv.port>",
        "accepted conn from 127.0.0.1:<cli.port>",
        "b'Hello, world'",
        "ok: 12 bytes as expected",
        "b'' (end of stream: the peer closed its side)",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "echo.sock lacks the line {line:?}:\n{stdout}"
        );
    }
}

#[test]
fn the_exercises_give_the_same_stable_transcript_every_time() {
    for script in SELF_CONTAINED {
        let path = format!("scripts/{script}");
        let first = assert_ran(&sockrepl(&["--stable", "run", &path]), &path);
        let second = assert_ran(&sockrepl(&["--stable", "run", &path]), &path);
        let differing = first.lines().zip(second.lines()).find(|(a, b)| a != b);
        assert!(
            first == second,
            "{path}: two --stable runs differ, first at:\n  {:?}\n  {:?}",
            differing.unwrap_or_default().0,
            differing.unwrap_or_default().1
        );
    }
}

/// The lecture's server, started on port 0; returns it and the address it printed.
fn start_python_server(connections: &str) -> Option<(Child, String)> {
    let spawned = Command::new("python3")
        .arg(repo("scripts/python/echo-server.py"))
        .args(["0", connections])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut server = match spawned {
        Ok(server) => server,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("cannot start python3: {error}"),
    };
    let mut first = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("echo-server.py printed {first:?}"))
        .to_string();
    Some((server, addr))
}

#[test]
fn the_echo_client_script_talks_to_the_lectures_python_server() {
    let Some((server, addr)) = start_python_server("1") else {
        panic!("python3 is needed for this test (see README.md)");
    };
    let run = sockrepl(&["run", "scripts/echo-client.sock", &addr]);
    let stdout = assert_ran(&run, "echo-client.sock against echo-server.py");
    assert!(stdout.contains("ok: 12 bytes as expected"), "{stdout}");
    let server = finish(server, "echo-server.py");
    assert!(server.status.success(), "echo-server.py: {}", server.status);
    assert!(String::from_utf8_lossy(&server.stdout).contains("Connected by"));
}

#[test]
fn the_python_client_talks_to_the_python_server() {
    let Some((server, addr)) = start_python_server("1") else {
        panic!("python3 is needed for this test (see README.md)");
    };
    let client = Command::new("python3")
        .arg(repo("scripts/python/echo-client.py"))
        .arg(&addr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = finish(client, "echo-client.py");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        "Received b'Hello, world'\n"
    );
    finish(server, "echo-server.py");
}

#[test]
fn the_echo_client_script_fails_against_a_server_that_does_not_echo() {
    // A "server" that accepts and sends the wrong bytes: the exercise must catch it.
    let script = "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\nprint ${srv.addr}\n\
                  poll srv --timeout 20s\naccept srv conn\nrecv conn\nsendall conn 'Hello, World'\nsleep 1s\n";
    let mut server = Command::new(BIN)
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut server.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let addr = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find(|line| !line.starts_with('>') && line.starts_with("127.0.0.1:"))
        .expect("the fake server prints its address");
    let run = sockrepl(&["run", "scripts/echo-client.sock", &addr]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected b'Hello, world', got b'Hello, World'"),
        "{stdout}"
    );
    finish(server, "the fake server");
}

#[test]
fn the_shell_only_commands_have_their_help_text_in_the_docs() {
    let doc = normalise(&language_md());
    for help in specs().filter(|s| s.scope == Scope::Shell) {
        for field in [help.synopsis, help.summary, help.example] {
            assert!(
                doc.contains(&normalise(field)),
                "docs/language.md lacks the {} help text {field:?}",
                help.name
            );
        }
    }
}

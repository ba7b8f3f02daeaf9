//! The reference and the exercises stay true to the program.
//!
//! `docs/language.md` quotes every command's `Help` text (the text the
//! shell's `help` shows) in that command's own section, so the two cannot
//! drift apart; the examples in the help and the docs are valid commands;
//! and the lecture's exercises in `scripts/` run to the end, including the
//! echo client against the lecture's Python echo server.

use std::path::{Path, PathBuf};

use sockrepl::cmd::{specs, Command as SockCommand, Scope};
use sockrepl::lexer::{split_line, Context};
use sockrepl::script::Loader;

use crate::common::{self, repo, Peer, PythonEcho, Run, Sock};

/// The exercises that run on their own (echo-client.sock needs a server).
const SELF_CONTAINED: &[&str] = &[
    "echo.sock",
    "udp.sock",
    "ipv6.sock",
    "unix.sock",
    "errors.sock",
];

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
        let words = split_line(help.example, &Context::new(&[]))
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
            // echo-client.sock's server; https-get.sock's server, name and CA file.
            let args = ["127.0.0.1:9", "localhost", "ca.pem"].map(String::from);
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

/// `sockrepl ARGS` in the repository's root, as a reader of the docs runs it.
fn sockrepl(args: &[&str]) -> Run {
    Sock::cli(args.iter().copied()).in_dir(repo("")).run()
}

/// The transcript of `sockrepl ARGS` (as [`sockrepl`]), which must exit 0.
#[track_caller]
fn transcript(args: &[&str]) -> String {
    let run = sockrepl(args);
    let command = args.join(" ");
    assert_eq!(run.status, Some(0), "sockrepl {command}\n{}", run.show());
    run.stdout
}

#[test]
fn the_exercises_run_to_the_end() {
    for script in SELF_CONTAINED {
        let path = format!("scripts/{script}");
        let stdout = transcript(&["--stable", "run", &path]);
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
    // Every lesson runs (one per lecture topic, numbered in order).
    assert!(lessons.len() >= 21, "{lessons:?}");
    let _lessons = common::lessons_lock();
    for lesson in &lessons {
        let path = lesson.to_string_lossy();
        // Lesson 21 starts the lecture's Python server itself.
        transcript(&["--stable", "--allow-exec", "run", &path]);
    }
}

#[test]
fn the_main_demo_shows_the_lecture_round_trip() {
    let stdout = transcript(&["--stable", "run", "scripts/echo.sock"]);
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
        let first = transcript(&["--stable", "run", &path]);
        let second = transcript(&["--stable", "run", &path]);
        let differing = first.lines().zip(second.lines()).find(|(a, b)| a != b);
        assert!(
            first == second,
            "{path}: two --stable runs differ, first at:\n  {:?}\n  {:?}",
            differing.unwrap_or_default().0,
            differing.unwrap_or_default().1
        );
    }
}

#[test]
fn the_echo_client_script_talks_to_the_lectures_python_server() {
    let server = PythonEcho::start();
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    // HOST:PORT, and the port alone as the lecture's client takes it.
    for given in [server.addr.as_str(), port.as_str()] {
        let stdout = transcript(&["run", "scripts/echo-client.sock", given]);
        assert!(stdout.contains("ok: 12 bytes as expected"), "{stdout}");
    }
    // The server runs `while True`, as in the lecture: stopped here.
    let printed = server.stop().stdout;
    assert_eq!(printed.matches("Connected by").count(), 2, "{printed}");
}

#[test]
fn the_python_client_talks_to_the_python_server() {
    let server = PythonEcho::start();
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    for given in [server.addr.as_str(), port.as_str()] {
        let client = Sock::python("scripts/python/echo-client.py")
            .args([given])
            .run();
        client.assert_status(0);
        assert_eq!(
            client.stdout,
            "Received b'Hello, world'\n",
            "{}",
            client.show()
        );
    }
    server.stop();
}

#[test]
fn the_python_server_is_the_lectures_loop() {
    // The repository describes the lecture's server one way: one recv and
    // one sendall per client, no close of its own. The file must be it.
    let server = std::fs::read_to_string(repo("scripts/python/echo-server.py")).unwrap();
    let code: Vec<&str> = server
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "while True:")
        .collect();
    assert_eq!(
        code,
        [
            "while True:",
            "conn, addr = s.accept()",
            "print('Connected by', addr, flush=True)",
            "data = conn.recv(1024)",
            "if not data:",
            "continue",
            "conn.sendall(data)",
        ]
    );
    assert!(
        !server.contains("with conn"),
        "the lecture never closes conn"
    );
}

#[test]
fn the_echo_client_script_fails_against_a_server_that_does_not_echo() {
    // A "server" that accepts and sends the wrong bytes: the exercise must
    // catch it. It reads on to the end, which comes when the client gives up.
    let server = Peer::start(Sock::script(
        "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\npoll srv --timeout 20s\n\
         accept srv conn\nrecv conn\nsendall conn 'Hello, World'\nrecvall conn\n",
    ));
    let run = sockrepl(&["run", "scripts/echo-client.sock", &server.addr]);
    run.assert_status(1)
        .assert_stdout_contains("expected b'Hello, world', got b'Hello, World'");
    server.finish().assert_status(0);
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

/// Every `*.sock` under `dir`, recursively.
fn sock_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sock_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "sock") {
            found.push(path);
        }
    }
}

#[test]
fn no_script_uses_a_fixed_abstract_name() {
    // Abstract names are machine-wide, like ports: a fixed one makes two
    // runs at once (two students, two `cargo test`s) fail with EADDRINUSE.
    // Autobind (`@`) or a name made from ${tmp} is unique to the run.
    let mut files = Vec::new();
    sock_files(&repo("scripts"), &mut files);
    sock_files(&repo("tests/golden"), &mut files);
    let mut fixed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or("");
            if code.trim_start().starts_with('#') {
                continue;
            }
            let named = code
                .split_whitespace()
                .filter(|w| w.len() > 1 && w.starts_with('@') && !w.contains("${"));
            for word in named {
                fixed.push(format!("{}:{}: {word}", file.display(), number + 1));
            }
        }
    }
    assert!(
        fixed.is_empty(),
        "fixed abstract names:\n{}",
        fixed.join("\n")
    );
}

/// The lessons, in order.
fn lessons() -> Vec<PathBuf> {
    let mut lessons: Vec<PathBuf> = std::fs::read_dir(repo("scripts/lessons"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sock"))
        .collect();
    lessons.sort();
    lessons
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_lesson_says_which_part_of_the_lecture_it_follows() {
    for lesson in lessons() {
        let text = std::fs::read_to_string(&lesson).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(
            header.iter().any(|line| line.starts_with("# Lecture: ")),
            "{} has no '# Lecture:' line in its header",
            lesson.display()
        );
    }
}

#[test]
fn the_readme_leads_through_the_lessons_in_order_and_names_the_examples() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let mut at = 0;
    for lesson in lessons() {
        let name = file_name(&lesson);
        let found = readme[at..].find(&format!("`{name}`"));
        let found = found.unwrap_or_else(|| panic!("README.md lacks {name}, or out of order"));
        at += found + name.len();
    }
    for entry in std::fs::read_dir(repo("scripts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sock") {
            let name = file_name(&path);
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md lacks {name}"
            );
        }
    }
}

#[test]
fn a_lesson_run_with_comments_reads_as_the_lesson() {
    let path = "scripts/lessons/04-echo.sock";
    let lesson = std::fs::read_to_string(repo(path)).unwrap();
    let stdout = transcript(&["--stable", "run", "--comments", path]);
    // Every comment line, in order, with the commands between them.
    let shown: Vec<&str> = stdout.lines().collect();
    let mut at = 0;
    for comment in lesson.lines().filter(|l| l.starts_with('#')) {
        let found = shown[at..].iter().position(|line| *line == comment);
        let found = found.unwrap_or_else(|| panic!("{comment:?} not shown in order:\n{stdout}"));
        at += found + 1;
    }
    assert!(stdout.contains("# The server gets ready (lesson 2).\n> socket s tcp\n"));
}

#[test]
fn the_docs_cite_their_own_sections_not_a_spec_or_an_issue() {
    // A reader has README.md and docs/, not the project's contract or its
    // issue tracker: the docs point at docs/language.md's sections.
    let mut docs = vec![repo("README.md"), repo("BENCHMARKS.md")];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        docs.push(entry.unwrap().path());
    }
    for doc in docs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(doc).unwrap();
        for (number, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let cites = words.windows(2).any(|pair| {
                let next_is_number = pair[1]
                    .trim_start_matches('§')
                    .starts_with(|c: char| c.is_ascii_digit());
                (pair[0].trim_start_matches('(') == "SPEC" || pair[0].eq_ignore_ascii_case("issue"))
                    && next_is_number
            }) || line.contains("SPEC §")
                || line.contains("(`SPEC`)");
            assert!(!cites, "{}:{}: {line}", doc.display(), number + 1);
        }
    }
}

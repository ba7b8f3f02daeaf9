//! The worked grading example of `scripts/grading/` (SPEC §14), run with
//! the very command `docs/testing.md` documents: three students' echo
//! servers graded in parallel, each on the fixed port 65432 in a network
//! namespace of its own, giving `1 passed, 2 failed`; every report format
//! is read back by a real consumer (junitparser, tap.py, serde_json).
//! Also the client-grading script against the lecture's client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `sockrepl ARGS...` from the crate root, as the docs run it.
fn sockrepl(args: &[&str]) -> Output {
    let child = Command::new(common::BIN)
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockrepl starts");
    let output = child.wait_with_output().expect("sockrepl ends");
    assert_ne!(output.status.code(), None, "sockrepl was killed");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `code` with `python3 -c` on `file`; `None` (and a note) when the
/// consumer module is missing here (`.ci/run` installs it).
fn python_consumer(module: &str, code: &str, file: &Path) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        eprintln!("skipped: the {module} check: python3 -c 'import {module}' failed (.ci/run installs it)");
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{module} rejected {}:\n{}",
        file.display(),
        text(&out.stderr)
    );
    Some(text(&out.stdout))
}

const JUNIT: &str = r#"
import sys
from junitparser import JUnitXml
for suite in JUnitXml.fromfile(sys.argv[1]):
    print("suite", suite.tests, suite.failures, suite.errors, suite.skipped)
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        print("case", case.classname, case.name, ",".join(kinds) or "passed")
"#;

const TAP: &str = r#"
import sys
from tap.parser import Parser
for line in Parser().parse_file(sys.argv[1]):
    if line.category == "version":
        print("version", line.version)
    elif line.category == "plan":
        print("plan", line.expected_tests)
    elif line.category == "test":
        print("test", line.number, line.ok, line.description)
    elif line.category == "unknown":
        print("unknown", line)
"#;

const STUDENTS: [&str; 3] = [
    "scripts/grading/students/ada/grade.sock",
    "scripts/grading/students/bob/grade.sock",
    "scripts/grading/students/cy/grade.sock",
];

#[test]
fn three_students_are_graded_in_parallel_with_valid_reports() {
    if let Err(reason) = common::can_unshare_net() {
        eprintln!("skipped: --netns needs network namespaces: {reason}");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let report = |format: &str, name: &str| {
        let path = out.path().join(name);
        format!("{format}={}", path.display())
    };
    let (gradescope, junit, tap, json) = (
        report("gradescope", "results.json"),
        report("junit", "results.xml"),
        report("tap", "results.tap"),
        report("json", "results-all.json"),
    );
    // The command of docs/testing.md, "Grading students' programs".
    let run = sockrepl(&[
        "test",
        "--netns",
        "--allow-exec",
        "--set",
        "server=echo_server.py",
        "--set",
        "port=65432",
        "--report",
        &gradescope,
        "--report",
        &junit,
        "--report",
        &tap,
        "--report",
        &json,
        "scripts/grading/students",
    ]);
    let stdout = text(&run.stdout);
    let shown = format!("{stdout}\n--- stderr\n{}", text(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{shown}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 2 failed"), "{shown}");
    // Why each failed, and the crashed server's traceback from its stderr.
    assert!(stdout.contains("got b'HELLO, WORLD'"), "{shown}");
    assert!(
        stdout.contains("but the stream ended after 0 of 12 bytes"),
        "{shown}"
    );
    assert!(stdout.contains("server| TypeError"), "{shown}");

    check_gradescope(&out.path().join("results.json"));
    check_json(&out.path().join("results-all.json"));
    if let Some(read) = python_consumer("junitparser", JUNIT, &out.path().join("results.xml")) {
        let lines: Vec<&str> = read.lines().collect();
        assert_eq!(
            lines,
            [
                "suite 3 2 0 0",
                "case scripts/grading/students/ada grade.sock passed",
                "case scripts/grading/students/bob grade.sock Failure",
                "case scripts/grading/students/cy grade.sock Failure",
            ],
            "{read}"
        );
    }
    if let Some(read) = python_consumer("tap.parser", TAP, &out.path().join("results.tap")) {
        let lines: Vec<&str> = read.lines().collect();
        assert_eq!(
            lines,
            [
                "version 14",
                "plan 3",
                &format!("test 1 True - {}", STUDENTS[0]),
                &format!("test 2 False - {}", STUDENTS[1]),
                &format!("test 3 False - {}", STUDENTS[2]),
            ],
            "{read}"
        );
    }
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Gradescope's results.json: 10 points each (`# points: 10`), earned by Ada.
fn check_gradescope(path: &Path) {
    let results = read_json(path);
    assert_eq!(results["score"], 10.0, "{results:#}");
    assert_eq!(results["output"], "1 passed, 2 failed", "{results:#}");
    let tests = results["tests"].as_array().expect("tests");
    let rows: Vec<(&str, f64, f64, &str)> = tests
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name"),
                t["score"].as_f64().expect("score"),
                t["max_score"].as_f64().expect("max_score"),
                t["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (STUDENTS[0], 10.0, 10.0, "passed"),
            (STUDENTS[1], 0.0, 10.0, "failed"),
            (STUDENTS[2], 0.0, 10.0, "failed"),
        ]
    );
    let bob = tests[1]["output"].as_str().expect("a failure's output");
    assert!(bob.contains("got b'HELLO, WORLD'"), "{bob}");
}

/// The JSON report: one object per script, failures with their lines.
fn check_json(path: &Path) {
    let entries = read_json(path);
    let entries = entries.as_array().expect("one JSON array");
    let statuses: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (STUDENTS[0], "passed"),
            (STUDENTS[1], "failed"),
            (STUDENTS[2], "failed"),
        ]
    );
    let line = entries[1]["failure_line"].as_str().expect("a failure line");
    assert!(
        line.starts_with("../../grade-echo.sock:27: expect: expected b'Hello, world'"),
        "{line}"
    );
    assert!(entries.iter().all(|e| e["time"].as_f64().is_some()));
}

#[test]
fn the_client_grading_script_passes_the_lectures_client() {
    let run = sockrepl(&[
        "--allow-exec",
        "--set",
        "client=../python/echo-client.py",
        "--stable",
        "run",
        "scripts/grading/grade-client.sock",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.ends_with("> wait client\nok: it exited with status 0\n"),
        "{stdout}"
    );
}

#[test]
fn the_client_grading_script_fails_a_client_that_sends_the_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("bad-client.py");
    std::fs::write(
        &client,
        "import socket, sys\n\
         s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
         s.sendall(b'hello world')\n",
    )
    .unwrap();
    let set = format!("client={}", client.display());
    let run = sockrepl(&[
        "--allow-exec",
        "--timeout",
        "2s",
        "--set",
        &set,
        "--stable",
        "run",
        "scripts/grading/grade-client.sock",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().last().is_some_and(|l| l.starts_with(
            "scripts/grading/grade-client.sock:20: expect: expected b'Hello, world', got b'hello world'"
        )),
        "{stdout}"
    );
}

//! The layout of `src/` stays as `docs/architecture.md` describes it.
//!
//! A command is described once, in its own file (its spec), and everything
//! else derives from the registry; a line's path runs lexer → parser →
//! session → render without a step reaching forward. These tests fail
//! when a change breaks either: a command's name written in a second
//! file, a command with no golden script or no docs section, a module that
//! imports from a later step.

use std::path::{Path, PathBuf};

use sockrepl::cmd::{specs, Scope, Slot};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every file under `dir` whose name ends with `extension`.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable folder") {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_command_name_is_written_in_one_file() {
    let sources: Vec<(PathBuf, String)> = files(&repo("src"), ".rs")
        .into_iter()
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect();
    for spec in specs() {
        let literal = format!("\"{}\"", spec.name);
        let holders: Vec<String> = sources
            .iter()
            .filter(|(_, text)| text.contains(&literal))
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert_eq!(
            holders.len(),
            1,
            "{literal} is written in {holders:?}: use the spec's name instead"
        );
    }
}

/// The commands a script line runs: its first word, and the command a
/// wrapping command (`fails [ERRNAME] COMMAND`) wraps.
fn commands_of(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(word) = words.get(at) {
        found.push(word.to_string());
        let wraps =
            sockrepl::cmd::spec(word).is_some_and(|s| s.args.first() == Some(&Slot::Wrapped));
        if !wraps {
            break;
        }
        at += 1;
        if words.get(at).is_some_and(|w| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }) {
            at += 1;
        }
    }
    found
}

#[test]
fn every_command_has_a_golden_script() {
    let used: Vec<String> = files(&repo("tests/golden"), ".sock")
        .iter()
        .flat_map(|path| {
            // Some golden scripts are deliberately not UTF-8.
            String::from_utf8_lossy(&std::fs::read(path).expect("readable script"))
                .lines()
                .flat_map(commands_of)
                .collect::<Vec<_>>()
        })
        .collect();
    for spec in specs() {
        assert!(
            used.iter().any(|name| name == spec.name),
            "no script under tests/golden/ uses {} (add one beside its kind: commands/, data/, errors/...)",
            spec.name
        );
    }
}

#[test]
fn every_command_has_a_docs_section() {
    let doc = read(&repo("docs/language.md"));
    for spec in specs() {
        let heading = format!("#### `{}`\n", spec.name);
        assert!(
            doc.contains(&heading),
            "docs/language.md has no section {heading:?}"
        );
    }
    let shell_only = specs().filter(|s| s.scope == Scope::Shell).count();
    assert!(shell_only >= 2, "the shell's own commands are specs too");
}

/// Each step of a line's path, and the modules no file of that step may
/// import: the steps after it.
const LAYERS: &[(&[&str], &[&str])] = &[
    (
        &["lexer.rs"],
        &[
            "parser", "cmd", "script", "session", "handle", "render", "interp",
        ],
    ),
    (
        &["parser.rs", "script.rs", "cmd/spec.rs"],
        &[
            "session", "handle", "wait", "bulk", "render", "interp", "repl",
        ],
    ),
    (
        &["session/", "handle.rs", "wait.rs", "bulk.rs"],
        &["render", "interp", "repl", "cmd", "script"],
    ),
    (&["render.rs"], &["interp", "repl", "cmd"]),
    (
        &["data.rs", "flag.rs", "kind.rs", "duration.rs", "suggest.rs"],
        &["parser", "cmd", "session", "render", "interp"],
    ),
];

#[test]
fn no_step_imports_a_later_one() {
    let src = repo("src");
    for path in files(&src, ".rs") {
        let relative = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let text = read(&path);
        for (members, forbidden) in LAYERS {
            if !members.iter().any(|m| relative.starts_with(m)) {
                continue;
            }
            for module in *forbidden {
                let import = format!("crate::{module}::");
                let import_whole = format!("crate::{module};");
                assert!(
                    !text.contains(&import) && !text.contains(&import_whole),
                    "src/{relative} imports {import}: a later step of a line's path"
                );
            }
        }
    }
}

//! Runs the project's golden suite (`tests/golden`) and the lesson library
//! (`scripts`) through `sockrepl --allow-exec test`, so `cargo test` fails as soon as any
//! transcript changes and stays failed until the change is blessed with
//! `sockrepl test --bless`.

use std::path::Path;

use crate::common::{self, repo, Sock};

/// The summary line must be exactly `N passed, 0 failed` or
/// `N passed, 0 failed, K skipped`; returns N.
fn passed_count(summary: &str) -> Option<usize> {
    let (passed, rest) = summary.split_once(" passed, 0 failed")?;
    let passed: usize = passed.parse().ok()?;
    let skipped_ok = rest.is_empty()
        || rest
            .strip_prefix(", ")
            .and_then(|r| r.strip_suffix(" skipped"))
            .is_some_and(|k| k.parse::<usize>().is_ok());
    skipped_ok.then_some(passed)
}

#[test]
fn every_golden_script_and_lesson_matches_its_transcript() {
    let _lessons = common::lessons_lock();
    let _core = common::cpu_heavy();
    // The suite's own scripts start programs (tests/golden/programs, a
    // lesson that spawns the lecture's server): it trusts them.
    let mut words = vec![
        "--allow-exec".to_string(),
        "test".into(),
        "tests/golden".into(),
    ];
    words.extend(suite_scripts(&repo("")));
    // Some 280 scripts: 8 s alone, far more next to the rest of the suite.
    let run = Sock::cli(words)
        .in_dir(repo(""))
        .env("NO_COLOR", "1")
        .guard(std::time::Duration::from_secs(180))
        .run();
    // all of it, not the tail run.show() keeps: every diff is worth reading
    let report = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        run.status, run.stdout, run.stderr
    );
    assert_eq!(run.status, Some(0), "{report}");
    let summary = run.last_line();
    let passed =
        passed_count(summary).unwrap_or_else(|| panic!("bad summary line {summary:?}\n{report}"));
    // The suite holds 80+ golden scripts and 12 lessons; far fewer passing
    // means scripts were lost or skipped, not that all is well.
    assert!(passed >= 90, "only {passed} scripts passed\n{report}");
}

/// Everything under `scripts/` but the grading example, whose scripts
/// grade submissions given on the command line (two of its three
/// students fail on purpose: the `grading` tests run it).
fn suite_scripts(root: &Path) -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir(root.join("scripts"))
        .expect("scripts/ is readable")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.is_dir() || path.extension().is_some_and(|e| e == "sock"))
        .filter(|path| !path.ends_with("grading"))
        .map(|path| {
            let name = path.file_name().expect("a name").to_string_lossy();
            format!("scripts/{name}")
        })
        .collect();
    paths.sort();
    paths
}

#[test]
fn the_summary_line_is_read_exactly() {
    assert_eq!(passed_count("97 passed, 0 failed"), Some(97));
    assert_eq!(passed_count("97 passed, 0 failed, 2 skipped"), Some(97));
    assert_eq!(passed_count("97 passed, 1 failed"), None);
    assert_eq!(passed_count("97 passed, 0 failed, x skipped"), None);
    assert_eq!(passed_count("97 passed, 0 failed!"), None);
}

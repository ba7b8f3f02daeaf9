//! Finding the `*.sock` scripts under the paths the user named.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// Why the paths the user named cannot be tested (a usage error, status 2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DiscoveryError {
    Missing(PathBuf),
    NotAScript(PathBuf),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(path) => write!(f, "no such file or directory: {}", path.display()),
            Self::NotAScript(path) => write!(f, "not a .sock script: {}", path.display()),
        }
    }
}

/// Every script under `roots`, sorted, each listed once, with paths spelled
/// the way the user named their root (minus `./` noise).
pub(crate) fn find_scripts(roots: &[PathBuf]) -> Result<Result<Vec<PathBuf>, DiscoveryError>> {
    let mut found = Vec::new();
    for root in roots {
        if !root.exists() {
            return Ok(Err(DiscoveryError::Missing(root.clone())));
        }
        if root.is_dir() {
            walk(root, &mut found)?;
        } else if is_script(root) {
            found.push(root.clone());
        } else {
            return Ok(Err(DiscoveryError::NotAScript(root.clone())));
        }
    }
    let mut scripts: Vec<PathBuf> = found.iter().map(|path| tidy(path)).collect();
    scripts.sort();
    // Overlapping roots (`tests tests/echo.sock`, `. ./tests`) name one file twice.
    let mut seen = HashSet::new();
    scripts.retain(|path| seen.insert(fs::canonicalize(path).unwrap_or_else(|_| path.clone())));
    Ok(Ok(scripts))
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        // file_type() does not follow symlinks, so a symlinked directory
        // (possibly a loop) is never descended into.
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if !is_ignored_dir(&entry.file_name().to_string_lossy()) {
                walk(&path, found)?;
            }
        } else if is_script(&path) && path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// Build output and hidden directories (`.git`, `.cache`) hold no tests of ours.
fn is_ignored_dir(name: &str) -> bool {
    name == "target" || name.starts_with('.')
}

fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "sock")
}

/// `./tests/./echo.sock` → `tests/echo.sock`, so reports read the same
/// whether the user typed `.` or nothing.
fn tidy(path: &Path) -> PathBuf {
    let tidied: PathBuf = path
        .components()
        .filter(|part| *part != Component::CurDir)
        .collect();
    if tidied.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, relative: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, "").expect("write");
    }

    fn relative_to(root: &Path, scripts: &[PathBuf]) -> Vec<String> {
        scripts
            .iter()
            .map(|path| {
                let path = path.strip_prefix(root).expect("under root");
                path.to_string_lossy().replace('\\', "/")
            })
            .collect()
    }

    #[test]
    fn finds_scripts_recursively_sorted_skipping_target_and_hidden_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for file in [
            "b.sock",
            "a.sock",
            "a.out",
            "notes.txt",
            "sub/deep/c.sock",
            "target/skip.sock",
            "sub/target/skip.sock",
            ".git/skip.sock",
            "sub/.hidden/skip.sock",
            "sub/.dotfile.sock",
        ] {
            touch(root, file);
        }
        let scripts = find_scripts(&[root.to_path_buf()])
            .expect("io")
            .expect("usage");
        assert_eq!(
            relative_to(root, &scripts),
            ["a.sock", "b.sock", "sub/.dotfile.sock", "sub/deep/c.sock"]
        );
    }

    #[test]
    fn a_named_root_is_walked_even_if_it_would_be_skipped_below() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), "target/t.sock");
        let scripts = find_scripts(&[dir.path().join("target")])
            .expect("io")
            .expect("usage");
        assert_eq!(scripts, [dir.path().join("target/t.sock")]);
    }

    #[test]
    fn overlapping_paths_list_each_script_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        touch(root, "tests/echo.sock");
        touch(root, "tests/zz.sock");
        let roots = [
            root.join("tests/echo.sock"),
            root.to_path_buf(),
            root.join("./tests"),
        ];
        let scripts = find_scripts(&roots).expect("io").expect("usage");
        assert_eq!(
            relative_to(root, &scripts),
            ["tests/echo.sock", "tests/zz.sock"]
        );
    }

    #[test]
    fn a_missing_path_or_a_non_script_file_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), "echo.out");
        let missing = dir.path().join("nope");
        assert_eq!(
            find_scripts(std::slice::from_ref(&missing)).expect("io"),
            Err(DiscoveryError::Missing(missing))
        );
        let out = dir.path().join("echo.out");
        assert_eq!(
            find_scripts(std::slice::from_ref(&out)).expect("io"),
            Err(DiscoveryError::NotAScript(out))
        );
    }

    #[test]
    fn tidy_drops_dot_components_only() {
        assert_eq!(tidy(Path::new("./a/./b.sock")), Path::new("a/b.sock"));
        assert_eq!(tidy(Path::new("../a/b.sock")), Path::new("../a/b.sock"));
        assert_eq!(tidy(Path::new(".")), Path::new("."));
    }
}

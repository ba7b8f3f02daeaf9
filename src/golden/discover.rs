//! Finding the `*.sock` scripts under the paths the user named.
//!
//! A folder that cannot be searched (unreadable, nested too deep) and a
//! symbolic link met on the way (to a folder or a script) become one failed
//! entry each instead of aborting the run or being followed: a submission
//! must not make the runner read, run or loop through files outside it.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Deeper folders are not searched; real test trees are a few levels deep,
/// and a path this long is still far from PATH_MAX.
pub(crate) const MAX_DEPTH: usize = 64;

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

/// One thing found: a script to run, or a path refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    Script(PathBuf),
    Refused { path: PathBuf, reason: String },
}

impl Found {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Found::Script(path) | Found::Refused { path, .. } => path,
        }
    }
}

/// Every script (and refused path) under `roots`, sorted, each listed once,
/// with paths spelled the way the user named their root (minus `./` noise).
/// Roots the user named are taken as they are, even through a link.
pub(crate) fn find_scripts(roots: &[PathBuf]) -> Result<Vec<Found>, DiscoveryError> {
    let mut found = Vec::new();
    for root in roots {
        if !root.exists() {
            return Err(DiscoveryError::Missing(root.clone()));
        }
        if root.is_dir() {
            walk(root, 0, &mut found);
        } else if is_script(root) {
            found.push(Found::Script(root.clone()));
        } else {
            return Err(DiscoveryError::NotAScript(root.clone()));
        }
    }
    let mut found: Vec<Found> = found.into_iter().map(tidy_found).collect();
    found.sort_by(|a, b| a.path().cmp(b.path()));
    // Overlapping roots (`tests tests/echo.sock`, `. ./tests`) name one file twice.
    let mut seen = HashSet::new();
    found.retain(|item| seen.insert(identity(item)));
    Ok(found)
}

/// What makes two entries one: a script's real file; a refused path's own
/// place (its real folder and its name), never what a refused link points
/// to, so two links to one folder are two entries.
fn identity(item: &Found) -> PathBuf {
    let real = |path: &Path| fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match item {
        Found::Script(path) => real(path),
        Found::Refused { path, .. } => match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => real(parent).join(name),
            _ => real(path),
        },
    }
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<Found>) {
    if depth > MAX_DEPTH {
        let reason = format!("folders nested more than {MAX_DEPTH} deep are not searched");
        return refuse(found, dir, reason);
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return refuse(found, dir, format!("cannot read this folder: {err}")),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => return refuse(found, dir, format!("cannot read this folder: {err}")),
        };
        let path = entry.path();
        let ignored = is_ignored_dir(&entry.file_name().to_string_lossy());
        // file_type() does not follow symlinks.
        match entry.file_type() {
            Ok(kind) if kind.is_dir() && !ignored => walk(&path, depth + 1, found),
            Ok(kind) if kind.is_symlink() => refuse_link(found, &path, ignored),
            Ok(kind) if kind.is_file() && is_script(&path) => found.push(Found::Script(path)),
            Ok(_) => {}
            Err(err) => refuse(found, &path, format!("cannot tell what this is: {err}")),
        }
    }
}

/// A link to a folder or a script is reported, never followed; other links
/// (and links to folders that would be skipped anyway) are no tests.
fn refuse_link(found: &mut Vec<Found>, path: &Path, ignored: bool) {
    let to_dir = fs::metadata(path).is_ok_and(|meta| meta.is_dir());
    if to_dir && !ignored {
        let reason = "a symbolic link to a folder: not followed (name the folder itself)";
        refuse(found, path, reason.to_owned());
    } else if !to_dir && is_script(path) {
        let reason = "a symbolic link: not run (name it on the command line to run it)";
        refuse(found, path, reason.to_owned());
    }
}

fn refuse(found: &mut Vec<Found>, path: &Path, reason: String) {
    found.push(Found::Refused {
        path: path.to_path_buf(),
        reason,
    });
}

/// Folders that hold no tests: git's own (`.git`) and cargo's build
/// output (`target`). Every other folder is searched, hidden ones too
/// (`.hidden/x.sock` is a `*.sock` under the path, SPEC §8).
fn is_ignored_dir(name: &str) -> bool {
    name == "target" || name == ".git"
}

fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "sock")
}

fn tidy_found(item: Found) -> Found {
    match item {
        Found::Script(path) => Found::Script(tidy(&path)),
        Found::Refused { path, reason } => Found::Refused {
            path: tidy(&path),
            reason,
        },
    }
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

    fn relative_to(root: &Path, found: &[Found]) -> Vec<String> {
        found
            .iter()
            .map(|item| {
                let path = item.path().strip_prefix(root).expect("under root");
                let path = path.to_string_lossy().replace('\\', "/");
                match item {
                    Found::Script(_) => path,
                    Found::Refused { reason, .. } => format!("{path} refused: {reason}"),
                }
            })
            .collect()
    }

    fn scripts_under(roots: &[PathBuf]) -> Vec<Found> {
        find_scripts(roots).expect("no usage error")
    }

    #[test]
    fn finds_scripts_recursively_sorted_in_hidden_dirs_too_skipping_git_and_target() {
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
            "sub/.git/skip.sock",
            ".hidden/h.sock",
            "sub/.hidden/deeper/h.sock",
            "sub/.dotfile.sock",
        ] {
            touch(root, file);
        }
        let found = scripts_under(&[root.to_path_buf()]);
        assert_eq!(
            relative_to(root, &found),
            [
                ".hidden/h.sock",
                "a.sock",
                "b.sock",
                "sub/.dotfile.sock",
                "sub/.hidden/deeper/h.sock",
                "sub/deep/c.sock"
            ]
        );
    }

    #[test]
    fn a_named_root_is_walked_even_if_it_would_be_skipped_below() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), "target/t.sock");
        let found = scripts_under(&[dir.path().join("target")]);
        assert_eq!(found, [Found::Script(dir.path().join("target/t.sock"))]);
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
        assert_eq!(
            relative_to(root, &scripts_under(&roots)),
            ["tests/echo.sock", "tests/zz.sock"]
        );
    }

    #[test]
    fn a_missing_path_or_a_non_script_file_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), "echo.out");
        let missing = dir.path().join("nope");
        assert_eq!(
            find_scripts(std::slice::from_ref(&missing)),
            Err(DiscoveryError::Missing(missing))
        );
        let out = dir.path().join("echo.out");
        assert_eq!(
            find_scripts(std::slice::from_ref(&out)),
            Err(DiscoveryError::NotAScript(out))
        );
    }

    #[test]
    fn links_to_folders_and_scripts_are_refused_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        touch(root, "real/a.sock");
        touch(root, "elsewhere/secret.sock");
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(root.join(target), root.join(name)).expect("symlink");
        };
        link("elsewhere", "real/loop");
        link("elsewhere/secret.sock", "real/b.sock");
        link("elsewhere", "real/.hidden-link");
        link("elsewhere", "real/loop2");
        link("elsewhere", "real/.git");
        link("elsewhere/secret.sock", "real/notes.txt");
        assert_eq!(
            relative_to(root, &scripts_under(&[root.join("real")])),
            [
                "real/.hidden-link refused: a symbolic link to a folder: not followed (name the folder itself)",
                "real/a.sock",
                "real/b.sock refused: a symbolic link: not run (name it on the command line to run it)",
                "real/loop refused: a symbolic link to a folder: not followed (name the folder itself)",
                "real/loop2 refused: a symbolic link to a folder: not followed (name the folder itself)",
            ]
        );
        // Named on the command line, a link is the user's own choice.
        assert_eq!(
            scripts_under(&[root.join("real/loop")]),
            [Found::Script(root.join("real/loop/secret.sock"))]
        );
    }

    #[test]
    fn a_folder_too_deep_is_one_refused_entry_and_the_rest_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        touch(root, "a.sock");
        let deep: PathBuf = std::iter::repeat_n("d", MAX_DEPTH + 5).collect();
        touch(root, &deep.join("lost.sock").to_string_lossy());
        let found = scripts_under(&[root.to_path_buf()]);
        let too_deep: PathBuf = std::iter::repeat_n("d", MAX_DEPTH + 1).collect();
        assert_eq!(
            found,
            [
                Found::Script(root.join("a.sock")),
                Found::Refused {
                    path: root.join(too_deep),
                    reason: format!("folders nested more than {MAX_DEPTH} deep are not searched"),
                },
            ]
        );
    }

    #[test]
    fn tidy_drops_dot_components_only() {
        assert_eq!(tidy(Path::new("./a/./b.sock")), Path::new("a/b.sock"));
        assert_eq!(tidy(Path::new("../a/b.sock")), Path::new("../a/b.sock"));
        assert_eq!(tidy(Path::new(".")), Path::new("."));
    }
}

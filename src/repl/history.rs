//! Where the shell keeps its history between sessions: the XDG state
//! directory, `$XDG_STATE_HOME/sockrepl/history` or
//! `~/.local/state/sockrepl/history`, readable by its owner only.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

/// The history file's path; `None` when neither variable says where home is.
pub fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| PathBuf::from(dir).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("sockrepl").join("history"))
}

/// Makes the directory and an empty file with mode 0600 if there is none,
/// and tightens the mode of one that exists.
pub fn prepare(path: &std::path::Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

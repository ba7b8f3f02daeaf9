//! Reading and writing `.out` files without following symbolic links.
//!
//! A submission could ship `echo.out -> /etc/shadow` (the diff would show
//! the file) or `echo.out -> ~/.bashrc` (`--bless` would overwrite it). So
//! an `.out` must be a regular file: it is opened with `O_NOFOLLOW`, and a
//! blessed one is written to a new file beside it and renamed over it,
//! which replaces a directory entry and never writes through a link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::child::CAPTURE_LIMIT;
use crate::errors::file_error;

/// The expected transcript at `path`, `None` when there is none; an error
/// (said as a reason) when it is a link, not a regular file, or too big to
/// ever match a transcript.
pub(crate) fn read_expected(path: &Path) -> Result<Option<Vec<u8>>, String> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => return Err(link_refused(path)),
        Err(err) => return Err(file_error("read", path, &err)),
    };
    check_regular(&file, path)?;
    let mut bytes = Vec::new();
    let limit = CAPTURE_LIMIT as u64;
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| file_error("read", path, &err))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{} is larger than {} MiB, the most a transcript may hold",
            path.display(),
            CAPTURE_LIMIT >> 20
        ));
    }
    Ok(Some(bytes))
}

fn check_regular(file: &File, path: &Path) -> Result<(), String> {
    let kind = file
        .metadata()
        .map_err(|err| file_error("read", path, &err))?
        .file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else {
        "not a regular file"
    };
    Err(format!("{} is {what}: refused", path.display()))
}

fn link_refused(path: &Path) -> String {
    format!(
        "{} is a symbolic link: refused (an .out must be a regular file)",
        path.display()
    )
}

/// Writes `bytes` as the `.out` at `path`: to a new file in the same
/// folder first, then renamed into place, so a reader never sees half a
/// transcript and a link at `path` is refused, never written through.
pub(crate) fn write_blessed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(link_refused(path)),
        Ok(meta) if !meta.is_file() => {
            return Err(format!("{} is not a regular file: refused", path.display()))
        }
        _ => {}
    }
    let temporary = temporary_beside(path);
    let written = write_new(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    written.map_err(|err| {
        let _ = fs::remove_file(&temporary);
        file_error("write", path, &err)
    })
}

/// A hidden name beside `path`, unique to this process and call.
fn temporary_beside(path: &Path) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.bless-{}-{unique}", std::process::id()))
}

/// Creates `path` (never an existing file, never through a link).
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_missing_out_is_none_and_a_present_one_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.out");
        assert_eq!(read_expected(&out), Ok(None));
        fs::write(&out, "> a\n").expect("write");
        assert_eq!(read_expected(&out), Ok(Some(b"> a\n".to_vec())));
    }

    #[test]
    fn a_linked_out_is_refused_for_reading_and_for_blessing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        fs::write(&secret, "do not show or overwrite").expect("write");
        let out = dir.path().join("x.out");
        symlink(&secret, &out).expect("symlink");
        let refused = read_expected(&out).expect_err("a link");
        assert!(
            refused.contains("x.out is a symbolic link: refused"),
            "{refused}"
        );
        let refused = write_blessed(&out, b"new").expect_err("a link");
        assert!(refused.contains("symbolic link"), "{refused}");
        assert_eq!(
            fs::read(&secret).expect("read"),
            b"do not show or overwrite"
        );
        let left: Vec<_> = fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(left.len(), 2, "no temporary file left behind");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.out");
        nix::unistd::mkfifo(&out, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let refused = read_expected(&out).expect_err("a FIFO");
        assert!(refused.ends_with("x.out is a FIFO: refused"), "{refused}");
    }

    #[test]
    fn blessing_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.out");
        write_blessed(&out, b"first\n").expect("new");
        write_blessed(&out, b"second\n").expect("changed");
        assert_eq!(fs::read(&out).expect("read"), b"second\n");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}

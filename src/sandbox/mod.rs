//! `--sandbox`: a script the teacher did not write, run so that it can
//! harm nothing outside its own test tree.
//!
//! `sockrepl test` runs a hundred students' scripts as the teacher; any of
//! them could read `/etc/shadow` into its transcript, overwrite another
//! student's `.out`, mail `${env.GRADER_TOKEN}` to the world or eat the
//! memory. Under `--sandbox` each script runs in a process that
//!
//! - has a network namespace of its own with only loopback (SPEC §14's
//!   `--netns`), owned by a user namespace, so even a teacher running as
//!   root hands the script no global privilege;
//! - may read only the test tree and the system files a run needs, and
//!   write only under its own `${tmp}` (Landlock: [`rules`]); the commands
//!   check their paths first, so a refusal reads as a sentence, not EACCES;
//! - sees only the environment variables named with `--pass-env`;
//! - has limits on memory, CPU time, processes and descriptors
//!   ([`limits`]), and going over one ends it with a clear failure.
//!
//! Programs it spawns inherit all of it. A supervising parent, outside the
//! sandbox, removes `${tmp}` afterwards and explains a run the kernel
//! killed ([`supervise`]). Where the kernel lacks Landlock or namespaces,
//! `--sandbox` refuses to run and says why: never silently unsandboxed.

pub mod limits;
mod rules;
mod supervise;

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use crate::errors::Failure;
pub use limits::Limits;

/// What a sandboxed run may touch.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Folders the script may read (the test tree): `--sandbox-read`, or
    /// the script's own folder.
    pub trees: Vec<PathBuf>,
    /// `--pass-env NAME`: the only environment variables it sees.
    pub pass_env: Vec<String>,
    pub limits: Limits,
}

/// The places of the running sandbox, for the commands' own checks.
struct Places {
    trees: Vec<PathBuf>,
    tmp: PathBuf,
}

static PLACES: OnceLock<Places> = OnceLock::new();

/// Enters the sandbox: in the child this returns `Ok(None)` and the run
/// goes on inside; in the supervising parent, `Ok(Some(status))` once the
/// child has ended. Must run before any thread or socket is made.
pub fn enter(config: &Config) -> Result<Option<i32>, String> {
    rules::check_supported()?;
    if crate::netns::thread_count() > 1 {
        return Err("it must be entered before any thread starts".into());
    }
    let tmp = make_tmp()?;
    let trees = config
        .trees
        .iter()
        .map(|tree| {
            tree.canonicalize()
                .map_err(|e| format!("{}: {e}", tree.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(status) = supervise::fork(&tmp, &config.limits)? {
        return Ok(Some(status));
    }
    if nix::unistd::geteuid().is_root() {
        eprintln!(
            "sockrepl: --sandbox: Linux does not apply the process limit to root (RLIMIT_NPROC); \
             run as a normal user for it to hold"
        );
    }
    crate::netns::enter_owning_user_namespace().map_err(|e| e.to_string())?;
    keep_only_env(&config.pass_env);
    config.limits.apply()?;
    rules::restrict(&trees, &tmp)?;
    let _ = PLACES.set(Places { trees, tmp });
    Ok(None)
}

/// Whether this process runs sandboxed.
pub fn active() -> bool {
    PLACES.get().is_some()
}

/// The sandbox's `${tmp}`, made before Landlock was applied.
pub fn tmp_dir() -> Option<PathBuf> {
    PLACES.get().map(|places| places.tmp.clone())
}

/// A private folder for `${tmp}` (mode 0700, a new name).
fn make_tmp() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    for n in 0..1000 {
        let dir = std::env::temp_dir().join(format!("sockrepl-{}-sandbox-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(crate::errors::file_error("create", &dir, &e)),
        }
    }
    Err("no free name for ${tmp}".into())
}

/// Clears the environment but for `--pass-env` names and `PATH` (which
/// finds programs, and which `${env.PATH}` still cannot read unless passed).
fn keep_only_env(pass: &[String]) {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name != "PATH" && !pass.contains(name))
        .collect();
    for name in names {
        // SAFETY: no other thread runs yet (checked in `enter`).
        unsafe { std::env::remove_var(name) };
    }
    crate::lexer::pass_only_env(pass.to_vec());
}

/// What a command wants to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read a file (`--file`, `source`).
    Read,
    /// Create or write one (`--into`, `bind` of a Unix path).
    Write,
    /// Reach a Unix socket at a path (`connect`, `sendto`).
    Reach,
}

/// Fails, saying why, when the sandbox forbids this use of `path`;
/// outside a sandbox every path is allowed (the kernel decides).
pub fn check(path: &Path, purpose: Use) -> Result<(), Failure> {
    let Some(places) = PLACES.get() else {
        return Ok(());
    };
    let full = resolved(path);
    let in_tmp = full.starts_with(&places.tmp);
    let in_tree = places.trees.iter().any(|tree| full.starts_with(tree));
    let (allowed, where_) = match purpose {
        Use::Write => (in_tmp, "under ${tmp}"),
        Use::Read | Use::Reach => (in_tmp || in_tree, "in the test tree or under ${tmp}"),
    };
    if allowed {
        return Ok(());
    }
    let verb = match purpose {
        Use::Read => "reads",
        Use::Write => "writes",
        Use::Reach => "reaches Unix sockets",
    };
    Err(Failure::usage(format!(
        "--sandbox: {} is outside what this script may use: a sandboxed script {verb} only {where_}",
        crate::data::printable(path.as_os_str().as_encoded_bytes())
    )))
}

/// The path as the kernel would find it: links resolved where it exists,
/// else its folder's, else `..` and `.` taken away by hand.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::env::current_dir().unwrap_or_default().join(path);
    if let Ok(real) = absolute.canonicalize() {
        return real;
    }
    let normal = normalize(&absolute);
    match (normal.parent(), normal.file_name()) {
        (Some(dir), Some(name)) => match dir.canonicalize() {
            Ok(dir) => dir.join(name),
            Err(_) => normal,
        },
        _ => normal,
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

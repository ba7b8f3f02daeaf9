//! The Landlock rules of `--sandbox`: which files a sandboxed script, and
//! every program it starts, may open.
//!
//! Reading: the test tree, and the least a run needs of the system: the
//! libraries (for programs it spawns, and the resolver's modules), the
//! few files of /etc that name lookup and TLS read, /dev/null and the
//! random devices, this process's /proc/self/net (the `sockets` table).
//! Not /etc as a whole (/etc/shadow), not /proc (other processes'
//! environments), not /home. Writing: only under its own `${tmp}`.
//! Scoped (ABI 6): no signal to a process outside the sandbox, no
//! abstract Unix socket made outside it.

use landlock::{
    path_beneath_rules, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::path::{Path, PathBuf};

/// The newest ABI asked for; older kernels enforce what they know of it.
const ABI_WANTED: ABI = ABI::V10;

/// Folders of programs and libraries: read and run.
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"];

/// Files and folders a run reads: name lookup, TLS roots, the loader's cache.
const SYSTEM_FILES: &[&str] = &[
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/proc/self/net",
];

/// Fails, saying why, when this kernel has no Landlock at all.
pub fn check_supported() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|ruleset| ruleset.create())
        .map(drop)
        .map_err(|e| {
            format!("this kernel does not enforce Landlock ({e}): it needs Linux 5.13 or newer with Landlock enabled (lsm=landlock)")
        })
}

/// Applies the rules to this process and every program it starts.
pub fn restrict(trees: &[PathBuf], tmp: &Path) -> Result<(), String> {
    let read = AccessFs::from_read(ABI_WANTED);
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.scope(Scope::from_all(ABI_WANTED)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(SYSTEM_DIRS, read)))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                SYSTEM_FILES,
                AccessFs::ReadFile | AccessFs::ReadDir,
            ))
        })
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                ["/dev/null"],
                AccessFs::ReadFile | AccessFs::WriteFile,
            ))
        })
        .and_then(|r| r.add_rules(path_beneath_rules(trees, read)))
        .and_then(|r| r.add_rules(path_beneath_rules([tmp], AccessFs::from_all(ABI_WANTED))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("cannot apply its Landlock rules: {e}"))?;
    match status.ruleset {
        RulesetStatus::NotEnforced => Err("the kernel did not enforce its Landlock rules".into()),
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
    }
}

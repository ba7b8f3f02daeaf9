//! Why a namespace could not be made, in terms a user can act on.
//!
//! The kernel only says EPERM or ENOSPC; which setting caused it lives in
//! sysctls and `/proc/self/status`. They are read once, after a failure,
//! into [`Settings`], and [`reasons`] turns them into sentences that name
//! the setting and how to change it. Reading and judging are apart so the
//! judging can be tested with made-up settings.

use nix::errno::Errno;
use std::fs;

/// What the kernel and our own status say about namespace creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub euid_is_root: bool,
    /// CAP_SYS_ADMIN in our effective set (what CLONE_NEWNET needs).
    pub has_sys_admin: bool,
    /// `kernel.unprivileged_userns_clone` (Debian/Ubuntu kernels only).
    pub unprivileged_userns_clone: Option<u64>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// `user.max_net_namespaces`.
    pub max_net_namespaces: Option<u64>,
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+).
    pub apparmor_restrict_unprivileged_userns: Option<u64>,
    /// The `Seccomp:` mode in `/proc/self/status` (2: a filter is active).
    pub seccomp_mode: Option<u64>,
    /// Whether `/proc/self/status` could be read at all (not in a chroot
    /// without `/proc`, where the kernel also refuses user namespaces).
    pub proc_visible: bool,
    /// Whether `/proc/self` files are ours to write (they are not after a
    /// setuid that left the process non-dumpable).
    pub dumpable: bool,
}

const CAP_SYS_ADMIN: u32 = 21;

impl Settings {
    /// Reads the settings of this machine and process.
    pub fn read() -> Settings {
        let status = fs::read_to_string("/proc/self/status");
        let proc_visible = status.is_ok();
        let status = status.unwrap_or_default();
        Settings {
            proc_visible,
            euid_is_root: nix::unistd::geteuid().is_root(),
            has_sys_admin: status_field(&status, "CapEff:")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0),
            unprivileged_userns_clone: sysctl("kernel/unprivileged_userns_clone"),
            max_user_namespaces: sysctl("user/max_user_namespaces"),
            max_net_namespaces: sysctl("user/max_net_namespaces"),
            apparmor_restrict_unprivileged_userns: sysctl(
                "kernel/apparmor_restrict_unprivileged_userns",
            ),
            seccomp_mode: status_field(&status, "Seccomp:").and_then(|v| v.parse().ok()),
            dumpable: nix::sys::prctl::get_dumpable().unwrap_or(true),
        }
    }
}

/// A numeric sysctl under /proc/sys; `None` when this kernel lacks it.
fn sysctl(name: &str) -> Option<u64> {
    fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn status_field<'a>(status: &'a str, label: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map(str::trim)
}

/// The step that failed, which decides which settings can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `unshare(CLONE_NEWNET)` as root.
    NetNamespace,
    /// `unshare(CLONE_NEWUSER | CLONE_NEWNET)`.
    UserNamespace,
    /// Writing `/proc/self/uid_map`, `setgroups` or `gid_map`.
    IdMap,
    /// Bringing `lo` up inside the new namespace.
    Loopback,
}

/// Every setting that explains `errno` at `step`, most likely first; never
/// empty (a last sentence lists what to check when nothing matched).
pub fn reasons(step: Step, errno: Errno, settings: &Settings) -> Vec<String> {
    let mut found = Vec::new();
    match errno {
        Errno::ENOSPC | Errno::EUSERS => limit_reasons(settings, &mut found),
        Errno::ENOSYS => found.push(
            "this kernel has no namespaces (built without CONFIG_USER_NS / CONFIG_NET_NS)".into(),
        ),
        _ => permission_reasons(step, settings, &mut found),
    }
    if found.is_empty() {
        found.push(
            "no setting found that explains it: check kernel.unprivileged_userns_clone, \
             user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns, and any \
             seccomp or security-module policy of the container or service manager"
                .into(),
        );
    }
    found
}

fn limit_reasons(settings: &Settings, found: &mut Vec<String>) {
    for (name, value) in [
        ("user.max_user_namespaces", settings.max_user_namespaces),
        ("user.max_net_namespaces", settings.max_net_namespaces),
    ] {
        match value {
            Some(0) => found.push(format!(
                "{name}=0 forbids them (sysctl -w {name}=10000 allows them)"
            )),
            Some(n) => found.push(format!(
                "the limit {name}={n} may be reached (namespaces still in use count)"
            )),
            None => {}
        }
    }
}

fn permission_reasons(step: Step, settings: &Settings, found: &mut Vec<String>) {
    let unprivileged = !settings.euid_is_root;
    if !settings.proc_visible {
        found.push(
            "/proc is not mounted here: inside a chroot, the kernel refuses user namespaces \
             (run sockrepl outside the chroot, or as root)"
                .into(),
        );
    }
    if step == Step::IdMap && !settings.dumpable {
        found.push(
            "this process is not dumpable (it changed uid), so /proc/self/uid_map is not \
             ours to write: prctl(PR_SET_DUMPABLE, 1) first"
                .into(),
        );
    }
    if unprivileged && settings.unprivileged_userns_clone == Some(0) {
        found.push(
            "kernel.unprivileged_userns_clone=0 forbids user namespaces to users other than \
             root (sysctl -w kernel.unprivileged_userns_clone=1, or run as root)"
                .into(),
        );
    }
    if settings.max_user_namespaces == Some(0) {
        found.push(
            "user.max_user_namespaces=0 forbids user namespaces \
             (sysctl -w user.max_user_namespaces=10000)"
                .into(),
        );
    }
    if unprivileged && settings.apparmor_restrict_unprivileged_userns == Some(1) {
        found.push(
            "kernel.apparmor_restrict_unprivileged_userns=1: AppArmor takes every capability \
             away inside an unprivileged user namespace (sysctl -w \
             kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for \
             sockrepl that allows userns, or run as root)"
                .into(),
        );
    }
    if settings.seccomp_mode == Some(2) {
        found.push(
            "a seccomp filter is active (Seccomp: 2 in /proc/self/status), as container \
             runtimes install by default, and it may forbid unshare: run the container with \
             --security-opt seccomp=unconfined or --privileged"
                .into(),
        );
    }
    if step == Step::NetNamespace && settings.euid_is_root && !settings.has_sys_admin {
        found.push(
            "root here lacks CAP_SYS_ADMIN (a container without --cap-add SYS_ADMIN?)".into(),
        );
    }
}

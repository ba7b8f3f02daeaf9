//! `--netns` checked for real, each case in a forked child (see `forked`).

use super::forked::in_child;
use super::*;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use nix::unistd::{Gid, Uid};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const LECTURE_PORT: u16 = 65432;

/// What a script relies on inside: only `lo`, up, and both loopback
/// addresses usable on the fixed port.
fn check_inside() -> Result<String, String> {
    let names: Vec<String> = nix::net::if_::if_nameindex()
        .map_err(|e| format!("if_nameindex: {e}"))?
        .iter()
        .map(|i| i.name().to_string_lossy().into_owned())
        .collect();
    if names != ["lo"] {
        return Err(format!("interfaces inside: {names:?}"));
    }
    if !loopback::is_up("lo").map_err(|e| format!("SIOCGIFFLAGS: {e}"))? {
        return Err("lo is down".into());
    }
    round_trip("127.0.0.1:65432")?;
    round_trip("[::1]:65432")?;
    Ok(String::new())
}

/// Listens on `addr`, connects to it, and moves one byte across.
fn round_trip(addr: &str) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let mut client = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut server, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    client.write_all(b"x").map_err(|e| e.to_string())?;
    let mut byte = [0u8];
    server.read_exact(&mut byte).map_err(|e| e.to_string())?;
    Ok(())
}

/// Enters, checks the inside, and checks the host's listener is out of reach.
fn enter_and_check(host_port: u16) -> Result<String, String> {
    let entered = enter().map_err(|e| e.to_string())?;
    check_inside()?;
    let host = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    match TcpStream::connect_timeout(&host, Duration::from_secs(2)) {
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
        other => return Err(format!("the host's listener answered inside: {other:?}")),
    }
    Ok(format!(
        "{} {}",
        entered.through_user_namespace,
        entered.took.as_micros()
    ))
}

#[test]
fn a_new_namespace_has_only_loopback_up_and_cannot_reach_the_host() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let report = in_child(|| enter_and_check(port)).unwrap();
    let root = geteuid().is_root();
    // Root makes a bare network namespace; anyone else needs a user one.
    assert!(
        report.starts_with(if root { "false " } else { "true " }),
        "{report}"
    );
}

#[test]
fn an_unprivileged_user_gets_one_through_a_user_namespace() {
    if !geteuid().is_root() {
        return; // cannot change uid; the test above already ran unprivileged
    }
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let report = in_child(|| {
        become_nobody()?;
        match enter_and_check(port) {
            Ok(report) => {
                open_packet_socket()?;
                Ok(report)
            }
            // Not allowed here: then the message must name the setting.
            Err(message) if names_a_cause(&message) => Ok(format!("refused {message}")),
            Err(message) => Err(message),
        }
    })
    .unwrap();
    assert!(
        report.starts_with("true ") || report.starts_with("refused "),
        "{report}"
    );
}

/// Drops root as a real user is: uid and gid 65534, no groups. The
/// process stays dumpable, as one that never was root would be.
fn become_nobody() -> Result<(), String> {
    let nobody = 65534;
    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(Gid::from_raw(nobody)).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(Uid::from_raw(nobody)).map_err(|e| format!("setuid: {e}"))?;
    nix::sys::prctl::set_dumpable(true).map_err(|e| format!("set_dumpable: {e}"))
}

/// `trace` needs AF_PACKET; root in the namespace's owner may open one.
fn open_packet_socket() -> Result<(), String> {
    socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map(drop)
    .map_err(|e| format!("AF_PACKET socket inside: {e}"))
}

fn names_a_cause(message: &str) -> bool {
    [
        "kernel.unprivileged_userns_clone",
        "user.max_user_namespaces",
        "kernel.apparmor_restrict_unprivileged_userns",
        "seccomp",
    ]
    .iter()
    .any(|name| message.contains(name))
}

#[test]
fn a_real_refusal_names_the_step_and_what_to_check() {
    if !geteuid().is_root() {
        return; // chroot needs root
    }
    // The kernel refuses CLONE_NEWUSER inside a chroot: a refusal we can
    // cause without touching any machine-wide setting.
    let jail = tempfile::tempdir().unwrap();
    let error = in_child(|| {
        nix::unistd::chroot(jail.path()).map_err(|e| format!("chroot: {e}"))?;
        become_nobody()?;
        enter().map(|_| "entered".into()).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(
        error.contains("unshare(CLONE_NEWUSER|CLONE_NEWNET): EPERM"),
        "{error}"
    );
    assert!(error.contains("chroot"), "{error}");
}

#[test]
fn two_namespaces_use_the_lecture_port_at_the_same_time() {
    let hold_and_check = || {
        in_child(|| {
            enter().map_err(|e| e.to_string())?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, LECTURE_PORT));
            let listener = TcpListener::bind(addr).map_err(|e| format!("bind: {e}"))?;
            std::thread::sleep(Duration::from_millis(200));
            TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
            drop(listener);
            Ok(String::new())
        })
    };
    let other = std::thread::spawn(hold_and_check);
    let mine = hold_and_check();
    assert_eq!(mine, Ok(String::new()));
    assert_eq!(other.join().unwrap(), Ok(String::new()));
}

#[test]
fn a_multithreaded_process_is_refused_before_anything_changes() {
    // The harness runs this test on a thread of its own, so there are at
    // least two; if not, entering would move the harness: do nothing then.
    if thread_count() < 2 {
        return;
    }
    let error = enter().unwrap_err();
    assert!(matches!(error, NetnsError::Threads { .. }), "{error}");
    assert!(error.to_string().contains("before any thread starts"));
}

fn unprivileged() -> Settings {
    Settings {
        proc_visible: true,
        dumpable: true,
        max_user_namespaces: Some(1000),
        ..Settings::default()
    }
}

#[test]
fn each_forbidding_setting_is_named() {
    let cases = [
        (
            Settings {
                unprivileged_userns_clone: Some(0),
                ..unprivileged()
            },
            "kernel.unprivileged_userns_clone=0",
        ),
        (
            Settings {
                max_user_namespaces: Some(0),
                ..unprivileged()
            },
            "user.max_user_namespaces=0",
        ),
        (
            Settings {
                apparmor_restrict_unprivileged_userns: Some(1),
                ..unprivileged()
            },
            "kernel.apparmor_restrict_unprivileged_userns=1",
        ),
        (
            Settings {
                seccomp_mode: Some(2),
                ..unprivileged()
            },
            "seccomp",
        ),
    ];
    for (settings, name) in cases {
        let found = reasons(Step::UserNamespace, Errno::EPERM, &settings).join("; ");
        assert!(found.contains(name), "{name} not in: {found}");
    }
}

#[test]
fn limits_explain_enospc_and_root_is_not_blamed_on_user_settings() {
    let limit = Settings {
        max_user_namespaces: Some(0),
        ..unprivileged()
    };
    let found = reasons(Step::UserNamespace, Errno::ENOSPC, &limit).join("; ");
    assert!(found.contains("user.max_user_namespaces=0"), "{found}");

    let root_in_container = Settings {
        euid_is_root: true,
        unprivileged_userns_clone: Some(0),
        ..unprivileged()
    };
    let found = reasons(Step::NetNamespace, Errno::EPERM, &root_in_container).join("; ");
    assert!(found.contains("CAP_SYS_ADMIN"), "{found}");
    assert!(!found.contains("unprivileged_userns_clone"), "{found}");
}

#[test]
fn an_unexplained_refusal_still_lists_what_to_check() {
    let found = reasons(Step::UserNamespace, Errno::EPERM, &unprivileged());
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("kernel.unprivileged_userns_clone"));
    let error = NetnsError::Failed {
        step: Step::UserNamespace,
        errno: Errno::EPERM,
        reasons: found,
    };
    let text = error.to_string();
    assert!(
        text.contains("unshare(CLONE_NEWUSER|CLONE_NEWNET): EPERM"),
        "{text}"
    );
}

/// Not a check: how long entering takes, for the `test --netns` budget.
/// `cargo test --release netns_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn netns_cost() {
    let rounds = 50;
    for unprivileged in [false, true] {
        let mut took = Vec::new();
        let started = Instant::now();
        for _ in 0..rounds {
            let report = in_child(|| {
                if unprivileged {
                    become_nobody()?;
                }
                let entered = enter().map_err(|e| e.to_string())?;
                Ok(entered.took.as_micros().to_string())
            })
            .unwrap();
            took.push(report.parse::<u64>().unwrap());
        }
        let per_child = started.elapsed() / rounds;
        took.sort_unstable();
        println!(
            "enter (user namespace: {unprivileged}): median {} µs, max {} µs; fork+enter+exit {:?} per round",
            took[took.len() / 2],
            took[took.len() - 1],
            per_child
        );
    }
    let started = Instant::now();
    for _ in 0..rounds {
        in_child(|| Ok(String::new())).unwrap();
    }
    println!(
        "fork+exit alone: {:?} per round",
        started.elapsed() / rounds
    );
}

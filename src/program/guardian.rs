//! A watchdog for the one ending no handler sees: `kill -9` of sockrepl.
//!
//! PR_SET_PDEATHSIG kills a program we started when we die, but not what
//! that program forked (`sh -c 'server &'`): those are orphaned to init
//! and would outlive the session. So, at the first spawn, sockrepl forks a
//! guardian: a process in a group of its own that holds only the read end
//! of a pipe. Every group sockrepl starts or forgets is written to the
//! pipe (4 bytes: the group id, negated when forgotten). When sockrepl
//! ends, however it ends, the kernel closes the write end; the guardian
//! reads end of file, sends SIGKILL to every group still listed, and
//! exits. On a normal ending the list is empty and it just exits.
//!
//! The guardian runs between `fork` and `_exit` with raw system calls
//! only (no allocation, no lock), because sockrepl may have threads.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::unistd::Pid;

use super::registry::MAX_GROUPS;

/// The write end of the pipe to the guardian; -1 until it runs (or when
/// it could not be started: PR_SET_PDEATHSIG still covers the programs).
static TO_GUARDIAN: AtomicI32 = AtomicI32::new(-1);
/// The process the guardian watches: a forked copy of sockrepl (a test
/// that plays a session) needs a guardian of its own.
static WATCHED: AtomicI32 = AtomicI32::new(0);

/// Tells the guardian about a new group (starting it the first time).
pub(crate) fn watch(pgid: Pid) {
    let me = std::process::id() as i32;
    if WATCHED.swap(me, Ordering::SeqCst) != me {
        let inherited = TO_GUARDIAN.swap(-1, Ordering::SeqCst);
        if inherited >= 0 {
            // SAFETY: our copy of the parent's pipe; the parent keeps its own.
            unsafe { libc::close(inherited) };
        }
        start();
    }
    send(pgid.as_raw());
}

/// Tells the guardian a group has ended and must not be signalled.
pub(crate) fn forget(pgid: Pid) {
    send(-pgid.as_raw());
}

fn send(message: i32) {
    let fd = TO_GUARDIAN.load(Ordering::SeqCst);
    if fd >= 0 {
        // A full pipe (a guardian far behind) loses the message rather
        // than blocking the session; 4 bytes are written whole or not at all.
        // SAFETY: write(2) reads 4 bytes from a live buffer.
        unsafe { libc::write(fd, message.to_ne_bytes().as_ptr().cast(), 4) };
    }
}

/// Forks the guardian and keeps the write end of its pipe.
fn start() {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child calls only async-signal-safe system calls
    // (`guard`) and leaves with _exit, so forking a threaded process is sound.
    match unsafe { libc::fork() } {
        0 => guard(read_end),
        -1 => {
            // SAFETY: closing the two descriptors just made.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
        }
        _ => {
            // SAFETY: the read end is the guardian's now.
            unsafe { libc::close(read_end) };
            // The guardian must not fill its pipe into a blocked session.
            // SAFETY: fcntl on our own descriptor.
            unsafe { libc::fcntl(write_end, libc::F_SETFL, libc::O_NONBLOCK) };
            TO_GUARDIAN.store(write_end, Ordering::SeqCst);
        }
    }
}

/// The guardian's whole life, in the forked child.
fn guard(read_end: libc::c_int) -> ! {
    // SAFETY: every call below is async-signal-safe and touches only this
    // process: its group, its descriptors, signals to the listed groups.
    unsafe {
        // Out of the session's group, so signals meant for the session
        // (Ctrl-C, the test runner's sweep) do not end the guardian too.
        libc::setpgid(0, 0);
        libc::dup2(read_end, 3);
        libc::close_range(4, libc::c_uint::MAX, 0);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        if null > 3 {
            libc::close(null);
        }
        let mut groups = [0i32; MAX_GROUPS];
        let mut count = 0;
        read_until_end(3, &mut groups, &mut count);
        for &pgid in &groups[..count] {
            libc::kill(-pgid, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}

/// How often the guardian empties its pipe while sockrepl runs: it is
/// not woken for every message (a spawn would cost two context switches),
/// only when the pipe ends, and this often to keep the pipe from filling.
const DRAIN_EVERY_MS: libc::c_int = 1000;

/// Keeps the list of groups up to date until the pipe ends.
fn read_until_end(fd: libc::c_int, groups: &mut [i32; MAX_GROUPS], count: &mut usize) {
    // SAFETY: fcntl and poll on the guardian's own descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut kept = [0u8; 4];
    let mut partial = 0; // bytes of a message cut by a read (never, in practice)
    loop {
        // No events asked: only the writer's end (POLLHUP) wakes it.
        let mut watch = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut watch, 1, DRAIN_EVERY_MS) };
        let ended = drain(fd, &mut kept, &mut partial, groups, count);
        if ended || watch.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            // Whatever the writer left is read by now (or never comes).
            drain(fd, &mut kept, &mut partial, groups, count);
            return;
        }
    }
}

/// Reads every message the pipe holds now; `true` once it has ended.
fn drain(
    fd: libc::c_int,
    kept: &mut [u8; 4],
    partial: &mut usize,
    groups: &mut [i32; MAX_GROUPS],
    count: &mut usize,
) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        buffer[..*partial].copy_from_slice(&kept[..*partial]);
        // SAFETY: read(2) writes at most the buffer's free tail.
        let n = unsafe {
            libc::read(
                fd,
                buffer[*partial..].as_mut_ptr().cast(),
                buffer.len() - *partial,
            )
        };
        match n {
            0 => return true,
            n if n < 0 => {
                // SAFETY: errno of the read just made.
                let errno = unsafe { *libc::__errno_location() };
                return errno != libc::EINTR && errno != libc::EAGAIN;
            }
            n => {
                let filled = *partial + n as usize;
                let whole = filled - filled % 4;
                for message in buffer[..whole].chunks_exact(4) {
                    let value =
                        i32::from_ne_bytes([message[0], message[1], message[2], message[3]]);
                    apply(value, groups, count);
                }
                *partial = filled - whole;
                kept[..*partial].copy_from_slice(&buffer[whole..filled]);
            }
        }
    }
}

/// Adds a group (positive) or removes one (negative).
fn apply(message: i32, groups: &mut [i32; MAX_GROUPS], count: &mut usize) {
    if message > 0 {
        if *count < groups.len() {
            groups[*count] = message;
            *count += 1;
        }
        return;
    }
    if let Some(at) = groups[..*count].iter().position(|&g| g == -message) {
        groups[at] = groups[*count - 1];
        *count -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_follows_additions_and_removals() {
        let mut groups = [0i32; MAX_GROUPS];
        let mut count = 0;
        for message in [10, 20, 30, -20, -99, 40, -10] {
            apply(message, &mut groups, &mut count);
        }
        let mut left = groups[..count].to_vec();
        left.sort_unstable();
        assert_eq!(left, [30, 40]);
    }
}

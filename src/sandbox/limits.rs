//! Resource limits of a sandboxed run: memory, CPU time, processes and
//! descriptors, and the clear failure that going over one gives.
//!
//! The kernel's limits (setrlimit) hold for the script and every program
//! it starts, but the kernel ends a process that breaks one with a signal
//! (SIGXCPU) or makes an allocation fail, which Rust turns into an abort.
//! So sockrepl watches its own use below them: every allocation is counted
//! against the memory limit ([`Counted`]), SIGXCPU is caught, and the
//! interpreter, after each command and in every wait, ends the script with
//! "over its memory limit" or "over its CPU time limit" ([`over_limit`]).
//! The kernel's limits stay as the backstop: RLIMIT_AS at twice the
//! memory limit and more, RLIMIT_CPU's hard limit 2 s after the soft one.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::errors::Failure;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of memory the interpreter may hold.
    pub memory: u64,
    pub cpu_seconds: u64,
    /// Processes (threads count too) for this user: RLIMIT_NPROC.
    pub processes: u64,
    pub descriptors: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 512 << 20,
            cpu_seconds: 60,
            processes: 64,
            descriptors: 1024,
        }
    }
}

/// 0: no limit (not sandboxed).
static MEMORY_LIMIT: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated and not yet freed, counted only under a limit.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static CPU_SECONDS: AtomicUsize = AtomicUsize::new(0);
static OVER_CPU: AtomicBool = AtomicBool::new(false);

impl Limits {
    /// Sets the kernel's limits and starts counting.
    pub fn apply(&self) -> Result<(), String> {
        let set = |resource, soft: u64, hard: u64, what: &str| {
            nix::sys::resource::setrlimit(resource, soft, hard)
                .map_err(|e| format!("cannot limit {what}: {e}"))
        };
        use nix::sys::resource::Resource;
        let (_, fd_hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE)
            .map_err(|e| format!("getrlimit: {e}"))?;
        let fds = self.descriptors.min(fd_hard);
        set(Resource::RLIMIT_NOFILE, fds, fds, "descriptors")?;
        set(
            Resource::RLIMIT_NPROC,
            self.processes,
            self.processes,
            "processes",
        )?;
        let cpu = self.cpu_seconds;
        set(Resource::RLIMIT_CPU, cpu, cpu + 2, "CPU time")?;
        let space = address_space_now() + 2 * self.memory + (1 << 30);
        set(Resource::RLIMIT_AS, space, space, "memory")?;
        set(Resource::RLIMIT_CORE, 0, 0, "core dumps")?;
        catch_sigxcpu()?;
        CPU_SECONDS.store(cpu as usize, Ordering::SeqCst);
        LIVE.store(0, Ordering::SeqCst);
        MEMORY_LIMIT.store(self.memory as usize, Ordering::SeqCst);
        Ok(())
    }
}

/// The process's address space now (VmSize), the backstop's base.
fn address_space_now() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(1 << 30, |kb| kb << 10)
}

extern "C" fn on_sigxcpu(_: libc::c_int) {
    OVER_CPU.store(true, Ordering::SeqCst);
    crate::wait::wake_waits();
}

fn catch_sigxcpu() -> Result<(), String> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_sigxcpu),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only touches atomics and write(2).
    unsafe { sigaction(Signal::SIGXCPU, &action) }
        .map(drop)
        .map_err(|e| format!("cannot catch SIGXCPU: {e}"))
}

/// The failure that ends a script over one of its limits, if it is.
pub fn over_limit() -> Option<Failure> {
    let limit = MEMORY_LIMIT.load(Ordering::Relaxed);
    if limit != 0 && LIVE.load(Ordering::Relaxed) > limit {
        // Stop counting, so the failure line itself can be written.
        MEMORY_LIMIT.store(0, Ordering::SeqCst);
        return Some(Failure::usage(format!(
            "over its memory limit ({} MiB, --limit-memory): the sandbox ends the script",
            limit >> 20
        )));
    }
    // A plain load first: a swap is a locked write, and this runs after
    // every command.
    if OVER_CPU.load(Ordering::Relaxed) && OVER_CPU.swap(false, Ordering::SeqCst) {
        return Some(Failure::usage(format!(
            "over its CPU time limit ({}s, --limit-cpu): the sandbox ends the script",
            CPU_SECONDS.load(Ordering::Relaxed)
        )));
    }
    None
}

/// An allocator that counts what it holds while a memory limit is set.
/// It never refuses: going over is noticed at the next command or wait.
pub struct Counted<A>(pub A);

// SAFETY: every call is passed to the inner allocator unchanged; only
// counters are added.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counted<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_up(layout.size());
        // SAFETY: the caller's promises hold for the inner allocator.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_up(layout.size());
        // SAFETY: as above.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_down(layout.size());
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_down(layout.size());
        count_up(new_size);
        // SAFETY: as above.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

fn count_up(size: usize) {
    if MEMORY_LIMIT.load(Ordering::Relaxed) != 0 {
        LIVE.fetch_add(size, Ordering::Relaxed);
    }
}

fn count_down(size: usize) {
    if MEMORY_LIMIT.load(Ordering::Relaxed) != 0 {
        // Memory from before the count started may be freed: never below 0.
        let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
            Some(live.saturating_sub(size))
        });
    }
}

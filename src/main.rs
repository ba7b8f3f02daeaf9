//! The `sockrepl` binary: everything happens in [`sockrepl::cli`].

/// mimalloc instead of the system allocator: a script is parsed whole
/// before it runs, and with glibc's malloc the page faults of a long
/// script's many small allocations cost more than its system calls.
/// Counted, so that `--sandbox` ends a script over its memory limit with a
/// clear failure instead of an abort.
#[global_allocator]
static GLOBAL: sockrepl::sandbox::limits::Counted<mimalloc::MiMalloc> =
    sockrepl::sandbox::limits::Counted(mimalloc::MiMalloc);

fn main() {
    std::process::exit(sockrepl::cli::main());
}

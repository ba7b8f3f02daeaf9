//! The `sockrepl` binary: everything happens in [`sockrepl::cli`].

fn main() {
    std::process::exit(sockrepl::cli::main());
}

//! sockrepl: a scriptable socket REPL for learning, teaching and poking at
//! the Berkeley socket API on real kernel sockets.
//!
//! A line travels through the crate in four steps, each in its own file:
//!
//! 1. [`lexer`]: split into words by shell rules, `${...}` found and kept
//!    as one word (script arguments and environment filled in at once);
//! 2. [`parser`] and [`cmd`]: words into a typed [`cmd::Command`], one file
//!    per command under `cmd/`, each with its spec (name, help, argument
//!    slots, flags: [`cmd::Spec`]), its `parse` and its `apply`; the
//!    registry in `cmd/mod.rs` is the one list of commands;
//! 3. [`session`]: `apply` runs against the session's handle table
//!    ([`handle`]: a socket, or another kind of handle, behind one
//!    receive/send/poll/close interface), expanding run-time `${...}`
//!    (`session::expand`), waiting through [`wait`] with deadlines and
//!    Ctrl-C (bulk transfers block in the kernel instead, through [`bulk`]);
//! 4. [`render`]: the [`outcome::Outcome`] into transcript text, with the
//!    `--stable` placeholders (`session::placeholders`).
//!
//! [`script`] parses a whole file before any line runs; [`interp`] is the
//! one interpreter core that [`repl`] (the shell: completion, hints,
//! history, live notifications, `record`), `run` and `test` ([`golden`],
//! which runs each script as its own `sockrepl run --stable`) share.
//! [`cli`] maps the command line onto them; [`step`] is `run --step`'s
//! wait for Enter. The data words and bytes
//! literals live in [`data`], the flag names in [`flag`], addresses in
//! [`address`], socket kinds in [`kind`], errno names and hints in
//! [`errors`], "did you mean" in [`suggest`], the `sockets` table's kernel
//! queries in [`netstat`]. Programs under test (`spawn`) run through
//! [`program`]; `--netns` isolation is [`netns`]; `trace`, the packets
//! under each command, is [`trace`] over [`capture`]. `docs/architecture.md` is the map, with the
//! checklist for adding a command.

pub mod address;
pub mod bulk;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod data;
pub mod diag;
pub mod duration;
pub mod errors;
pub mod export;
pub mod flag;
pub mod framing;
pub mod golden;
pub mod handle;
pub mod interp;
pub mod kind;
pub mod lexer;
pub mod netns;
pub mod netstat;
pub mod outcome;
pub mod parser;
pub mod pattern;
pub mod program;
pub mod render;
pub mod repl;
pub mod sandbox;
pub mod script;
pub mod session;
pub mod step;
pub mod suggest;
pub mod tls;
pub mod trace;
pub mod transcript;
pub mod wait;

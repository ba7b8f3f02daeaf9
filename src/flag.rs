//! Every `--flag` name of the language, in one list below the data layer.
//!
//! A received byte string that reads like a flag (`--hex`) must be shown
//! with its first dash escaped, or the literal, written back as a DATA
//! word, would be taken for the flag. The data layer needs the names for
//! that without depending on the commands; each command's spec still says
//! which flags it takes and what value they want, and a test checks that
//! this list and the specs agree.

/// Every flag some command takes.
pub const ALL: &[&str] = &[
    "--hex",
    "--file",
    "--into",
    "--timeout",
    "--write",
    "--as",
    "--re",
    "--max",
    "--pcap",
    "--all",
    "--sni",
    "--alpn",
    "--ca",
    "--insecure",
    "--server",
    "--cert",
    "--key",
    "--with",
    "--retry",
    "--cwd",
    "--env",
];

/// Whether `word` is one of the language's flags.
pub fn is_flag(word: &[u8]) -> bool {
    ALL.iter().any(|flag| flag.as_bytes() == word)
}

//! Loading a script: every line split and parsed before the first one runs.
//!
//! A script with a syntax error is rejected whole, so a typo on the last
//! line never leaves a half-run exercise behind. Sources with a written-out
//! path are loaded and checked here too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::cmd::{Command, Run, Scope};
use crate::errors::file_error;
use crate::lexer::{push_quoted, split_line_with, Context, Piece, Unfilled, Var, Word};
use crate::parser::{Arg, SyntaxError};

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// How failure lines name it (`echo.sock:12: ...`).
    pub name: String,
    /// The directory `source` paths are relative to.
    pub dir: PathBuf,
    pub lines: Vec<Line>,
    /// The comment lines after the last command (`run --comments`).
    pub tail: Comments,
}

/// The comment lines just before a command, as written, and an empty
/// entry for each run of blank lines among them, so the script's
/// paragraphs show; empty unless the loader keeps comments
/// (`run --comments`).
pub type Comments = Vec<String>;

/// One command line of a script.
#[derive(Debug)]
pub struct Line {
    pub number: usize,
    pub echo: Echo,
    pub command: Command,
    /// The comment lines written just before it (`run --comments`).
    pub comments: Comments,
}

/// How the transcript echoes a line.
#[derive(Debug)]
pub enum Echo {
    /// Every word is plain text: the echo is ready (one string, not a
    /// vector of words, per line of a long script).
    Ready(String),
    /// Some word has a `${...}` that is filled in when the line runs.
    Expand(Vec<Word>),
}

impl Line {
    /// The command's name, for failure lines.
    pub fn command_name(&self) -> &str {
        self.word(0).unwrap_or("?")
    }

    /// The word at `index` as written, when it is plain (no `${...}`, no
    /// quotes): a handle's name, for hints.
    pub fn word(&self, index: usize) -> Option<&str> {
        match &self.echo {
            Echo::Ready(text) => text.split(' ').nth(index),
            Echo::Expand(words) => words.get(index).and_then(Word::literal),
        }
    }
}

impl Echo {
    fn new(words: Vec<Word>) -> Self {
        if words.iter().any(|w| w.literal().is_none()) {
            return Echo::Expand(words);
        }
        let mut text = String::new();
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                text.push(' ');
            }
            push_quoted(&mut text, word.literal().unwrap_or_default());
        }
        Echo::Ready(text)
    }
}

/// A syntax error with its place: `FILE:LINE: COMMAND: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    pub command: Option<String>,
    pub error: SyntaxError,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(command) = &self.command {
            let command = crate::data::one_line(command);
            write!(f, "{}: ", crate::parser::shorten_words(&command))?;
        }
        write!(f, "{}", self.error.message)?;
        if let Some(column) = self.error.column {
            write!(f, " (column {column})")?;
        }
        Ok(())
    }
}

/// The most errors reported for one script: past that, it is probably not a script.
const MAX_ERRORS: usize = 20;
/// How deep `source` may nest, whether the path is known before the run
/// or only when the line runs (then a source can name itself).
pub const MAX_SOURCE_DEPTH: usize = 32;
/// How many files one load may source, counted across nesting: ten files
/// of ten `source` lines each would otherwise be 10^10 loads.
pub const MAX_SOURCE_LOADS: usize = 1000;
/// How many lines the sourced files of one load may hold in all.
pub const MAX_SOURCED_LINES: usize = 1_000_000;
/// How many bytes `${1}` and `${env.NAME}` may add to one line, and to
/// one load in all: bounds memory whatever the arguments hold.
pub const MAX_EXPANDED_LINE: usize = 1 << 20;
pub const MAX_EXPANDED_TOTAL: usize = 64 << 20;

/// Loads and parses a script file.
pub struct Loader {
    /// `${1}`...: the arguments of the script being loaded.
    args: Vec<String>,
    /// Canonical paths of the scripts being loaded, to catch `source` loops.
    stack: Vec<PathBuf>,
    /// Whether the shell's own commands are allowed (a typed line).
    scope: Scope,
    /// The variables some earlier line (in the text) can set, or that the
    /// command line (`--set`) or the session gave.
    known: FxHashSet<String>,
    /// Unknown variables are allowed: `check` cannot know what the command
    /// line will give, and after a `source` loaded only at run time, what
    /// it sets is unknown.
    lenient: bool,
    /// `check`: arguments and the environment are unknown too.
    check_only: bool,
    /// Loading a file sourced with ARGs: how many, and which wait for run
    /// time (bit N for `${N}`).
    source_args: Option<(usize, u64)>,
    /// `run --comments`: keep the comment lines, to show them in place.
    keep_comments: bool,
    /// Files sourced and lines they held so far (see [`MAX_SOURCE_LOADS`]).
    loads: usize,
    sourced_lines: usize,
    /// Bytes that static expansions added so far (see [`MAX_EXPANDED_TOTAL`]).
    expanded: usize,
}

impl Loader {
    pub fn new(args: &[String]) -> Self {
        Loader {
            args: args.to_vec(),
            stack: Vec::new(),
            scope: Scope::Language,
            known: FxHashSet::default(),
            lenient: false,
            check_only: false,
            source_args: None,
            keep_comments: false,
            loads: 0,
            sourced_lines: 0,
            expanded: 0,
        }
    }

    /// A loader for a file run by `source FILE ARG...`, its ARGs known
    /// now: `text` for those filled in as it loads, and which (bit N for
    /// `${N}`) stay for run time because their bytes are not plain text.
    pub fn sourced_with(mut self, text: Vec<String>, later: u64) -> Self {
        self.source_args = Some((text.len(), later));
        self.args = text;
        self
    }

    /// Keeps each command's comment lines (`run --comments`), in sourced
    /// files too.
    pub fn keeping_comments(mut self, keep: bool) -> Self {
        self.keep_comments = keep;
        self
    }

    /// A loader for lines typed at the shell's prompt, where `record` and
    /// `set` are commands too (files they source are scripts all the same).
    pub fn for_shell(args: &[String]) -> Self {
        Loader {
            scope: Scope::Shell,
            ..Loader::new(args)
        }
    }

    /// Variables that have a value before the first line (`--set`, or the
    /// session's, for a line typed at the shell).
    pub fn knowing(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.known.extend(names);
        self
    }

    /// Allows a `${NAME}` that no line sets (it fails when the line runs).
    pub fn allowing_unset_variables(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// For `check`: a `${NAME}` no line sets, an argument or an
    /// environment variable may all come from the command line.
    pub fn for_check(mut self) -> Self {
        self.lenient = true;
        self.check_only = true;
        self
    }

    /// Parses a script's text. `name` is how errors name it; `path` is the
    /// file it came from (none for stdin).
    pub fn parse(
        &mut self,
        text: &[u8],
        name: &str,
        path: Option<&Path>,
    ) -> Result<Script, Vec<ScriptError>> {
        let dir = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(canonical) = path.and_then(|p| p.canonicalize().ok()) {
            self.stack.push(canonical);
        }
        let result = self.parse_lines(text, name, &dir);
        if path.is_some() {
            self.stack.pop();
        }
        result.map(|(lines, tail)| Script {
            name: name.to_string(),
            dir,
            lines,
            tail,
        })
    }

    fn parse_lines(
        &mut self,
        text: &[u8],
        name: &str,
        dir: &Path,
    ) -> Result<(Vec<Line>, Comments), Vec<ScriptError>> {
        let at = |line: usize, command: Option<String>, error: SyntaxError| ScriptError {
            file: name.to_string(),
            line,
            command,
            error,
        };
        if let Some(nul) = text.iter().take(8192).position(|&b| b == 0) {
            let error = SyntaxError::new("a NUL byte: this looks like a binary file, not a script");
            let line = 1 + text[..nul].iter().filter(|&&b| b == b'\n').count();
            return Err(vec![at(line, None, error)]);
        }
        // A UTF-8 byte order mark, as some Windows editors write, is no command.
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let lines = split_lines(text);
        let mut blocks = Blocks::with_capacity(lines.len());
        let mut errors = Vec::new();
        let mut comments = Comments::new();
        let mut started = false;
        for (index, raw) in lines.into_iter().enumerate() {
            let number = index + 1;
            let parsed = self.parse_line(raw, name, dir).and_then(|line| match line {
                Some(line) => {
                    started = true;
                    blocks.add(Line {
                        number,
                        comments: std::mem::take(&mut comments),
                        ..line
                    })
                }
                None => {
                    if self.keep_comments {
                        started |= keep_comment(&mut comments, raw, started);
                    }
                    Ok(())
                }
            });
            if let Err((command, error)) = parsed {
                if opens_a_block(raw) {
                    blocks.open_broken();
                }
                errors.push(at(number, command, error));
            }
            if errors.len() >= MAX_ERRORS {
                let message = format!(
                    "stopped after {MAX_ERRORS} errors: the rest of the script was not checked"
                );
                errors.push(at(number, None, SyntaxError::new(message)));
                return Err(errors);
            }
        }
        for open in blocks.unclosed() {
            let error = SyntaxError::new("repeat without its end");
            errors.push(at(open, Some(open_name()), error));
        }
        if errors.is_empty() {
            Ok((blocks.finish(), finish_comments(comments)))
        } else {
            errors.sort_by_key(|e| e.line);
            Err(errors)
        }
    }

    fn parse_line(
        &mut self,
        raw: &[u8],
        name: &str,
        dir: &Path,
    ) -> Result<Option<Line>, (Option<String>, SyntaxError)> {
        let text = std::str::from_utf8(raw).map_err(|e| {
            let column = String::from_utf8_lossy(&raw[..e.valid_up_to()])
                .chars()
                .count()
                + 1;
            (
                None,
                SyntaxError {
                    message: "not valid UTF-8".into(),
                    column: Some(column),
                },
            )
        })?;
        if text.contains('\0') {
            return Err((None, SyntaxError::new("a NUL byte in the line")));
        }
        let unfilled = Unfilled {
            outside: self.check_only,
            source_args: self.source_args,
        };
        let budget = MAX_EXPANDED_LINE.min(MAX_EXPANDED_TOTAL.saturating_sub(self.expanded));
        let context = Context::new(&self.args).with_budget(budget);
        let words = split_line_with(text, &context, unfilled)
            .map_err(|e| (known_command_name(text), e.into()))?;
        self.expanded += context.used();
        if words.is_empty() {
            return Ok(None);
        }
        let command_name = words[0].literal().map(str::to_string);
        let fail = |e| (command_name.clone(), e);
        let mut command = match Command::parse_in(&words, self.scope) {
            Ok(command) => command,
            Err(error) => {
                // Later lines are checked as if this one had parsed, so one
                // mistake gives one error, not one per line that follows.
                self.known.extend(names_set_by(&words));
                return Err(fail(error));
            }
        };
        if let Err(error) = self.check_variables(&words) {
            // What it sets counts as set, so its mistake is reported once.
            self.known.extend(command.sets());
            return Err(fail(error));
        }
        self.load_source(&mut command, name, dir).map_err(fail)?;
        self.known.extend(command.sets());
        Ok(Some(Line {
            number: 0,
            echo: Echo::new(words),
            command,
            comments: Comments::new(),
        }))
    }

    /// Every `${NAME}` of the line must be a variable that an earlier line
    /// (or the command line) can set.
    fn check_variables(&self, words: &[Word]) -> Result<(), SyntaxError> {
        if self.lenient {
            return Ok(());
        }
        for word in words {
            let Word::Template(pieces) = word else {
                continue;
            };
            for piece in pieces {
                let (Piece::Var(Var::Variable(name)) | Piece::Var(Var::Length(name))) = piece
                else {
                    continue;
                };
                if !self.known.contains(name) {
                    return Err(SyntaxError::new(format!(
                        "${{{name}}}: no earlier line sets {name} (let, --as, a (?P<{name}>...) group, repeat --as, or --set {name}=VALUE)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Loads a `source` whose path and arguments are known now.
    fn load_source(
        &mut self,
        command: &mut Command,
        name: &str,
        dir: &Path,
    ) -> Result<(), SyntaxError> {
        let Command::Source(source) = command else {
            return Ok(());
        };
        let written = source.words.iter().all(|word| word.literal().is_some());
        let (Arg::Ready(path), true) = (&source.path, written) else {
            // Loaded when it runs: what it sets cannot be known now.
            self.lenient = true;
            return Ok(());
        };
        let display = display_beside(name, path);
        let (written, later) = source.written_args();
        let outer_later = std::mem::replace(&mut self.source_args, later);
        let outer_args = match later {
            Some(_) => Some(std::mem::replace(&mut self.args, written)),
            None => None,
        };
        let loaded = self.load_file(&dir.join(path), &display);
        self.source_args = outer_later;
        if let Some(outer) = outer_args {
            self.args = outer;
        }
        source.loaded = Some(Arc::new(loaded?));
        Ok(())
    }

    /// Reads and parses a sourced file; its own errors become this line's error.
    pub fn load_file(&mut self, path: &Path, display: &str) -> Result<Script, SyntaxError> {
        crate::sandbox::check(path, crate::sandbox::Use::Read)
            .map_err(|failure| SyntaxError::new(failure.to_string()))?;
        let canonical = path
            .canonicalize()
            .map_err(|e| SyntaxError::new(file_error("read", Path::new(display), &e)))?;
        if self.stack.contains(&canonical) {
            return Err(SyntaxError::new(format!(
                "{display} sources itself (a source loop)"
            )));
        }
        if self.stack.len() >= MAX_SOURCE_DEPTH {
            return Err(SyntaxError::new(format!(
                "sources nest more than {MAX_SOURCE_DEPTH} deep"
            )));
        }
        self.loads += 1;
        if self.loads > MAX_SOURCE_LOADS {
            return Err(SyntaxError::new(format!(
                "more than {MAX_SOURCE_LOADS} files sourced in all (counted across nesting)"
            )));
        }
        let text = read_sourced_file(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => SyntaxError::new(format!("{display} {e}")),
            _ => SyntaxError::new(file_error("read", Path::new(display), &e)),
        })?;
        self.sourced_lines += line_ends(&text) + 1;
        if self.sourced_lines > MAX_SOURCED_LINES {
            return Err(SyntaxError::new(format!(
                "the sourced files hold more than {MAX_SOURCED_LINES} lines in all"
            )));
        }
        let scope = std::mem::replace(&mut self.scope, Scope::Language);
        let parsed = self.parse(&text, display, Some(path));
        self.scope = scope;
        parsed.map_err(|errors| {
            let first = &errors[0];
            SyntaxError::new(format!("in {first}"))
        })
    }
}

/// Adds a line that holds no command to the comments gathered so far: a
/// comment as written (indentation aside), a run of blank lines as one
/// empty entry (none before the script's first words). Returns whether
/// it was a comment.
fn keep_comment(comments: &mut Comments, raw: &[u8], started: bool) -> bool {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.starts_with('#') {
        comments.push(text.to_string());
        return true;
    }
    if started && comments.last().is_none_or(|last| !last.is_empty()) {
        comments.push(String::new());
    }
    false
}

/// The comments after the last command, without a blank line at the end.
fn finish_comments(mut comments: Comments) -> Comments {
    while comments.last().is_some_and(String::is_empty) {
        comments.pop();
    }
    comments
}

/// The name of the command that opens a block.
fn open_name() -> String {
    crate::cmd::repeat::REPEAT.name.to_string()
}

/// Whether a line that did not parse opens a block all the same, so its
/// `end` is not reported again.
fn opens_a_block(raw: &[u8]) -> bool {
    let first = raw
        .split(|b| b.is_ascii_whitespace())
        .find(|word| !word.is_empty());
    first == Some(crate::cmd::repeat::REPEAT.name.as_bytes())
}

/// The variables a line that did not parse meant to set (`let NAME`,
/// `--as NAME`), so later lines that use them are not errors too.
fn names_set_by(words: &[Word]) -> Vec<String> {
    let literal = |at: usize| words.get(at).and_then(Word::literal);
    let mut names = Vec::new();
    if literal(0) == Some(crate::cmd::let_::LET.name) {
        names.extend(literal(1).map(str::to_string));
    }
    for (at, word) in words.iter().enumerate() {
        if word.literal() == Some("--as") {
            names.extend(literal(at + 1).map(str::to_string));
        }
    }
    names
}

/// The lines of a script as they are parsed, gathered into `repeat`
/// blocks: each block's lines go into its `repeat` line, up to the `end`.
struct Blocks {
    /// The lines of the outermost level, or of the open block.
    current: Vec<Line>,
    /// Each open `repeat` line and the lines of the level around it;
    /// `None` for a `repeat` line that did not parse.
    open: Vec<Option<(Line, Vec<Line>)>>,
}

impl Blocks {
    fn with_capacity(lines: usize) -> Self {
        Blocks {
            current: Vec::with_capacity(lines.min(1 << 20)),
            open: Vec::new(),
        }
    }

    fn add(&mut self, line: Line) -> Result<(), (Option<String>, SyntaxError)> {
        match &line.command {
            Command::Repeat(_) => {
                let around = std::mem::take(&mut self.current);
                self.open.push(Some((line, around)));
            }
            Command::BlockEnd(_) => {
                let Some(open) = self.open.pop() else {
                    let name = line.command_name().to_string();
                    return Err((Some(name), SyntaxError::new("end without its repeat")));
                };
                // The script fails anyway: a broken block's lines stay put.
                let Some((mut opening, around)) = open else {
                    return Ok(());
                };
                let body = std::mem::replace(&mut self.current, around);
                if let Command::Repeat(repeat) = &mut opening.command {
                    repeat.body = Arc::new(body);
                    repeat.end = Some(Arc::new(line));
                }
                self.current.push(opening);
            }
            _ => self.current.push(line),
        }
        Ok(())
    }

    /// A `repeat` line that did not parse still opens a block.
    fn open_broken(&mut self) {
        self.open.push(None);
    }

    /// The line numbers of the blocks never closed.
    fn unclosed(&self) -> Vec<usize> {
        self.open
            .iter()
            .flatten()
            .map(|(line, _)| line.number)
            .collect()
    }

    fn finish(self) -> Vec<Line> {
        self.current
    }
}

/// The largest script sockrepl reads: far beyond any real script, but a
/// stream such as /dev/zero must not fill the memory.
const MAX_SCRIPT_BYTES: u64 = 1 << 30;

/// Reads the script named on the command line (which may be a pipe:
/// `run <(...)`), refusing one larger than `MAX_SCRIPT_BYTES` or a file of
/// /proc or /sys.
pub fn read_script_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if is_kernel_interface(&file)? {
        return Err(kernel_interface());
    }
    read_bounded(file)
}

/// Reads a file that `source` names: a regular file on a real file
/// system, opened without blocking.
fn read_sourced_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        let why = "is not a regular file";
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    }
    if is_kernel_interface(&file)? {
        return Err(kernel_interface());
    }
    read_bounded(file)
}

fn read_bounded(file: std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    file.take(MAX_SCRIPT_BYTES + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    }
    Ok(text)
}

/// Whether a file is the kernel talking (/proc, /sys and their kin): its
/// size is unknown, and reading may wait or take something (/proc/kmsg).
fn is_kernel_interface(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsFd;
    let fs = nix::sys::statfs::fstatfs(file.as_fd())?;
    Ok(PSEUDO_FILE_SYSTEMS.contains(&(fs.filesystem_type().0 as i64)))
}

fn kernel_interface() -> std::io::Error {
    let why = "is a kernel interface (/proc, /sys...), not a script";
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
}

/// File systems whose files are the kernel talking: procfs, sysfs,
/// debugfs, tracefs, securityfs, cgroup, cgroup2, bpf, configfs,
/// efivarfs, pstore.
const PSEUDO_FILE_SYSTEMS: [i64; 11] = [
    0x9fa0,
    0x6265_6572,
    0x6462_6720,
    0x7472_6163,
    0x7363_6673,
    0x0027_e0eb,
    0x6367_7270,
    0xcafe_4a11,
    0x6265_6570,
    0xde5e_81e4,
    0x6165_676c,
];

/// A script's lines: ended by `\n`, `\r\n` or a lone `\r` (old Mac files).
fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(line_ends(text) + 1);
    let mut start = 0;
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'\n' => {
                lines.push(&text[start..at]);
                start = at + 1;
            }
            b'\r' => {
                lines.push(&text[start..at]);
                if text.get(at + 1) == Some(&b'\n') {
                    at += 1;
                }
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    lines.push(&text[start..]);
    lines
}

/// Line ends in the text, near enough to size a vector.
fn line_ends(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n' || b == b'\r').count()
}

/// The line's command name for an error found before the line could be
/// split into words, when its first word is plainly a command.
fn known_command_name(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?;
    crate::cmd::spec(first).map(|spec| spec.name.to_string())
}

/// How a sourced file is named: beside the script that sources it.
pub fn display_beside(parent: &str, path: &Path) -> String {
    if path.is_absolute() {
        return path.display().to_string();
    }
    match Path::new(parent).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !parent.starts_with('<') => {
            dir.join(path).display().to_string()
        }
        _ => path.display().to_string(),
    }
}

/// A word as it was written, for echoing a line whose expansion failed.
pub fn source_text(word: &Word) -> String {
    let pieces = match word {
        Word::Text(text) => return text.clone(),
        Word::Template(pieces) => pieces,
    };
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.clone(),
            Piece::Var(var) => var.source(),
        })
        .collect()
}

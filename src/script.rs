//! Loading a script: every line split and parsed before the first one runs.
//!
//! A script with a syntax error is rejected whole, so a typo on the last
//! line never leaves a half-run exercise behind. Sources with a written-out
//! path are loaded and checked here too.
//!
//! A script that `run` runs is not kept parsed: once the whole text has
//! been checked, it is parsed again, a line at a time, as it runs
//! ([`Loader::streaming`]), so its memory is its text, not a multiple of
//! it. Both passes are the same [`Parsing`] over the same text with a
//! loader in the same state, so the second finds what the first checked.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::cmd::{Command, Run, Scope};
use crate::errors::file_error;
use crate::lexer::{push_quoted, split_line_with, Context, Piece, Unfilled, Var, Word};
use crate::parser::{Arg, SyntaxError};
use crate::transcript::CheckedLine;

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// How failure lines name it (`echo.sock:12: ...`).
    pub name: String,
    /// The directory `source` paths are relative to.
    pub dir: PathBuf,
    /// The parsed lines; empty for a streamed script (see [`Script::stream`]).
    pub lines: Vec<Line>,
    /// The comment lines after the last command (`run --comments`).
    pub tail: Comments,
    /// How many commands it has (a `repeat` with its block is one).
    pub commands: usize,
    /// A streamed script: its checked text, parsed again as it runs.
    streamed: Option<Streamed>,
}

/// The text of a script that passed its check, and the loader as it was
/// before the check began (with the files it sourced read in).
#[derive(Debug)]
struct Streamed {
    text: Vec<u8>,
    loader: Loader,
    /// Where the commands start (after a byte order mark).
    start: usize,
    /// How to parse it again without reading what the check shared.
    plan: Plan,
}

impl Script {
    /// The lines of a streamed script, parsed one by one as they are
    /// asked for (a `repeat` with its whole block); `None` when the script
    /// is held parsed in [`Script::lines`].
    pub fn stream(&self) -> Option<Parsing<'_>> {
        let streamed = self.streamed.as_ref()?;
        let text = &streamed.text[streamed.start..];
        let mut loader = streamed.loader.clone();
        // The check found every variable set before its use; the lines
        // shared from it do not tell the loader what they set.
        loader.lenient = true;
        let parsing = Parsing::new(loader, text, &self.name, &self.dir);
        Some(parsing.replaying(&streamed.plan))
    }
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
    /// What the line says; shared by the lines that say the same.
    pub parsed: Arc<Parsed>,
    /// The comment lines written just before it (`run --comments`).
    pub comments: Comments,
}

/// A line's words, parsed: the same for every line of the same text.
#[derive(Debug)]
pub struct Parsed {
    pub echo: Echo,
    pub command: Command,
}

impl std::ops::Deref for Line {
    type Target = Parsed;

    fn deref(&self) -> &Parsed {
        &self.parsed
    }
}

/// How the transcript echoes a line.
#[derive(Debug)]
pub enum Echo {
    /// Every word is plain text: the echo is ready, `> ` and the words,
    /// checked for the terminal once (one string, not a vector of words,
    /// per line of a long script).
    Ready(CheckedLine),
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
            Echo::Ready(shown) => shown.text()[ECHO_MARK.len()..].split(' ').nth(index),
            Echo::Expand(words) => words.get(index).and_then(Word::literal),
        }
    }
}

impl Echo {
    fn new(words: Vec<Word>) -> Self {
        if words.iter().any(|w| w.literal().is_none()) {
            return Echo::Expand(words);
        }
        // Sized for the words, a space or quotes around each, and the
        // line's end, so the echo is made without growing.
        let size: usize = words
            .iter()
            .map(|w| w.literal().map_or(0, str::len) + 3)
            .sum();
        let mut text = String::with_capacity(ECHO_MARK.len() + size + 1);
        text.push_str(ECHO_MARK);
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                text.push(' ');
            }
            push_quoted(&mut text, word.literal().unwrap_or_default());
        }
        Echo::Ready(CheckedLine::new(text))
    }
}

/// What starts a command's echo in the transcript.
pub const ECHO_MARK: &str = "> ";

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
#[derive(Debug, Clone)]
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
    /// Keep only the text of the script, to parse it again as it runs.
    streaming: bool,
    /// The files sourced so far, as read: the second pass of a streamed
    /// script reads what the first one checked.
    sourced: FxHashMap<PathBuf, Arc<Vec<u8>>>,
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
            streaming: false,
            sourced: FxHashMap::default(),
        }
    }

    /// Checks the whole script, then keeps only its text, to parse each
    /// line again when it runs (files it sources are kept parsed).
    pub fn streaming(mut self) -> Self {
        self.streaming = true;
        self
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
        self.parse_text(Cow::Borrowed(text), name, path)
    }

    /// [`Loader::parse`], keeping the text itself (not a copy) when the
    /// script streams.
    pub fn parse_text(
        &mut self,
        text: Cow<'_, [u8]>,
        name: &str,
        path: Option<&Path>,
    ) -> Result<Script, Vec<ScriptError>> {
        let dir = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(nul) = text.iter().take(8192).position(|&b| b == 0) {
            let error = SyntaxError::new("a NUL byte: this looks like a binary file, not a script");
            let line = 1 + text[..nul].iter().filter(|&&b| b == b'\n').count();
            return Err(vec![ScriptError {
                file: name.to_string(),
                line,
                command: None,
                error,
            }]);
        }
        // A UTF-8 byte order mark, as some Windows editors write, is no command.
        let start = if text.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        if let Some(canonical) = path.and_then(|p| p.canonicalize().ok()) {
            self.stack.push(canonical);
        }
        // Only the script itself streams: what it sources is kept parsed.
        let streaming = std::mem::replace(&mut self.streaming, false);
        let before = streaming.then(|| self.clone());
        let result = self.parse_all(&text[start..], name, &dir, streaming);
        if path.is_some() {
            self.stack.pop();
        }
        let (lines, commands, tail, plan) = result?;
        let streamed = before.map(|mut loader| {
            loader.sourced = std::mem::take(&mut self.sourced);
            Streamed {
                text: text.into_owned(),
                loader,
                start,
                plan,
            }
        });
        Ok(Script {
            name: name.to_string(),
            dir,
            lines,
            tail,
            commands,
            streamed,
        })
    }

    /// Parses every line, keeping them (or, `streaming`, only checking
    /// them), and gathers the errors, up to [`MAX_ERRORS`].
    fn parse_all(
        &mut self,
        text: &[u8],
        name: &str,
        dir: &Path,
        streaming: bool,
    ) -> Result<(Vec<Line>, usize, Comments, Plan), Vec<ScriptError>> {
        let loader = std::mem::replace(self, Loader::new(&[]));
        let mut parsing = Parsing::new(loader, text, name, dir);
        if streaming {
            // `check` never runs the script: no plan for a second pass.
            let planning = !parsing.loader.check_only;
            parsing = parsing.sharing(planning);
        }
        let mut lines = Vec::new();
        let mut commands = 0;
        let mut errors = Vec::new();
        while let Some(item) = parsing.next_checked() {
            commands += usize::from(item.is_ok());
            match item {
                Ok(Some(line)) if !streaming => lines.push(line),
                Ok(_) => {}
                Err(error) => errors.push(error),
            }
            if errors.len() >= MAX_ERRORS {
                let message = format!(
                    "stopped after {MAX_ERRORS} errors: the rest of the script was not checked"
                );
                errors.push(parsing.error(parsing.number, None, SyntaxError::new(message)));
                break;
            }
        }
        let tail = parsing.tail();
        let plan = parsing.plan();
        *self = parsing.loader;
        if errors.is_empty() {
            Ok((lines, commands, tail, plan))
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
    ) -> Result<Option<Parsed>, (Option<String>, SyntaxError)> {
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
        Ok(Some(Parsed {
            echo: Echo::new(words),
            command,
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
        let text = match self.sourced.get(&canonical) {
            Some(text) => Arc::clone(text),
            None => {
                let text = read_sourced_file(path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidInput => SyntaxError::new(format!("{display} {e}")),
                    _ => SyntaxError::new(file_error("read", Path::new(display), &e)),
                })?;
                let text = Arc::new(text);
                self.sourced.insert(canonical, Arc::clone(&text));
                text
            }
        };
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

/// The `repeat` blocks open while a script is parsed: each open `repeat`
/// line gathers its block's lines, up to its `end`.
#[derive(Default)]
struct Blocks {
    /// Each open `repeat` line and the lines of its block so far; `None`
    /// for a `repeat` line that did not parse (its lines are dropped: the
    /// script fails anyway).
    open: Vec<Option<(Line, Vec<Line>)>>,
}

impl Blocks {
    /// Takes a parsed line; returns a line of the outermost level once it
    /// is whole (a `repeat` when its `end` arrives).
    fn add(&mut self, line: Line) -> Result<Option<Line>, (Option<String>, SyntaxError)> {
        match &line.command {
            Command::Repeat(_) => {
                self.open.push(Some((line, Vec::new())));
                Ok(None)
            }
            Command::BlockEnd(_) => {
                let Some(open) = self.open.pop() else {
                    let name = line.command_name().to_string();
                    return Err((Some(name), SyntaxError::new("end without its repeat")));
                };
                let Some((mut opening, body)) = open else {
                    return Ok(None);
                };
                let parsed = Arc::get_mut(&mut opening.parsed).expect("a repeat line is its own");
                if let Command::Repeat(repeat) = &mut parsed.command {
                    repeat.body = Arc::new(body);
                    repeat.end = Some(Arc::new(line));
                }
                Ok(self.place(opening))
            }
            _ => Ok(self.place(line)),
        }
    }

    /// Puts a whole line into the open block, or returns it.
    fn place(&mut self, line: Line) -> Option<Line> {
        match self.open.last_mut() {
            None => Some(line),
            Some(Some((_, body))) => {
                body.push(line);
                None
            }
            Some(None) => None,
        }
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
}

/// One pass over a script's text: its lines, parsed one at a time (a
/// `repeat` with its block), or the errors found; after the last line,
/// the blocks left open.
pub struct Parsing<'t> {
    loader: Loader,
    /// The whole text, and the part not read yet.
    text: &'t [u8],
    rest: &'t [u8],
    /// The number of the line read last.
    number: usize,
    name: &'t str,
    dir: &'t Path,
    blocks: Blocks,
    comments: Comments,
    /// Whether a command came yet (blank lines before it are not kept).
    started: bool,
    /// The last line (the text after the last line end) was read.
    read_all: bool,
    /// The text is read to its end; these errors are left to report.
    unclosed: Option<std::vec::IntoIter<usize>>,
    /// The first pass of a streamed script: lines shared by their text,
    /// and the plan for the second pass.
    sharing: Option<Sharing>,
    /// The second pass: the first one's plan, followed.
    replay: Option<Replay<'t>>,
    /// A line [`Parsing::next_checked`] read and found not seen before,
    /// for the general path to parse.
    unseen: Option<&'t [u8]>,
}

/// The parsed lines of a first pass, by their text, and the plan it
/// writes for the second.
struct Sharing {
    by_text: FxHashMap<Box<[u8]>, u32>,
    parsed: Vec<Arc<Parsed>>,
    /// `None` when there is no second pass (`check`).
    steps: Option<Vec<Step>>,
    /// Whether the last step is a run of lines to parse again.
    in_text_run: bool,
    /// Where the text after the last command line starts, and that
    /// line's number: where a run of lines to parse again begins.
    resume: (usize, usize),
}

/// How many different lines a pass remembers: a script's repeated lines
/// (a generated exercise, a replay) are few, and memory stays bounded.
const SEEN_LINES: usize = 4096;

/// The most steps a plan reserves before its first (8 MiB).
const PLAN_RESERVE: usize = 1 << 20;

/// How the second pass over a streamed script finds its lines: the lines
/// the first pass shared are taken as they are, without reading their
/// text again; the others are parsed again from their text.
#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    shared: Vec<Arc<Parsed>>,
}

/// One step of a [`Plan`], in eight bytes: either the shared line `slot`
/// as line `number`, or a run of lines to parse again from byte `offset`,
/// the line before it being `number`. A run ends before the line of the
/// next step, or at the end of the text. (A script is at most
/// [`MAX_SCRIPT_BYTES`], so an offset or a line number fits in 31 bits.)
#[derive(Debug, Clone, Copy)]
struct Step {
    number: u32,
    /// The high bit marks a shared line; the rest is its slot or the offset.
    at: u32,
}

const SHARED: u32 = 1 << 31;

impl Step {
    fn shared(number: usize, slot: u32) -> Self {
        Step {
            number: number as u32,
            at: slot | SHARED,
        }
    }

    fn text_from(offset: usize, number_before: usize) -> Self {
        Step {
            number: number_before as u32,
            at: offset as u32,
        }
    }

    fn slot(self) -> Option<usize> {
        (self.at & SHARED != 0).then_some((self.at & !SHARED) as usize)
    }
}

/// The second pass's place in the plan.
struct Replay<'t> {
    plan: &'t Plan,
    next: usize,
    in_text_run: bool,
}

/// What the second pass does next.
enum Replayed {
    /// Take this shared line, as line `number`.
    Shared(usize, Arc<Parsed>),
    /// Parse the text again from `offset`, the line before being `number`.
    Resume(usize, usize),
    /// Go on parsing the text.
    Read,
    Done,
}

impl Replay<'_> {
    /// The next step, `last` being the number of the line read last.
    fn advance(&mut self, last: usize) -> Replayed {
        let Some(&step) = self.plan.steps.get(self.next) else {
            return match self.in_text_run {
                true => Replayed::Read,
                false => Replayed::Done,
            };
        };
        if self.in_text_run && step.number as usize != last + 1 {
            return Replayed::Read;
        }
        if let Some((number, parsed)) = self.take_shared() {
            return Replayed::Shared(number, parsed);
        }
        self.next += 1;
        self.in_text_run = true;
        Replayed::Resume(step.at as usize, step.number as usize)
    }

    /// The next step, taken if it is a shared line: its number and parse.
    #[inline]
    fn take_shared(&mut self) -> Option<(usize, Arc<Parsed>)> {
        let step = *self.plan.steps.get(self.next)?;
        let slot = step.slot()?;
        self.next += 1;
        self.in_text_run = false;
        Some((step.number as usize, Arc::clone(&self.plan.shared[slot])))
    }
}

impl<'t> Parsing<'t> {
    fn new(loader: Loader, text: &'t [u8], name: &'t str, dir: &'t Path) -> Self {
        Parsing {
            loader,
            text,
            rest: text,
            number: 0,
            name,
            dir,
            blocks: Blocks::default(),
            comments: Comments::new(),
            started: false,
            read_all: false,
            unclosed: None,
            sharing: None,
            replay: None,
            unseen: None,
        }
    }

    /// Shares the parsed form of lines of the same text (the script's
    /// own, not a sourced file's) and, `planning`, writes the plan for a
    /// second pass.
    fn sharing(mut self, planning: bool) -> Self {
        // Sized once for a script of short lines: growing by doubling
        // would copy the plan and touch twice its pages. What is never
        // written to is never in memory.
        let steps = (self.text.len() / 8).min(PLAN_RESERVE);
        self.sharing = Some(Sharing {
            by_text: FxHashMap::default(),
            parsed: Vec::new(),
            steps: planning.then(|| Vec::with_capacity(steps)),
            in_text_run: false,
            resume: (0, 0),
        });
        self
    }

    /// The second pass over a script, following the first one's plan.
    fn replaying(mut self, plan: &'t Plan) -> Self {
        self.replay = Some(Replay {
            plan,
            next: 0,
            in_text_run: false,
        });
        self
    }

    /// The plan the first pass wrote.
    fn plan(&mut self) -> Plan {
        let Some(sharing) = self.sharing.take() else {
            return Plan::default();
        };
        Plan {
            steps: sharing.steps.unwrap_or_default(),
            shared: sharing.parsed,
        }
    }

    /// The next line: its number, its text (empty for a shared line of
    /// the second pass, which is not read again) and its parse.
    #[allow(clippy::type_complexity)]
    fn next_line(
        &mut self,
    ) -> Option<(
        usize,
        &'t [u8],
        Result<Option<Arc<Parsed>>, (Option<String>, SyntaxError)>,
    )> {
        if let Some(replay) = &mut self.replay {
            match replay.advance(self.number) {
                Replayed::Shared(number, parsed) => {
                    self.number = number;
                    return Some((number, &[], Ok(Some(parsed))));
                }
                Replayed::Resume(offset, number) => {
                    self.rest = &self.text[offset..];
                    self.number = number;
                    self.read_all = false;
                }
                Replayed::Read => {}
                Replayed::Done => return None,
            }
        }
        let (raw, looked_up) = match self.unseen.take() {
            Some(raw) => (raw, true),
            None => (self.next_raw()?, false),
        };
        let parsed = self.parse(raw, looked_up);
        Some((self.number, raw, parsed))
    }

    /// The second pass's common line, taken the short way: a shared line
    /// outside any block, with no comments before it (what the general
    /// path would make of it too: a shared line is never a block's
    /// `repeat` or `end`).
    fn next_shared(&mut self) -> Option<Line> {
        let replay = self.replay.as_mut()?;
        if replay.in_text_run || !self.blocks.open.is_empty() || !self.comments.is_empty() {
            return None;
        }
        let (number, parsed) = replay.take_shared()?;
        self.number = number;
        self.started = true;
        Some(Line {
            number,
            comments: Comments::new(),
            parsed,
        })
    }

    /// The next line as the first pass checks it: `Ok(None)` for a line
    /// seen before outside any block, with no comments before it, whose
    /// parse is shared already and is not built again; otherwise the line,
    /// as [`Iterator::next`] gives it.
    fn next_checked(&mut self) -> Option<Result<Option<Line>, ScriptError>> {
        if self.seen_again() {
            return Some(Ok(None));
        }
        self.next().map(|item| item.map(Some))
    }

    /// Whether the next line is a line seen before, outside any block and
    /// with no comments before it: then it is read and its step written.
    /// Any other line read is left in `unseen`.
    fn seen_again(&mut self) -> bool {
        if self.sharing.is_none()
            || self.unclosed.is_some()
            || !self.blocks.open.is_empty()
            || !self.comments.is_empty()
        {
            return false;
        }
        let Some(raw) = self.next_raw() else {
            return false;
        };
        match self.seen_slot(raw) {
            Some(_) => {
                self.started = true;
                true
            }
            None => {
                self.unseen = Some(raw);
                false
            }
        }
    }

    /// The slot of a line parsed before with this text, its step written;
    /// `None` for a line not seen before. (Inlined in both callers: the
    /// first pass runs it on every line.)
    #[inline(always)]
    fn seen_slot(&mut self, raw: &[u8]) -> Option<usize> {
        let slot = *self.sharing.as_ref()?.by_text.get(raw)?;
        self.note_step(Some(slot));
        Some(slot as usize)
    }

    /// The line parsed, or the same line parsed before. Only a line with
    /// no `$` and no block or source is shared: its parse depends on its
    /// text alone. What it sets is known since the first such line
    /// parsed (and the second pass checks no variable: see
    /// [`Script::stream`]).
    fn parse(
        &mut self,
        raw: &[u8],
        looked_up: bool,
    ) -> Result<Option<Arc<Parsed>>, (Option<String>, SyntaxError)> {
        if let Some(slot) = (!looked_up).then(|| self.seen_slot(raw)).flatten() {
            let sharing = self.sharing.as_ref().expect("a seen line was shared");
            return Ok(Some(Arc::clone(&sharing.parsed[slot])));
        }
        let Some(parsed) = self.loader.parse_line(raw, self.name, self.dir)? else {
            return Ok(None);
        };
        let parsed = Arc::new(parsed);
        let shareable = !raw.contains(&b'$')
            && !matches!(
                parsed.command,
                Command::Source(_) | Command::Repeat(_) | Command::BlockEnd(_)
            );
        let slot = match &mut self.sharing {
            Some(sharing) if shareable && sharing.parsed.len() < SEEN_LINES => {
                let slot = sharing.parsed.len() as u32;
                sharing.by_text.insert(raw.into(), slot);
                sharing.parsed.push(Arc::clone(&parsed));
                Some(slot)
            }
            _ => None,
        };
        self.note_step(slot);
        Ok(Some(parsed))
    }

    /// Writes the plan's step for the command line just parsed: a shared
    /// line, unless comments kept before it must be read again with it.
    fn note_step(&mut self, slot: Option<u32>) {
        let Some(sharing) = &mut self.sharing else {
            return;
        };
        let Some(steps) = &mut sharing.steps else {
            return;
        };
        match slot.filter(|_| self.comments.is_empty()) {
            Some(slot) => {
                steps.push(Step::shared(self.number, slot));
                sharing.in_text_run = false;
            }
            None if sharing.in_text_run => {}
            None => {
                let (offset, number) = sharing.resume;
                steps.push(Step::text_from(offset, number));
                sharing.in_text_run = true;
            }
        }
        sharing.resume = (self.text.len() - self.rest.len(), self.number);
    }

    fn error(&self, line: usize, command: Option<String>, error: SyntaxError) -> ScriptError {
        ScriptError {
            file: self.name.to_string(),
            line,
            command,
            error,
        }
    }

    /// The next line of the text, without its end (`\n`, `\r\n` or a
    /// lone `\r`, as old Mac files have); `None` past the last.
    fn next_raw(&mut self) -> Option<&'t [u8]> {
        if self.read_all {
            return None;
        }
        self.number += 1;
        let rest = self.rest;
        match memchr::memchr2(b'\n', b'\r', rest) {
            Some(at) => {
                let crlf = rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n');
                self.rest = &rest[at + 1 + usize::from(crlf)..];
                Some(&rest[..at])
            }
            None => {
                self.read_all = true;
                self.rest = &rest[rest.len()..];
                Some(rest)
            }
        }
    }

    /// The comments after the last command, once every line is read.
    fn tail(&mut self) -> Comments {
        finish_comments(std::mem::take(&mut self.comments))
    }
}

impl Iterator for Parsing<'_> {
    type Item = Result<Line, ScriptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(line) = self.next_shared() {
            return Some(Ok(line));
        }
        loop {
            if let Some(unclosed) = &mut self.unclosed {
                let open = unclosed.next()?;
                let error = SyntaxError::new("repeat without its end");
                return Some(Err(self.error(open, Some(open_name()), error)));
            }
            let Some((number, raw, parsed)) = self.next_line() else {
                self.unclosed = Some(self.blocks.unclosed().into_iter());
                continue;
            };
            let placed = parsed.and_then(|parsed| match parsed {
                Some(parsed) => {
                    self.started = true;
                    self.blocks.add(Line {
                        number,
                        comments: std::mem::take(&mut self.comments),
                        parsed,
                    })
                }
                None => {
                    if self.loader.keep_comments {
                        self.started |= keep_comment(&mut self.comments, raw, self.started);
                    }
                    Ok(None)
                }
            });
            match placed {
                Ok(Some(line)) => return Some(Ok(line)),
                Ok(None) => {}
                Err((command, error)) => {
                    if opens_a_block(raw) {
                        self.blocks.open_broken();
                    }
                    return Some(Err(self.error(number, command, error)));
                }
            }
        }
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
    // Sized to the file up front: growing by doubling would leave the
    // smaller copies behind in the allocator.
    let size = file.metadata().map_or(0, |m| m.len()).min(MAX_SCRIPT_BYTES);
    let mut text = Vec::with_capacity(size as usize + 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line as the interpreter sees it: number, echo, comments.
    fn shown(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|line| {
                let echo = match &line.echo {
                    Echo::Ready(shown) => shown.text().to_string(),
                    Echo::Expand(words) => {
                        words.iter().map(source_text).collect::<Vec<_>>().join(" ")
                    }
                };
                let body = match &line.command {
                    Command::Repeat(repeat) => format!(" {{{}}}", shown(&repeat.body).join("; ")),
                    _ => String::new(),
                };
                format!("{}: {echo}{body} {:?}", line.number, line.comments)
            })
            .collect()
    }

    const TEXT: &[u8] = b"\xef\xbb\xbf# a pair\r\nsocketpair a b\r\nlet v x\n\n# twice\rrepeat 2 --as i\n  sendall a ${v}\n  let v x\n  repeat 1\n    expect b x\n  end\nend\nlet v x\nsendall a 'y z'\n# the end\n";

    #[test]
    fn a_streamed_script_yields_the_lines_a_parsed_one_holds() {
        let held = Loader::new(&[])
            .keeping_comments(true)
            .parse(TEXT, "t.sock", None)
            .unwrap();
        let streamed = Loader::new(&[])
            .keeping_comments(true)
            .streaming()
            .parse(TEXT, "t.sock", None)
            .unwrap();
        assert!(streamed.lines.is_empty());
        assert_eq!(streamed.commands, held.lines.len());
        assert_eq!(streamed.tail, held.tail);
        let again: Vec<Line> = streamed.stream().unwrap().map(Result::unwrap).collect();
        assert_eq!(shown(&again), shown(&held.lines));
        assert_eq!(shown(&again).len(), 5, "{:#?}", shown(&again));
    }

    #[test]
    fn lines_of_the_same_text_share_one_parse_and_those_with_a_dollar_do_not() {
        let text =
            b"socketpair a b\nsendall a x\nlet v x\nsendall a x\nsendall a ${v}\nsendall a ${v}\n";
        let script = Loader::new(&[])
            .streaming()
            .parse(text, "t.sock", None)
            .unwrap();
        let lines: Vec<Line> = script.stream().unwrap().map(Result::unwrap).collect();
        assert!(Arc::ptr_eq(&lines[1].parsed, &lines[3].parsed));
        assert!(!Arc::ptr_eq(&lines[4].parsed, &lines[5].parsed));
    }

    #[test]
    fn a_streamed_script_with_an_error_is_rejected_whole_as_before() {
        let text = b"socketpair a b\nsendall a x\nbogus\nrepeat 2\nsendall a ${nope}\n";
        let held = Loader::new(&[]).parse(text, "t.sock", None).unwrap_err();
        let streamed = Loader::new(&[])
            .streaming()
            .parse(text, "t.sock", None)
            .unwrap_err();
        assert_eq!(streamed, held);
        let lines: Vec<usize> = streamed.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5], "{streamed:?}");
    }

    /// The second pass, run from the first one's plan, against a script
    /// held parsed: the same lines, numbers and comments.
    fn assert_streams_as_held(text: &[u8], keep_comments: bool) {
        let held = Loader::new(&[])
            .keeping_comments(keep_comments)
            .parse(text, "t.sock", None)
            .unwrap();
        let streamed = Loader::new(&[])
            .keeping_comments(keep_comments)
            .streaming()
            .parse(text, "t.sock", None)
            .unwrap();
        assert_eq!(streamed.tail, held.tail);
        let again: Vec<Line> = streamed.stream().unwrap().map(Result::unwrap).collect();
        assert_eq!(
            shown(&again),
            shown(&held.lines),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }

    #[test]
    fn past_the_shared_lines_limit_the_rest_is_parsed_again_in_place() {
        let mut text = String::from("socketpair a b\n");
        for n in 0..SEEN_LINES + 50 {
            text.push_str(&format!("print {n}\n\nsendall a x\n# {n}\n"));
            if n % 1000 == 0 {
                text.push_str("repeat 2\n  sendall a x\n  print in\nend\n");
            }
        }
        text.push_str("print last");
        for keep_comments in [false, true] {
            assert_streams_as_held(text.as_bytes(), keep_comments);
        }
    }

    /// A script from these lines, its `repeat` blocks closed, with mixed
    /// line ends and perhaps none after the last line.
    fn script_of(tokens: &[(usize, usize)], last_end: bool) -> Vec<u8> {
        // The last two open and close a block.
        const LINES: [&str; 10] = [
            "sendall a x",
            "expect b x",
            "sendall a ${v}",
            "# a comment",
            "",
            "   ",
            "let v y",
            "print 'a b'",
            "repeat 2 --as i",
            crate::cmd::repeat::END.name,
        ];
        const ENDS: [&str; 3] = ["\n", "\r\n", "\r"];
        let mut lines = vec!["let v x"];
        let mut depth = 0;
        for &(line, _) in tokens {
            match line {
                8 => depth += 1,
                9 if depth == 0 => continue,
                9 => depth -= 1,
                _ => {}
            }
            lines.push(LINES[line]);
        }
        lines.extend(std::iter::repeat_n(LINES[9], depth));
        let mut text = Vec::new();
        for (at, line) in lines.iter().enumerate() {
            text.extend_from_slice(line.as_bytes());
            let end = tokens.get(at).map_or(0, |&(_, end)| end);
            if at + 1 < lines.len() || last_end {
                text.extend_from_slice(ENDS[end].as_bytes());
            }
        }
        text
    }

    proptest::proptest! {
        #[test]
        fn any_script_streams_as_it_is_held(
            tokens in proptest::collection::vec((0..10usize, 0..3usize), 0..60),
            last_end: bool,
            keep_comments: bool,
        ) {
            assert_streams_as_held(&script_of(&tokens, last_end), keep_comments);
        }
    }
}

//! Loading a script: every line split and parsed before the first one runs.
//!
//! A script with a syntax error is rejected whole, so a typo on the last
//! line never leaves a half-run exercise behind. Sources with a written-out
//! path are loaded and checked here too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cmd::{Command, Scope};
use crate::errors::file_error;
use crate::lexer::{push_quoted, split_line, Context, Field, Piece, Var, Word};
use crate::parser::{Arg, SyntaxError};

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// How failure lines name it (`echo.sock:12: ...`).
    pub name: String,
    /// The directory `source` paths are relative to.
    pub dir: PathBuf,
    pub lines: Vec<Line>,
}

/// One command line of a script.
#[derive(Debug)]
pub struct Line {
    pub number: usize,
    pub echo: Echo,
    pub command: Command,
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
        match &self.echo {
            Echo::Ready(text) => text.split(' ').next().unwrap_or("?"),
            Echo::Expand(words) => words.first().and_then(Word::literal).unwrap_or("?"),
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
            write!(f, "{}: ", crate::parser::shorten_words(command))?;
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

/// Loads and parses a script file.
pub struct Loader<'a> {
    pub args: &'a [String],
    /// Canonical paths of the scripts being loaded, to catch `source` loops.
    stack: Vec<PathBuf>,
    /// Whether the shell's own commands are allowed (a typed line).
    scope: Scope,
}

impl<'a> Loader<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Loader {
            args,
            stack: Vec::new(),
            scope: Scope::Language,
        }
    }

    /// A loader for lines typed at the shell's prompt, where `record` and
    /// `set` are commands too (files they source are scripts all the same).
    pub fn for_shell(args: &'a [String]) -> Self {
        Loader {
            scope: Scope::Shell,
            ..Loader::new(args)
        }
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
        result.map(|lines| Script {
            name: name.to_string(),
            dir,
            lines,
        })
    }

    fn parse_lines(
        &mut self,
        text: &[u8],
        name: &str,
        dir: &Path,
    ) -> Result<Vec<Line>, Vec<ScriptError>> {
        if let Some(nul) = text.iter().take(8192).position(|&b| b == 0) {
            let error = SyntaxError::new("a NUL byte: this looks like a binary file, not a script");
            return Err(vec![ScriptError {
                file: name.to_string(),
                line: 1 + text[..nul].iter().filter(|&&b| b == b'\n').count(),
                command: None,
                error,
            }]);
        }
        let mut lines = Vec::with_capacity(text.iter().filter(|&&b| b == b'\n').count() + 1);
        let mut errors = Vec::new();
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            let number = index + 1;
            let at = |command: Option<String>, error: SyntaxError| ScriptError {
                file: name.to_string(),
                line: number,
                command,
                error,
            };
            match self.parse_line(raw, name, dir) {
                Ok(Some(line)) => lines.push(Line { number, ..line }),
                Ok(None) => {}
                Err((command, error)) => errors.push(at(command, error)),
            }
            if errors.len() >= MAX_ERRORS {
                let message = format!(
                    "stopped after {MAX_ERRORS} errors: the rest of the script was not checked"
                );
                errors.push(at(None, SyntaxError::new(message)));
                break;
            }
        }
        if errors.is_empty() {
            Ok(lines)
        } else {
            Err(errors)
        }
    }

    fn parse_line(
        &mut self,
        raw: &[u8],
        name: &str,
        dir: &Path,
    ) -> Result<Option<Line>, (Option<String>, SyntaxError)> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
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
        let words = split_line(text, &Context { args: self.args })
            .map_err(|e| (known_command_name(text), e.into()))?;
        if words.is_empty() {
            return Ok(None);
        }
        let command_name = words[0].literal().map(str::to_string);
        let mut command =
            Command::parse_in(&words, self.scope).map_err(|e| (command_name.clone(), e))?;
        self.load_source(&mut command, name, dir)
            .map_err(|e| (command_name.clone(), e))?;
        Ok(Some(Line {
            number: 0,
            echo: Echo::new(words),
            command,
        }))
    }

    /// Loads a `source` (also one wrapped in nothing else) whose path is known now.
    fn load_source(
        &mut self,
        command: &mut Command,
        name: &str,
        dir: &Path,
    ) -> Result<(), SyntaxError> {
        let Command::Source(source) = command else {
            return Ok(());
        };
        let Arg::Ready(path) = &source.path else {
            return Ok(());
        };
        let script = self.load_file(&dir.join(path), &display_beside(name, path))?;
        source.loaded = Some(Arc::new(script));
        Ok(())
    }

    /// Reads and parses a sourced file; its own errors become this line's error.
    pub fn load_file(&mut self, path: &Path, display: &str) -> Result<Script, SyntaxError> {
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
        // A device or a pipe could be endless (/dev/zero) or never end (/dev/stdin).
        if !canonical.is_file() {
            return Err(SyntaxError::new(format!("{display} is not a regular file")));
        }
        let text = read_script_file(path)
            .map_err(|e| SyntaxError::new(file_error("read", Path::new(display), &e)))?;
        let scope = std::mem::replace(&mut self.scope, Scope::Language);
        let parsed = self.parse(&text, display, Some(path));
        self.scope = scope;
        parsed.map_err(|errors| {
            let first = &errors[0];
            SyntaxError::new(format!("in {first}"))
        })
    }
}

/// The largest script sockrepl reads: far beyond any real script, but a
/// stream such as /dev/zero must not fill the memory.
const MAX_SCRIPT_BYTES: u64 = 1 << 30;

/// Reads a script, refusing one larger than `MAX_SCRIPT_BYTES`.
pub fn read_script_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SCRIPT_BYTES + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    }
    Ok(text)
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
            Piece::Var(Var::Tmp) => "${tmp}".to_string(),
            Piece::Var(Var::Handle { handle, field }) => {
                let field = match field {
                    Field::Addr => "addr",
                    Field::Host => "host",
                    Field::Port => "port",
                    Field::Peer => "peer",
                };
                format!("${{{handle}.{field}}}")
            }
        })
        .collect()
}

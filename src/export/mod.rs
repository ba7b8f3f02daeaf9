//! `sockrepl export FILE [ARG...]`: the script as the Python 3 program a
//! student of the lecture would write, making the same calls in the same
//! order, standard library only (the blueprint: docs/export-design.md).
//!
//! This is the driver: it loads the script with its comments, walks its
//! lines with a model of the handles (the Python name and kind of each),
//! lets each command write its own Python ([`Export`], implemented next to
//! each command in `cmd/`), and assembles the program: the docstring, the
//! imports and helpers the lines used, the arguments, then the lines.
//! The exporter never runs the script, so no value the kernel chose gets
//! into the text: `--stable` changes nothing.

pub mod expr;
pub mod helpers;
pub mod python;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::kind::Kind;
use crate::script::{Line, Loader, Script};
use python::{Names, Writer};

/// What a command does in the program: writes its Python.
pub trait Export {
    fn export(&self, out: &mut Program) -> Result<(), Refused>;
}

/// Why a line cannot be exported faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Refused {
    pub fn new(reason: impl Into<String>) -> Self {
        Refused(reason.into())
    }
}

/// What a handle is at a given line, as far as the program needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    Socket(Kind),
    /// A socket with TLS over it.
    Tls(Kind),
    Program,
}

/// The global flags `export` passes on as the program's defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub args: Vec<String>,
    pub timeout: Option<String>,
    pub sets: Vec<(String, String)>,
    pub allow_exec: bool,
    pub netns: bool,
}

/// The program being written.
pub struct Program {
    pub w: Writer,
    names: Names,
    kinds: HashMap<String, HandleKind>,
    helpers: BTreeSet<&'static str>,
    imports: BTreeSet<&'static str>,
    /// The highest `${N}` the script uses.
    max_arg: usize,
    env: BTreeSet<String>,
    asserts: bool,
    /// The raw lines of each file being written (the script, the sources
    /// inlined), for trailing comments, and its name for refusals.
    files: Vec<(String, Vec<String>)>,
    /// The Python list holding the ARGs of each inlined `source` whose
    /// ARGs are known only when it runs.
    pub source_args: Vec<String>,
    line: usize,
    command: String,
    counter: usize,
    /// Whether the script uses `timeout` (sockets are then tracked).
    pub tracks_timeouts: bool,
    /// Stream handles a `connect` was written for.
    pub connected: HashSet<String>,
    /// Handles bound to a Unix path, removed at their close.
    pub bound: HashSet<String>,
    /// The script sends lines: `NEWLINE` is defined at the top.
    pub uses_newline: bool,
    /// `trace on` is in effect.
    pub tracing: bool,
    /// Variables whose value the exporter knows at this line (`let NAME
    /// literal`, and no other setter since): a `source` ARG that names
    /// a handle through one can still be inlined.
    pub constants: HashMap<String, Option<Vec<u8>>>,
}

impl Program {
    fn new(tracks_timeouts: bool) -> Self {
        Program {
            w: Writer::default(),
            names: Names::new(helpers::defined_names()),
            kinds: HashMap::new(),
            helpers: BTreeSet::new(),
            imports: BTreeSet::new(),
            max_arg: 0,
            env: BTreeSet::new(),
            asserts: false,
            files: Vec::new(),
            source_args: Vec::new(),
            line: 0,
            command: String::new(),
            counter: 0,
            tracks_timeouts,
            connected: HashSet::new(),
            bound: HashSet::new(),
            uses_newline: false,
            tracing: false,
            constants: HashMap::new(),
        }
    }

    /// Writes one line of Python at the current indentation.
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.w.line(text.as_ref());
    }

    pub fn import(&mut self, module: &'static str) {
        self.imports.insert(module);
    }

    /// Uses a helper of `helpers.py` (with what it needs).
    pub fn helper(&mut self, name: &'static str) {
        debug_assert!(helpers::all().iter().any(|h| h.name == name), "{name}");
        self.helpers.insert(name);
    }

    /// The program checks something with `assert`.
    pub fn asserts(&mut self) {
        self.asserts = true;
    }

    /// A name for a temporary (`m_2`...), new each time.
    pub fn temporary(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}_{}", self.counter)
    }

    /// The Python variable of an existing handle.
    pub fn handle(&mut self, name: &str) -> String {
        self.names.handle(name)
    }

    /// A handle made at this line: its variable, and its kind from now on.
    pub fn new_handle(&mut self, name: &str, kind: HandleKind) -> String {
        if self.kinds.contains_key(name) {
            // sockrepl refuses a name in use: the run fails at this line.
            self.fail(&format!(
                "{name} is taken: close it first, or pick another name"
            ));
        }
        self.kinds.insert(name.to_string(), kind);
        self.names.handle(name)
    }

    /// What the handle is at this line, if the exporter saw it made.
    pub fn kind_of(&self, name: &str) -> Option<HandleKind> {
        self.kinds.get(name).copied()
    }

    /// The socket kind of a handle (a TLS handle's socket too).
    pub fn socket_kind(&self, name: &str) -> Option<Kind> {
        match self.kind_of(name)? {
            HandleKind::Socket(kind) | HandleKind::Tls(kind) => Some(kind),
            HandleKind::Program => None,
        }
    }

    /// Whether the handle is a plain socket (no TLS, not a program): the
    /// lecture's calls work on it as they are.
    pub fn is_plain(&self, name: &str) -> bool {
        !matches!(
            self.kind_of(name),
            Some(HandleKind::Tls(_) | HandleKind::Program)
        )
    }

    /// The handle is something else from now on (`tls` wraps a socket).
    pub fn set_kind(&mut self, name: &str, kind: HandleKind) {
        self.kinds.insert(name.to_string(), kind);
    }

    /// A new socket follows the session's default timeout (written only
    /// when the script changes that default with `timeout`).
    pub fn track(&mut self, socket: &str) {
        if self.tracks_timeouts {
            self.helper("track");
            self.line(format!("track({socket})"));
        }
    }

    /// The socket has a timeout of its own from now on.
    pub fn untrack(&mut self, socket: &str) {
        if self.tracks_timeouts {
            self.helper("track");
            self.line(format!("own_timeout({socket})"));
        }
    }

    /// Shows what a receive returned, as a Python program would, and
    /// keeps it in the `--as` variable.
    pub fn show_data(&mut self, hex: bool, capture: Option<&str>) {
        if hex {
            self.line("print(data.hex(' '))");
        } else {
            self.line("print(repr(data))");
        }
        if let Some(name) = capture {
            self.line(format!("{} = data", python::variable(name)));
            self.constants.insert(name.to_string(), None);
        }
    }

    /// Loads a sourced file whose ARGs were not written out: with `known`
    /// (their values, when the exporter knows them all) filled in as it
    /// loads; else its `${1}`... read the list the program builds.
    pub fn load_source(
        &mut self,
        path: &Path,
        args: usize,
        known: Option<Vec<String>>,
    ) -> Result<Script, Refused> {
        let file = self.files.last().map(|f| f.0.clone()).unwrap_or_default();
        let display = crate::script::display_beside(&file, path);
        let dir = Path::new(&file).parent().unwrap_or(Path::new("."));
        let (texts, later) = match known {
            Some(texts) => (texts, 0),
            None if args >= 63 => (vec![String::new(); args], u64::MAX),
            None => (vec![String::new(); args], (1u64 << (args + 1)) - 1),
        };
        Loader::new(&[])
            .for_check()
            .keeping_comments(true)
            .sourced_with(texts, later)
            .load_file(&dir.join(path), &display)
            .map_err(|e| Refused::new(e.message))
    }

    /// A word's text when the exporter knows it: written out, or exactly
    /// one variable that only a `let` with a written-out value has set.
    pub fn known_text(&self, word: &crate::lexer::Word) -> Option<String> {
        use crate::lexer::{Piece, Var, Word};
        match word {
            Word::Text(text) => Some(text.clone()),
            Word::Template(pieces) => match pieces.as_slice() {
                [Piece::Var(Var::Variable(name))] => {
                    let bytes = self.constants.get(name)?.as_ref()?;
                    String::from_utf8(bytes.clone()).ok()
                }
                _ => None,
            },
        }
    }

    /// The handles open at this line.
    pub fn live_handles(&self) -> HashSet<String> {
        self.kinds.keys().cloned().collect()
    }

    /// Forgets a closed handle.
    pub fn forget(&mut self, name: &str) {
        self.kinds.remove(name);
    }

    /// A `fail(...)` line: what sockrepl refuses when the line runs.
    pub fn fail(&mut self, message: &str) {
        self.helper("fail");
        let literal = python::str_repr(message);
        self.line(format!("fail({literal})"));
    }

    /// A refusal naming the line: `FILE:LINE: COMMAND: cannot export: REASON`.
    pub fn refusal(&self, reason: &str) -> String {
        let file = self.files.last().map(|f| f.0.as_str()).unwrap_or("?");
        format!(
            "{file}:{}: {}: cannot export: {reason}",
            self.line, self.command
        )
    }

    /// Writes a block of script lines (the body of a `repeat`, a source).
    pub fn lines(&mut self, lines: &[Line]) -> Result<(), Refused> {
        for line in lines {
            self.write_line(line)?;
        }
        Ok(())
    }

    fn write_line(&mut self, line: &Line) -> Result<(), Refused> {
        self.comments(&line.comments);
        self.line = line.number;
        self.command = line.command_name().to_string();
        if let Some(comment) = self.trailing_comment(line.number) {
            self.line(comment);
        }
        use crate::cmd::Command;
        let command: &Command = &line.command;
        command
            .export(self)
            .map_err(|Refused(reason)| Refused(self.refusal(&reason)))
    }

    /// The comment lines before a command, in place; a run of blank lines
    /// as one.
    pub fn comments(&mut self, comments: &[String]) {
        for comment in comments {
            if comment.is_empty() {
                self.w.blank();
            } else {
                self.w.line(comment);
            }
        }
    }

    /// A `# comment` after a command on its line, to go above its Python.
    fn trailing_comment(&self, number: usize) -> Option<String> {
        let raw = self.files.last()?.1.get(number.checked_sub(1)?)?;
        trailing_comment(raw)
    }

    /// Inlines a sourced file between `# source FILE` and `# end of FILE`.
    pub fn inline(&mut self, script: &Script) -> Result<(), Refused> {
        let raw = std::fs::read(&script.name)
            .map(|t| {
                String::from_utf8_lossy(&t)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.line(format!("# source {}", script.name));
        self.files.push((script.name.clone(), raw));
        let result = self.lines(&script.lines);
        self.comments(&script.tail);
        self.files.pop();
        self.line(format!("# end of {}", script.name));
        result
    }

    /// The script uses `${N}`.
    pub fn uses_arg(&mut self, n: usize) {
        self.max_arg = self.max_arg.max(n);
    }

    /// The script uses `${env.NAME}`.
    pub fn uses_env(&mut self, name: &str) {
        self.env.insert(name.to_string());
    }
}

/// The `# comment` that ends a command line, outside quotes.
fn trailing_comment(raw: &str) -> Option<String> {
    let trimmed = raw.trim_start();
    if trimmed.starts_with('#') {
        return None;
    }
    let mut quote = None;
    let mut escaped = false;
    let mut previous = ' ';
    for (at, c) in raw.char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => escaped = true,
            (Some('"'), '"') => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if previous.is_whitespace() => {
                return Some(raw[at..].trim_end().to_string());
            }
            _ => {}
        }
        previous = c;
    }
    None
}

/// Whether any line (blocks and sources included) satisfies `test`.
fn any_line(lines: &[Line], test: &dyn Fn(&crate::cmd::Command) -> bool) -> bool {
    use crate::cmd::Command;
    lines.iter().any(|line| {
        test(&line.command)
            || match &line.command {
                Command::Repeat(repeat) => any_line(&repeat.body, test),
                Command::Source(source) => source
                    .loaded
                    .as_ref()
                    .is_some_and(|s| any_line(&s.lines, test)),
                _ => false,
            }
    })
}

/// What `export` ends with: the program, or the status and the lines to
/// print (syntax errors on stdout as `check` prints them, or a refusal).
pub enum Exported {
    Program(String),
    Rejected { status: i32, stdout: Vec<String> },
}

/// Exports the script at `file` with `options`.
pub fn export_file(file: &str, options: &Options) -> Exported {
    let path = Path::new(file);
    let text = match crate::script::read_script_file(path) {
        Ok(text) => text,
        Err(e) => {
            return Exported::Rejected {
                status: 2,
                stdout: vec![format!(
                    "sockrepl: {}",
                    crate::errors::file_error("read", path, &e)
                )],
            }
        }
    };
    // Rejected as `run` rejects it: with these ARGs and --set names.
    let given = options.sets.iter().map(|(name, _)| name.clone());
    if let Err(errors) = Loader::new(&options.args)
        .knowing(given)
        .parse(&text, file, Some(path))
    {
        return Exported::Rejected {
            status: 2,
            stdout: errors.iter().map(ToString::to_string).collect(),
        };
    }
    // Then loaded again with ${1}... and ${env.NAME} left symbolic.
    let script =
        match Loader::new(&[])
            .for_check()
            .keeping_comments(true)
            .parse(&text, file, Some(path))
        {
            Ok(script) => script,
            Err(errors) => {
                return Exported::Rejected {
                    status: 2,
                    stdout: errors.iter().map(ToString::to_string).collect(),
                }
            }
        };
    let raw: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .map(str::to_string)
        .collect();
    let tracks = any_line(&script.lines, &|c| {
        matches!(c, crate::cmd::Command::Timeout(_))
    });
    let mut program = Program::new(tracks);
    program.files.push((file.to_string(), raw));
    if let Err(Refused(message)) = program.lines(&script.lines) {
        return Exported::Rejected {
            status: 2,
            stdout: vec![message],
        };
    }
    program.comments(&script.tail);
    Exported::Program(program.finish(file, options))
}

impl Program {
    /// The whole program: docstring, imports, options and arguments,
    /// helpers, then the lines written.
    fn finish(mut self, file: &str, options: &Options) -> String {
        self.helper("duration");
        let used = helpers::closure(&self.helpers);
        let mut imports: BTreeSet<&str> = self.imports.iter().copied().collect();
        imports.extend(python::always_imported());
        for helper in &used {
            imports.extend(helper.imports.iter().map(String::as_str));
        }
        let name = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.to_string());
        let dir = Path::new(file)
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".to_string());
        let mut out = String::new();
        let mut put = |line: &str| {
            out.push_str(line);
            out.push('\n');
        };
        put("#!/usr/bin/env python3");
        put(&format!(
            "\"\"\"{}, exported by sockrepl {}.",
            file.replace('\\', "/").replace("\"\"\"", "'''"),
            env!("CARGO_PKG_VERSION")
        ));
        put("");
        put(&format!(
            "The same socket calls, in the same order, as `sockrepl run {name}`;"
        ));
        put("it exits 0 exactly when that run would. Run it with python3 (not -O:");
        put("the checks are asserts). Its options, before the script's arguments:");
        put("--set NAME=VALUE, --timeout DUR, --allow-exec, --netns.");
        put("\"\"\"");
        for module in python::modules() {
            if imports.contains(module) {
                put(&format!("import {module}"));
            }
        }
        put("");
        if self.asserts {
            put("if not __debug__:");
            put("    sys.exit('run this program without -O: its checks are asserts')");
            put("");
        }
        let defaults: Vec<String> = options.args.iter().map(|a| python::str_repr(a)).collect();
        let timeout = options.timeout.as_deref().unwrap_or("5s");
        put(&format!(
            "SCRIPT_DIR = {}  # where the script was: its programs' paths start there",
            python::str_repr(&dir)
        ));
        put(&format!(
            "DEFAULTS = [{}]  # the arguments given to export",
            defaults.join(", ")
        ));
        put(&format!(
            "ALLOW_EXEC, NETNS, TIMEOUT = {}, {}, {}",
            py_bool(options.allow_exec),
            py_bool(options.netns),
            python::str_repr(timeout)
        ));
        let sets: Vec<String> = options
            .sets
            .iter()
            .map(|(n, v)| {
                format!(
                    "{}: {}",
                    python::str_repr(n),
                    python::bytes_repr(v.as_bytes())
                )
            })
            .collect();
        put(&format!("SETS = {{{}}}", sets.join(", ")));
        for helper in &used {
            put("");
            put("");
            put(&helper.source);
        }
        put("");
        put("");
        put(PRELUDE.trim_end());
        if self.max_arg > 0 {
            let wanted: Vec<String> = (1..=self.max_arg).map(|n| format!("ARG{n}")).collect();
            put(&format!("if len(ARGS) < {}:", self.max_arg));
            put(&format!(
                "    print({}, file=sys.stderr)",
                python::str_repr(&format!("usage: {name} {}", wanted.join(" ")))
            ));
            put("    sys.exit(2)  # as sockrepl: a missing argument");
        }
        if !self.env.is_empty() {
            let names: Vec<String> = self.env.iter().map(|n| python::str_repr(n)).collect();
            put(&format!("for name in [{}]:", names.join(", ")));
            put("    if name not in os.environ:");
            put("        print(f'{name} is not set in the environment', file=sys.stderr)");
            put("        sys.exit(2)");
        }
        put("");
        if self.uses_newline {
            put("NEWLINE = b'\\n'  # what sendline ends a line with");
        }
        for line in &self.w.lines {
            put(line);
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }
}

fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// The program's command line, `--netns`, the arguments, the variables
/// given with `--set`, and the session's default timeout.
const PRELUDE: &str = r#"
argv = sys.argv[1:]
while argv and argv[0] in ('--set', '--timeout', '--allow-exec', '--netns'):
    flag = argv.pop(0)
    if flag == '--allow-exec':
        ALLOW_EXEC = True
    elif flag == '--netns':
        NETNS = True
    elif not argv:
        sys.exit(f'{flag} needs a value')
    elif flag == '--timeout':
        TIMEOUT = argv.pop(0)
    else:
        name, _, value = argv.pop(0).partition('=')
        SETS[name] = value.encode()
ARGS = argv + DEFAULTS[len(argv):]
for name, value in SETS.items():
    globals()['v_' + name] = value  # ${NAME}: bytes, as in sockrepl
if NETNS:
    if not hasattr(os, 'unshare'):
        print('--netns needs os.unshare (Python 3.12 or later)', file=sys.stderr)
        sys.exit(2)
    import fcntl
    import struct
    os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as lo:
        fcntl.ioctl(lo, 0x8914, struct.pack('16sh', b'lo', 1 | 0x40))  # SIOCSIFFLAGS: UP, RUNNING
socket.setdefaulttimeout(duration(TIMEOUT))  # sockrepl waits at most this for a call
"#;

#[cfg(test)]
mod tests {
    use super::trailing_comment;

    #[test]
    fn trailing_comments_are_found_outside_quotes() {
        assert_eq!(
            trailing_comment("send c hi # greet").as_deref(),
            Some("# greet")
        );
        assert_eq!(trailing_comment("send c 'a # b'"), None);
        assert_eq!(trailing_comment("send c a#b"), None);
        assert_eq!(trailing_comment("# only a comment"), None);
    }
}

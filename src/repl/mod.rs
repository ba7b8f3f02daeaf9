//! The interactive shell: read a line, run it through the same interpreter
//! as scripts, show the outcome, keep going after failures.
//!
//! Around that loop the shell adds what makes it quicker than typing
//! `socket` calls into Python: completion, synopsis hints and colours
//! (`helper`), history kept between sessions (`history`), live
//! notifications about the handles while the prompt waits (`notify`),
//! and `record FILE` to turn a session into a script (`record`).
//! Ctrl-C cancels a waiting command through `wait`'s self-pipe and leaves
//! every handle as it was.

mod helper;
mod history;
mod notify;
mod record;
mod state;
mod style;
mod syntax;
mod words;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{ColorMode, CompletionType, Config, Editor};

use crate::cmd::repeat::{END, REPEAT};
use crate::cmd::shell_only::{Record, SetNotify};
use crate::cmd::Command;
use crate::interp::{End, Interpreter};
use crate::script::{Loader, Script};
use crate::session::Session;
use helper::ShellHelper;
use record::Recorder;
use state::SharedState;
use style::Palette;

const PROMPT: &str = "sockrepl> ";
/// After this long, a waiting command says what it waits for.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// The prompt inside a `repeat` block, until its `end`.
const BLOCK_PROMPT: &str = "     ...> ";

type LineEditor = Editor<ShellHelper, FileHistory>;

/// Runs the shell until `exit`, `quit` or Ctrl-D; returns the exit status.
pub fn run(mut session: Session) -> i32 {
    session.interactive = true;
    let palette = Palette::detect();
    let shared = SharedState::new();
    let mut editor = match new_editor(palette, &shared) {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("sockrepl: cannot start the shell: {error}");
            return 2;
        }
    };
    if let Err(error) = crate::wait::catch_interrupts() {
        eprintln!("sockrepl: Ctrl-C will not cancel commands: {error}");
    }
    // A command that waits in silence looks hung: say what it waits for.
    crate::wait::announce_long_waits(LONG_WAIT);
    if let Err(error) = crate::wait::catch_terminations_at_prompt() {
        eprintln!("sockrepl: SIGTERM and SIGHUP will not clean up: {error}");
    }
    let terminal = QuietControlEcho::start();
    let history = open_history(&mut editor);
    let watcher = start_watcher(&mut editor, &shared, palette);
    println!(
        "sockrepl {}: type 'help' for the commands, Tab to complete, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let mut shell = Shell {
        interpreter: Interpreter::new(session, false),
        recorder: None,
        history,
        block: Block::default(),
    };
    let mut low_fds = LowFds::reserve();
    let status = loop {
        shared.publish(&shell.interpreter.session);
        low_fds.release();
        let read = editor.readline(shell.block.prompt());
        low_fds = LowFds::reserve();
        shared.pause();
        if let Some(signal) = crate::wait::termination() {
            break 128 + signal;
        }
        match read {
            Ok(text) => {
                if let Some(status) = shell.run_input(&mut editor, &text, &shared) {
                    break status;
                }
                if let Some(signal) = crate::wait::termination() {
                    break 128 + signal;
                }
            }
            // Ctrl-C at a continuation prompt drops the unfinished block.
            Err(ReadlineError::Interrupted) => shell.block = Block::default(),
            Err(ReadlineError::Eof) => break 0,
            Err(error) => {
                eprintln!("sockrepl: {error}");
                break 1;
            }
        }
    };
    shared.lock().stop = true;
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    if crate::wait::termination().is_some() {
        let session = &mut shell.interpreter.session;
        session.end_programs(crate::cli::TERMINATION_GRACE);
    }
    shell.interpreter.session.close_all();
    drop(terminal);
    status
}

/// Descriptor numbers kept free for the line editor. rustyline waits for
/// keys and notifications with select(2), which aborts the process
/// (FD_SETSIZE) for a descriptor of 1024 or more, and it makes a new pipe
/// for each prompt: once the session holds a thousand sockets that pipe
/// would be numbered past 1023. So a few low numbers are held (on
/// /dev/null) while commands run and let go just before each prompt; the
/// kernel gives the lowest free numbers, so the pipe gets them.
struct LowFds(Vec<std::fs::File>);

/// How many: the editor's signal pipe takes two; two more to spare.
const LOW_FDS: usize = 4;

impl LowFds {
    fn reserve() -> Self {
        let held = (0..LOW_FDS)
            .filter_map(|_| std::fs::File::open("/dev/null").ok())
            .filter(|file| std::os::fd::AsRawFd::as_raw_fd(file) < 1024)
            .collect();
        LowFds(held)
    }

    fn release(&mut self) {
        self.0.clear();
    }
}

/// Stops the terminal echoing while a command runs: no `^C` when Ctrl-C
/// cancels it (the `interrupted` line starts where it should), and lines
/// typed or pasted ahead are shown once, at their own prompt, not also
/// mixed into the command's output. Restored when the shell ends.
struct QuietControlEcho {
    original: Option<Termios>,
}

impl QuietControlEcho {
    fn start() -> Self {
        let Ok(original) = tcgetattr(std::io::stdin()) else {
            return QuietControlEcho { original: None };
        };
        let mut quiet = original.clone();
        quiet.local_flags &= !(LocalFlags::ECHO | LocalFlags::ECHOCTL);
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &quiet);
        QuietControlEcho {
            original: Some(original),
        }
    }
}

impl Drop for QuietControlEcho {
    fn drop(&mut self) {
        if let Some(original) = &self.original {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, original);
        }
    }
}

fn new_editor(palette: Palette, shared: &SharedState) -> rustyline::Result<LineEditor> {
    let config = Config::builder()
        .history_ignore_dups(true)?
        .max_history_size(5000)?
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        // A pasted script runs line by line as if typed, not as one
        // multi-line edit (the typed-ahead lines wait their turn).
        .bracketed_paste(false)
        // No cursor-position query before each prompt: its reply can be
        // mixed up with lines typed ahead, losing a character of them.
        .check_cursor_position(false)
        .color_mode(if palette.on {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor = LineEditor::with_config(config)?;
    editor.set_helper(Some(ShellHelper::new(shared.clone(), palette)));
    Ok(editor)
}

/// Loads the history file; `None` (history for this session only) when
/// there is no place for it.
fn open_history(editor: &mut LineEditor) -> Option<PathBuf> {
    let path = history::history_path()?;
    if let Err(error) = history::prepare(&path) {
        eprintln!(
            "sockrepl: history will not be kept ({}: {error})",
            path.display()
        );
        return None;
    }
    if let Err(error) = editor.load_history(&path) {
        eprintln!(
            "sockrepl: cannot read the history ({}: {error})",
            path.display()
        );
    }
    editor.set_auto_add_history(false);
    Some(path)
}

fn start_watcher(
    editor: &mut LineEditor,
    shared: &SharedState,
    palette: Palette,
) -> Option<JoinHandle<()>> {
    match editor.create_external_printer() {
        Ok(printer) => Some(notify::spawn(shared.clone(), printer, palette)),
        Err(error) => {
            eprintln!("sockrepl: no live notifications: {error}");
            None
        }
    }
}

struct Shell {
    interpreter: Interpreter,
    recorder: Option<Recorder>,
    history: Option<PathBuf>,
    /// The lines of a `repeat` block typed so far, run at its `end`.
    block: Block,
}

/// A `repeat` block being typed: its lines, and how many blocks are open.
#[derive(Default)]
struct Block {
    lines: Vec<String>,
    open: usize,
}

impl Block {
    fn prompt(&self) -> &'static str {
        if self.open > 0 {
            BLOCK_PROMPT
        } else {
            PROMPT
        }
    }

    /// Takes a typed line: `None` while a block is still open, else the
    /// text to run (the line itself, or the whole block at its `end`).
    fn take(&mut self, line: &str) -> Option<String> {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first == REPEAT.name {
            self.open += 1;
        } else if first == END.name && self.open > 0 {
            self.open -= 1;
        }
        if self.open == 0 && self.lines.is_empty() {
            return Some(line.to_string());
        }
        self.lines.push(line.to_string());
        if self.open > 0 {
            return None;
        }
        Some(std::mem::take(&mut self.lines).join("\n"))
    }
}

impl Shell {
    /// Runs what was entered, a pasted block line by line as if typed;
    /// `Some(status)` when the shell should end.
    fn run_input(
        &mut self,
        editor: &mut LineEditor,
        text: &str,
        shared: &SharedState,
    ) -> Option<i32> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let pasted = lines.len() > 1;
        for line in lines {
            if pasted {
                println!("{}{line}", self.block.prompt());
            }
            self.remember(editor, line);
            let Some(text) = self.block.take(line) else {
                continue;
            };
            if let Some(status) = self.run_line(&text, shared) {
                return Some(status);
            }
        }
        None
    }

    fn remember(&self, editor: &mut LineEditor, line: &str) {
        if line.starts_with(' ') {
            return; // as in bash's ignorespace: a way to keep a line out of the history
        }
        // Duplicates are skipped anywhere in the history, not only next to
        // each other: an earlier copy moves to the end (bash's erasedups).
        let earlier = editor.history().iter().any(|entry| entry == line);
        if earlier {
            let kept: Vec<String> = editor
                .history()
                .iter()
                .filter(|entry| *entry != line)
                .cloned()
                .collect();
            let history = editor.history_mut();
            let _ = history.clear();
            for entry in kept {
                let _ = history.add_owned(entry);
            }
        }
        if matches!(editor.add_history_entry(line), Ok(true)) {
            if let Some(path) = &self.history {
                // A removed copy means the file is rewritten, not appended to.
                let _ = if earlier {
                    editor.save_history(path)
                } else {
                    editor.append_history(path)
                };
            }
        }
    }

    fn run_line(&mut self, line: &str, shared: &SharedState) -> Option<i32> {
        let script = parse_typed_line(line, self.interpreter.session.vars.names())?;
        if let [only] = script.lines.as_slice() {
            match &only.command {
                Command::SetNotify(set) => return self.set_notify(set, shared),
                Command::Record(record) => return self.record_command(record),
                _ => {}
            }
        }
        let before = state::snapshot(&self.interpreter.session);
        match run_typed_line(&mut self.interpreter, &script) {
            Some(End::Exit(status)) => Some(status),
            Some(End::Completed) => {
                self.record(line, &script, &before);
                None
            }
            _ => None,
        }
    }

    /// `set notify on|off`.
    fn set_notify(&mut self, set: &SetNotify, shared: &SharedState) -> Option<i32> {
        shared.lock().notify = set.on;
        println!("notifications {}", if set.on { "on" } else { "off" });
        None
    }

    /// Starts `record FILE` (which the sandbox allowed).
    fn start_recording(&mut self, path: &std::path::Path, live: &[state::HandleInfo]) {
        match Recorder::start(path, live) {
            Ok(recorder) => {
                println!("recording to {} ('record stop' ends it)", path.display());
                if !live.is_empty() {
                    println!(
                        "note: {} existed before the recording; it will not replay on its own",
                        record::names(live)
                    );
                }
                self.recorder = Some(recorder);
            }
            Err(message) => println!("error: record: {message}"),
        }
    }

    /// `record FILE` or `record stop`.
    fn record_command(&mut self, record: &Record) -> Option<i32> {
        let live = state::snapshot(&self.interpreter.session);
        match record {
            Record::Start(path) => match crate::sandbox::check(path, crate::sandbox::Use::Write) {
                Err(refused) => println!("error: record: {refused}"),
                Ok(()) => self.start_recording(path, &live),
            },
            Record::Stop => match self.recorder.take() {
                Some(recorder) => println!("stopped recording to {}", recorder.path.display()),
                None => println!("error: record: not recording"),
            },
        }
        None
    }

    /// Appends a command that succeeded to the recording, if there is one.
    fn record(&mut self, line: &str, script: &Script, before: &[state::HandleInfo]) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let command = script.lines.first().map(|l| &l.command);
        if matches!(command, None | Some(Command::Help(_))) {
            return;
        }
        let line = match command {
            Some(Command::Source(_)) => absolute_source(line),
            _ => None,
        }
        .unwrap_or_else(|| line.to_string());
        if let Err(error) = recorder.write(&line, before) {
            println!(
                "error: record: cannot write {}: {error} (recording stopped)",
                recorder.path.display()
            );
            self.recorder = None;
        }
    }
}

/// A `source FILE` line with a relative path, rewritten with the absolute
/// path so the recording replays from wherever it is kept.
fn absolute_source(line: &str) -> Option<String> {
    let words = shlex::split(line)?;
    let [command, path] = words.as_slice() else {
        return None;
    };
    if Path::new(path).is_absolute() || path.contains("${") {
        return None;
    }
    let absolute = std::env::current_dir().ok()?.join(path);
    let absolute = absolute.to_str()?;
    Some(format!("{command} {}", shlex::try_quote(absolute).ok()?))
}

/// Parses one typed line, the shell's own commands included; `None`
/// (after showing why) when it did not parse.
fn parse_typed_line(text: &str, known: Vec<String>) -> Option<Script> {
    match Loader::for_shell(&[])
        .knowing(known)
        .parse(text.as_bytes(), "<stdin>", None)
    {
        Ok(script) => Some(script),
        Err(errors) => {
            for error in errors {
                let message = error.to_string();
                let message = message.strip_prefix("<stdin>:1: ").unwrap_or(&message);
                println!("error: {message}");
            }
            None
        }
    }
}

/// Runs one typed line.
fn run_typed_line(interpreter: &mut Interpreter, script: &Script) -> Option<End> {
    crate::wait::take_interrupt();
    let end = interpreter.run_script(script);
    interpreter.session.out.flush();
    Some(end)
}

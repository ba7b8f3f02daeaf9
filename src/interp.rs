//! The interpreter core that the shell, `run` and `test` all share: it takes
//! parsed lines, echoes each (after expansion), applies it to the session
//! and renders the outcome, stopping at the first failure.

use std::rc::Rc;
use std::sync::Arc;

use crate::cmd::repeat::Repeat;
use crate::cmd::source::Source;
use crate::cmd::{Command, Run, Slot};
use crate::data::Data;
use crate::errors::Failure;
use crate::lexer::push_quoted;
use crate::outcome::Outcome;
use crate::parser::DataArg;
use crate::render::render;
use crate::script::{
    display_beside, source_text, Echo, Line, Loader, Parsing, Script, ECHO_MARK, MAX_SOURCE_DEPTH,
};
use crate::session::expand::Show;
use crate::session::{Session, SourceArg};
use crate::step::Answer;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every line ran.
    Completed,
    /// A command or assertion failed (the failure line was written).
    Failed,
    /// `exit STATUS` or `quit`.
    Exit(i32),
    /// `require` found something missing.
    Skipped,
    /// Ctrl-C during a command.
    Interrupted,
    /// SIGTERM or SIGHUP: the session ends, cleaned up, with 128 + it.
    Terminated(i32),
}

impl End {
    /// The process exit status for this ending.
    pub fn status(self, skip_status: i32) -> i32 {
        match self {
            End::Completed => 0,
            End::Failed => 1,
            End::Exit(status) => status,
            End::Skipped => skip_status,
            End::Interrupted => 130,
            End::Terminated(signal) => 128 + signal,
        }
    }
}

pub struct Interpreter {
    pub session: Session,
    /// Whether each command line is written to the transcript before its
    /// outcome (`run`, `test`); the shell's user typed it already.
    pub echo: bool,
    /// Script arguments, for sources loaded at run time.
    pub args: Vec<String>,
    /// `run --comments`: sources loaded at run time keep their comments
    /// too (those loaded with the script have them already).
    pub comments: bool,
    /// `run --step`: wait for Enter before each command; `Some(true)`
    /// when the terminal echoes that Enter on the command's own line.
    pub step: Option<bool>,
    /// One line of transcript being built, reused for every line.
    scratch: String,
    /// How many `source`s are running inside each other.
    source_depth: usize,
    /// The `repeat` blocks running: the file and line of each, and its turn.
    turns: Vec<(Rc<str>, usize, u64)>,
}

impl Interpreter {
    pub fn new(session: Session, echo: bool) -> Self {
        Interpreter {
            session,
            echo,
            args: Vec::new(),
            comments: false,
            step: None,
            scratch: String::new(),
            source_depth: 0,
            turns: Vec::new(),
        }
    }

    /// Runs every line of a script, stopping at the first failure.
    /// Programs are found from, and run in, the directory of the script
    /// being run, also from the lines of a file it sources: a shared
    /// grading script sourced by each submission's script starts that
    /// submission's program.
    pub fn run_script(&mut self, script: &Script) -> End {
        if self.source_depth == 0 {
            self.session.script_dir = script.dir.clone();
        }
        let end = match script.stream() {
            Some(lines) => self.run_stream(script, lines),
            None => self.run_lines(script, &script.lines),
        };
        if end == End::Completed {
            self.show_comments(&script.tail);
        }
        end
    }

    /// Runs a streamed script's lines as they are parsed again, each
    /// dropped once it ran.
    fn run_stream(&mut self, script: &Script, lines: Parsing) -> End {
        for line in lines {
            let end = match line {
                Ok(line) => self.run_line(script, &line),
                // Checked before the run: only a sourced file changed since
                // (it is read once) or a bug could make this differ.
                Err(error) => {
                    self.session.out.line(&error.to_string());
                    End::Failed
                }
            };
            if end != End::Completed {
                return end;
            }
        }
        End::Completed
    }

    /// Runs lines of `script` (all of it, or a block's), stopping at the
    /// first failure.
    fn run_lines(&mut self, script: &Script, lines: &[Line]) -> End {
        for line in lines {
            match self.run_line(script, line) {
                End::Completed => {}
                end => return end,
            }
        }
        End::Completed
    }

    /// Runs one line: echo, apply, render; a failure writes its one line.
    pub fn run_line(&mut self, script: &Script, line: &Line) -> End {
        if let Some(end) = self.stopped_before(script, line) {
            return end;
        }
        if self.session.trace.is_some() {
            crate::trace::before_line(&mut self.session);
        }
        if self.step.is_some() {
            if let Some(end) = self.step_line(script, line) {
                return end;
            }
        } else {
            self.echo_line(line);
        }
        let result = match &line.command {
            Command::Source(source) => return self.run_source(script, line, source),
            Command::Repeat(repeat) => return self.run_repeat(script, line, repeat),
            command => command.apply(&mut self.session),
        };
        // A program that exited meanwhile is not left a zombie.
        self.session.reap_programs();
        match result {
            Ok(outcome) => {
                let end = self.show_outcome(&outcome);
                if self.session.trace.is_some() {
                    crate::trace::after_command(&mut self.session, Some(&outcome));
                }
                match end {
                    End::Completed => self.stop_if_interrupted(script, line),
                    end => end,
                }
            }
            Err(failure) => {
                // The packets first: a failure line ends the transcript.
                if self.session.trace.is_some() {
                    crate::trace::after_command(&mut self.session, None);
                }
                if matches!(failure, Failure::Interrupted) {
                    return self.interrupted(script, line, "");
                }
                self.report(script, line, &failure);
                End::Failed
            }
        }
    }

    /// A Ctrl-C, SIGTERM or SIGHUP that came while no command waited
    /// stops the run before the next line, as it would stop a wait.
    fn stopped_before(&mut self, script: &Script, line: &Line) -> Option<End> {
        if !crate::wait::interrupt_pending() {
            return None;
        }
        crate::wait::take_interrupt();
        Some(self.interrupted(script, line, " before this line ran"))
    }

    /// The failure line of an interruption, and how the run ends.
    fn interrupted(&mut self, script: &Script, line: &Line, when: &str) -> End {
        match crate::wait::termination() {
            Some(signal) => {
                let name = crate::program::signal_name_of(signal);
                let failure = Failure::usage(format!("stopped by {name}{when}"));
                self.report(script, line, &failure);
                End::Terminated(signal)
            }
            None => {
                let failure = Failure::usage(format!("interrupted{when}"));
                self.report(script, line, &failure);
                End::Interrupted
            }
        }
    }

    /// Ctrl-C that arrived while a command ran without waiting (a `print`
    /// among millions, a lingering `close`) ends the run after it.
    fn stop_if_interrupted(&mut self, script: &Script, line: &Line) -> End {
        if let Some(over) = crate::sandbox::limits::over_limit() {
            self.report(script, line, &over);
            return End::Failed;
        }
        if !crate::wait::interrupt_pending() {
            return End::Completed;
        }
        crate::wait::take_interrupt();
        self.interrupted(script, line, "")
    }

    fn show_outcome(&mut self, outcome: &Outcome) -> End {
        // A line of text is a line even when empty: `print ''` (or a bare
        // `print`, as Python's `print()`) writes an empty line.
        let text = matches!(outcome, Outcome::Text(_));
        let session = &self.session;
        session
            .out
            .line_built(text, |out| render(outcome, session, out));
        match outcome {
            Outcome::Exit(status) => End::Exit(*status),
            Outcome::Skip(_) => End::Skipped,
            _ => End::Completed,
        }
    }

    /// The failure line: `FILE:LINE: COMMAND: MESSAGE`, and inside a
    /// `repeat`, which turn of which block.
    fn report(&mut self, script: &Script, line: &Line, failure: &Failure) {
        let command = line.command_name();
        let place = format!("{}:{}: {command}", script.name, line.number);
        let mut text = match (self.echo, self.source_depth) {
            (true, _) => format!("{place}: {failure}"),
            // A line typed at the shell's prompt is where the user looks.
            (false, 0) => format!("error: {command}: {failure}"),
            (false, _) => format!("error: {place}: {failure}"),
        };
        if !self.echo && matches!(failure, Failure::Timeout { .. }) {
            text.push_str(&wait_longer_hint(line));
        }
        if !self.turns.is_empty() {
            let turns: Vec<String> = self
                .turns
                .iter()
                .rev()
                .map(|(file, at, turn)| match **file == *script.name {
                    true => format!("iteration {turn} of the repeat on line {at}"),
                    // The repeat is in the file that sourced this one.
                    false => format!("iteration {turn} of the repeat at {file}:{at}"),
                })
                .collect();
            text.push_str(&format!(" (in {})", turns.join(", ")));
        }
        let text = self.session.hide_tmp(&text);
        self.session.out.line(&text);
    }

    /// Echoes a line before it runs (`run` and `test`; the shell's user
    /// typed it already, but not the lines of a file it sources).
    fn echo_line(&mut self, line: &Line) {
        if self.echo || self.source_depth > 0 {
            self.show_comments(&line.comments);
            match &line.echo {
                // The common line: its echo is made and checked already.
                Echo::Ready(shown) => self.session.out.checked_line(shown),
                Echo::Expand(_) => {
                    self.scratch.clear();
                    push_echo(&mut self.scratch, line, &mut self.session);
                    self.session.out.line(&self.scratch);
                }
            }
        }
    }

    /// `run --step`: shows the line, then waits for Enter; `Some(end)`
    /// when Ctrl-C stopped the run there.
    fn step_line(&mut self, script: &Script, line: &Line) -> Option<End> {
        self.show_comments(&line.comments);
        self.scratch.clear();
        push_echo(&mut self.scratch, line, &mut self.session);
        let same_line = self.step == Some(true);
        if same_line {
            self.session.out.text(&self.scratch);
        } else {
            self.session.out.line(&self.scratch);
        }
        self.session.out.flush();
        match crate::step::wait_for_enter() {
            Answer::Run => None,
            Answer::RunRest => {
                self.step = None;
                if same_line {
                    self.session.out.line("");
                }
                None
            }
            Answer::Stop => {
                if same_line {
                    self.session.out.line("");
                }
                self.report(script, line, &Failure::Interrupted);
                Some(End::Interrupted)
            }
        }
    }

    /// The comment lines kept before a line (`run --comments`), as written.
    fn show_comments(&mut self, comments: &[String]) {
        for comment in comments {
            self.session.out.line(comment);
        }
    }

    /// `repeat N [--as VAR]`: the block N times, then its `end`.
    fn run_repeat(&mut self, script: &Script, line: &Line, repeat: &Repeat) -> End {
        let count = match self.session.resolve(&repeat.count) {
            Ok(count) => *count,
            Err(failure) => {
                self.report(script, line, &failure);
                return End::Failed;
            }
        };
        let file: Rc<str> = script.name.as_str().into();
        for turn in 0..count {
            // An empty block runs no line that would notice Ctrl-C (a
            // block's first line notices it, naming the iteration).
            if repeat.body.is_empty() && crate::wait::interrupt_pending() {
                crate::wait::take_interrupt();
                return self.interrupted(script, line, "");
            }
            if let Some(counter) = &repeat.counter {
                self.session
                    .vars
                    .set(counter, turn.to_string().into_bytes());
            }
            self.turns.push((Rc::clone(&file), line.number, turn));
            let end = self.run_lines(script, &repeat.body);
            self.turns.pop();
            if end != End::Completed {
                return end;
            }
        }
        if let Some(end) = &repeat.end {
            self.echo_line(end);
        }
        End::Completed
    }

    fn run_source(&mut self, script: &Script, line: &Line, source: &Source) -> End {
        if self.source_depth >= MAX_SOURCE_DEPTH {
            let failure = Failure::usage(format!("sources nest more than {MAX_SOURCE_DEPTH} deep"));
            self.report(script, line, &failure);
            return End::Failed;
        }
        let loaded = match &source.loaded {
            Some(loaded) => Ok((Arc::clone(loaded), Vec::new())),
            None => self.load_source_now(script, source),
        };
        match loaded {
            Ok((sourced, args)) => {
                let given = !args.is_empty();
                if given {
                    self.session.source_args.push(args);
                }
                self.source_depth += 1;
                let end = self.run_script(&sourced);
                self.source_depth -= 1;
                if given {
                    self.session.source_args.pop();
                }
                end
            }
            Err(failure) => {
                self.report(script, line, &failure);
                End::Failed
            }
        }
    }

    /// The ARGs of a `source` line with a `${...}`, filled in now: plain
    /// text is written into the file as it loads (it may name a handle);
    /// other bytes (a captured reply) stay `${N}` and pass on exactly.
    fn source_args(
        &mut self,
        source: &Source,
    ) -> Result<(Vec<String>, u64, Vec<SourceArg>), Failure> {
        let mut text = Vec::with_capacity(source.args.len());
        let mut later = 0u64;
        let mut args = Vec::with_capacity(source.args.len());
        for (index, arg) in source.args.iter().enumerate() {
            // A written-out ARG is filled in as written, as when every ARG is.
            if let Some(written) = source.words[index].literal() {
                text.push(written.to_string());
                args.push(SourceArg {
                    bytes: Vec::new(),
                    shown: String::new(),
                    captured: false,
                });
                continue;
            }
            let resolved = self.session.resolve_data(arg)?;
            let (Data::Bytes(bytes), captured) = (resolved.data.into_owned(), resolved.captured)
            else {
                return Err(Failure::usage("a source ARG is DATA, not a --file"));
            };
            let shown = match arg {
                DataArg::Word(word) => self.session.show_word(word, Show::Echo)?,
                _ => String::new(),
            };
            let plain = std::str::from_utf8(&bytes).ok().filter(|t| {
                !captured && !t.contains(['\\', '$']) && !t.chars().any(char::is_control)
            });
            match plain {
                Some(plain) => text.push(plain.to_string()),
                None if index + 1 < 64 => {
                    text.push(String::new());
                    later |= 1 << (index + 1);
                }
                None => {
                    return Err(Failure::usage(
                        "only ARGs up to ${63} may hold bytes that are not text",
                    ))
                }
            }
            args.push(SourceArg {
                bytes,
                shown,
                captured,
            });
        }
        Ok((text, later, args))
    }

    /// Loads a source whose path or arguments were known only now.
    fn load_source_now(
        &mut self,
        script: &Script,
        source: &Source,
    ) -> Result<(Arc<Script>, Vec<SourceArg>), Failure> {
        let path = self.session.resolve(&source.path)?.into_owned();
        let display = display_beside(&script.name, &path);
        let mut loader = Loader::new(&self.args)
            .keeping_comments(self.comments)
            .knowing(self.session.vars.names());
        let mut args = Vec::new();
        if !source.args.is_empty() {
            let (text, later, values) = self.source_args(source)?;
            loader = loader.sourced_with(text, later);
            args = values;
        }
        let loaded = loader
            .load_file(&script.dir.join(&path), &display)
            .map_err(|e| Failure::usage(e.message))?;
        Ok((Arc::new(loaded), args))
    }
}

/// Appends the command line as run (`> ` and its words, expansions
/// filled in, quoted as needed) to `out`.
fn push_echo(out: &mut String, line: &Line, session: &mut Session) {
    let words = match &line.echo {
        Echo::Ready(shown) => return out.push_str(shown.text()),
        Echo::Expand(words) => words,
    };
    out.push_str(ECHO_MARK);
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        match word.literal() {
            Some(text) => push_quoted(out, text),
            None => match session.show_word(word, Show::Echo) {
                Ok(display) => push_quoted(out, &display),
                Err(_) => out.push_str(&source_text(word)),
            },
        }
    }
}

/// At the shell, how to wait longer than a wait that just timed out: the
/// handle's own timeout, `poll`'s flag, or the session's default.
fn wait_longer_hint(line: &Line) -> String {
    let spec = crate::cmd::spec(line.command_name());
    if spec.is_some_and(|spec| spec.flag("--timeout").is_some()) {
        return "; hint: give it --timeout 30s to wait longer".to_string();
    }
    let takes_handle = spec.is_some_and(|spec| matches!(spec.args.first(), Some(Slot::Handle(_))));
    match line.word(1) {
        Some(name) if takes_handle => format!(
            "; hint: settimeout {name} none waits without a limit (Ctrl-C cancels), \
             settimeout {name} 30s waits longer"
        ),
        _ => "; hint: timeout none makes every command wait without a limit (Ctrl-C cancels)"
            .to_string(),
    }
}

//! The interpreter core that the shell, `run` and `test` all share: it takes
//! parsed lines, echoes each (after expansion), applies it to the session
//! and renders the outcome, stopping at the first failure.

use std::sync::Arc;

use crate::cmd::repeat::Repeat;
use crate::cmd::source::Source;
use crate::cmd::{Command, Run};
use crate::errors::Failure;
use crate::lexer::push_quoted;
use crate::outcome::Outcome;
use crate::render::render;
use crate::script::{display_beside, source_text, Echo, Line, Loader, Script, MAX_SOURCE_DEPTH};
use crate::session::expand::Show;
use crate::session::Session;

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
    /// One line of transcript being built, reused for every line.
    scratch: String,
    /// How many `source`s are running inside each other.
    source_depth: usize,
    /// The `repeat` blocks running: the line of each and its turn.
    turns: Vec<(usize, u64)>,
}

impl Interpreter {
    pub fn new(session: Session, echo: bool) -> Self {
        Interpreter {
            session,
            echo,
            args: Vec::new(),
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
        self.run_lines(script, &script.lines)
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
        self.echo_line(line);
        let result = match &line.command {
            Command::Source(source) => return self.run_source(script, line, source),
            Command::Repeat(repeat) => return self.run_repeat(script, line, repeat),
            command => command.apply(&mut self.session),
        };
        // A program that exited meanwhile is not left a zombie.
        self.session.reap_programs();
        match result {
            Ok(outcome) => self.show_outcome(&outcome),
            Err(Failure::Interrupted) => self.interrupted(script, line, ""),
            Err(failure) => {
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

    fn show_outcome(&mut self, outcome: &Outcome) -> End {
        self.scratch.clear();
        render(outcome, &self.session, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.session.out.line(&self.scratch);
        }
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
        let mut text = if self.echo {
            format!("{}:{}: {command}: {failure}", script.name, line.number)
        } else {
            format!("error: {command}: {failure}")
        };
        if !self.turns.is_empty() {
            let turns: Vec<String> = self
                .turns
                .iter()
                .rev()
                .map(|(at, turn)| format!("iteration {turn} of the repeat on line {at}"))
                .collect();
            text.push_str(&format!(" (in {})", turns.join(", ")));
        }
        let text = self.session.hide_tmp(&text);
        self.session.out.line(&text);
    }

    /// Echoes a line before it runs (`run` and `test`; the shell's user
    /// typed it already).
    fn echo_line(&mut self, line: &Line) {
        if self.echo {
            self.show_line(line);
            self.session.out.line(&self.scratch);
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
        for turn in 0..count {
            if let Some(counter) = &repeat.counter {
                self.session
                    .vars
                    .set(counter, turn.to_string().into_bytes());
            }
            self.turns.push((line.number, turn));
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

    /// Writes the command line as run into `scratch`: expansions filled
    /// in, words quoted as needed.
    fn show_line(&mut self, line: &Line) {
        self.scratch.clear();
        self.scratch.push_str("> ");
        let words = match &line.echo {
            Echo::Ready(text) => return self.scratch.push_str(text),
            Echo::Expand(words) => words,
        };
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                self.scratch.push(' ');
            }
            match word.literal() {
                Some(text) => push_quoted(&mut self.scratch, text),
                None => match self.session.show_word(word, Show::Echo) {
                    Ok(display) => push_quoted(&mut self.scratch, &display),
                    Err(_) => self.scratch.push_str(&source_text(word)),
                },
            }
        }
    }

    fn run_source(&mut self, script: &Script, line: &Line, source: &Source) -> End {
        if self.source_depth >= MAX_SOURCE_DEPTH {
            let failure = Failure::usage(format!("sources nest more than {MAX_SOURCE_DEPTH} deep"));
            self.report(script, line, &failure);
            return End::Failed;
        }
        let loaded = match &source.loaded {
            Some(loaded) => Ok(Arc::clone(loaded)),
            None => self.load_source_now(script, source),
        };
        match loaded {
            Ok(sourced) => {
                self.source_depth += 1;
                let end = self.run_script(&sourced);
                self.source_depth -= 1;
                end
            }
            Err(failure) => {
                self.report(script, line, &failure);
                End::Failed
            }
        }
    }

    /// Loads a source whose path or arguments were known only now.
    fn load_source_now(
        &mut self,
        script: &Script,
        source: &Source,
    ) -> Result<Arc<Script>, Failure> {
        let path = self.session.resolve(&source.path)?.into_owned();
        let mut args = Vec::with_capacity(source.args.len());
        for arg in &source.args {
            args.push(self.session.resolve(arg)?.into_owned());
        }
        if source.args.is_empty() {
            args = self.args.clone();
        }
        let display = display_beside(&script.name, &path);
        Loader::new(&args)
            .knowing(self.session.vars.names())
            .load_file(&script.dir.join(&path), &display)
            .map(Arc::new)
            .map_err(|e| Failure::usage(e.message))
    }
}

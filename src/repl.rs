//! The interactive shell: read a line, run it through the same interpreter
//! as scripts, show the outcome, keep going after failures.

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::interp::{End, Interpreter};
use crate::script::Loader;
use crate::session::Session;

const PROMPT: &str = "sockrepl> ";

/// Runs the shell until `exit`, `quit` or Ctrl-D; returns the exit status.
pub fn run(session: Session) -> i32 {
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("sockrepl: cannot start the shell: {error}");
            return 2;
        }
    };
    if let Err(error) = crate::wait::catch_interrupts() {
        eprintln!("sockrepl: Ctrl-C will not cancel commands: {error}");
    }
    println!(
        "sockrepl {}: type 'help' for the commands, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let mut interpreter = Interpreter::new(session, false);
    let status = loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if let Some(status) = run_typed_line(&mut interpreter, &line) {
                    break status;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break 0,
            Err(error) => {
                eprintln!("sockrepl: {error}");
                break 1;
            }
        }
    };
    interpreter.session.close_all();
    status
}

/// Runs what was typed; `Some(status)` when the shell should end.
fn run_typed_line(interpreter: &mut Interpreter, text: &str) -> Option<i32> {
    crate::wait::take_interrupt();
    let script = match Loader::new(&[]).parse(text.as_bytes(), "<stdin>", None) {
        Ok(script) => script,
        Err(errors) => {
            for error in errors {
                let message = error.to_string();
                let message = message.strip_prefix("<stdin>:1: ").unwrap_or(&message);
                println!("error: {message}");
            }
            return None;
        }
    };
    let end = interpreter.run_script(&script);
    interpreter.session.out.flush();
    match end {
        End::Exit(status) => Some(status),
        _ => None,
    }
}

//! `let`: give a variable a value, written in the script.
//!
//! The value is a DATA word, so `let crlf '\r\n'` holds the two bytes;
//! `${crlf}` then stands for them anywhere later (section "Variables" of
//! docs/language.md). Like every command that takes data it also takes
//! `--hex HEX` and `--file PATH` instead (the file is read whole: a
//! variable holds its bytes).

use super::recv::check_new_variable;
use super::send::read_data_file;
use super::{Command, Flag, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, DataArg, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[LET];

pub const LET: Spec = Spec {
    name: "let",
    synopsis: "let NAME VALUE|--hex HEX|--file PATH",
    summary: "Set a variable to VALUE, a DATA word (escapes decoded: let crlf '\\r\\n'), or to the \
              bytes of --hex or of a --file; ${NAME} then stands for its bytes and ${NAME.len} for \
              their count.",
    python: "crlf = b'\\r\\n'",
    example: "let crlf '\\r\\n'",
    args: &[Slot::NewVariable, Slot::Data],
    repeats: false,
    flags: &[
        Flag::with("--hex", Slot::Value),
        Flag::with("--file", Slot::Path),
    ],
    scope: Scope::Language,
    parse: |args| Let::parse(args).map(Command::from),
};

/// The most bytes `let NAME --file PATH` reads into a variable.
const MAX_VALUE: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct Let {
    name: String,
    value: DataArg,
}

impl Let {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let option = args.data_option()?;
        let name = check_new_variable(args.literal("NAME")?)?;
        let value = args.data(option)?;
        Ok(Let { name, value })
    }
}

impl Run for Let {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let resolved = session.resolve_data(&self.value)?;
        let bytes = match &*resolved.data {
            crate::data::Data::Bytes(bytes) => bytes.clone(),
            crate::data::Data::File(path) => {
                read_data_file(path, MAX_VALUE, "a variable may hold")?
            }
        };
        // A value made from a captured one differs from run to run too.
        let captured = resolved.captured;
        match captured {
            true => session.vars.capture(&self.name, bytes.clone()),
            false => session.vars.set(&self.name, bytes.clone()),
        }
        Ok(Outcome::Assigned {
            name: self.name.clone(),
            bytes,
            captured,
        })
    }

    fn sets(&self) -> Vec<String> {
        vec![self.name.clone()]
    }
}

impl crate::export::Export for Let {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let value = out.data(&self.value);
        out.line(format!("{} = {value}", crate::export::python::variable(&self.name)));
        let known = match &self.value {
            DataArg::Ready(crate::data::Data::Bytes(bytes)) => Some(bytes.clone()),
            _ => None,
        };
        out.constants.insert(self.name.clone(), known);
        Ok(())
    }
}

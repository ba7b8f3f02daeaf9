//! Step two of a line's path: words into a typed command.
//!
//! `Args` walks a command's words for its `parse` function. A word with no
//! run-time expansion is parsed into its type now, so a bad address or a
//! bad escape is a syntax error before the script runs; a word such as
//! `${srv.addr}` is kept as an [`Arg::Later`] and parsed when it runs.

use std::fmt;

use crate::cmd::{all_flags, Spec};
use crate::data::{decode_escapes, decode_hex, Data};
use crate::lexer::{is_handle_name, is_variable_name, LexError, Piece, Word, RESERVED_NAMES};
use crate::suggest::did_you_mean;

/// A syntax error: the script does not run at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub column: Option<usize>,
}

impl SyntaxError {
    pub fn new(message: impl Into<String>) -> Self {
        SyntaxError {
            message: one_line_message(&message.into()),
            column: None,
        }
    }
}

impl From<LexError> for SyntaxError {
    fn from(error: LexError) -> Self {
        SyntaxError {
            message: one_line_message(&error.message),
            column: error.column,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses one word's text into a typed value.
pub type WordParser<T> = fn(&str) -> Result<T, String>;

/// A typed argument, ready now or parsed when the command runs (the
/// session resolves it: `Session::resolve`).
#[derive(Debug, Clone)]
pub enum Arg<T> {
    Ready(T),
    Later(Word, WordParser<T>),
}

/// DATA, known now or filled in when the command runs.
#[derive(Debug, Clone)]
pub enum DataArg {
    /// A DATA word with nothing to expand, or `--hex`/`--file` written out.
    Ready(Data),
    /// A DATA word with `${...}`: its written pieces have their escapes
    /// decoded; a variable stands for exactly its bytes.
    Word(Word),
    /// `--hex`/`--file` whose value waits for run time.
    Later(Arg<Data>),
}

impl DataArg {
    /// `--hex` gave the data: a mismatch is shown as a hexdump.
    pub fn is_ready_bytes(&self) -> Option<&[u8]> {
        match self {
            DataArg::Ready(Data::Bytes(bytes)) => Some(bytes),
            _ => None,
        }
    }
}

/// The words after a command's name, consumed by its parser.
pub struct Args<'w> {
    /// The command being parsed, for its synopsis in error messages.
    spec: &'static Spec,
    /// A deque: commands take their words from the front, and `poll` with
    /// a million names must parse in linear time.
    words: std::collections::VecDeque<&'w Word>,
    /// The DATA word taken, as written, for the "quote it" hint when
    /// more words follow it.
    data_text: Option<&'w str>,
}

impl<'w> Args<'w> {
    pub fn new(spec: &'static Spec, words: &'w [Word]) -> Self {
        Args {
            spec,
            words: words.iter().collect(),
            data_text: None,
        }
    }

    /// The command being parsed.
    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    /// An error that shows the command's synopsis.
    pub fn usage_error(&self, problem: &str) -> SyntaxError {
        SyntaxError::new(format!("{problem} (usage: {})", self.spec.synopsis))
    }

    /// Whether a literal `--flag` stands among the words (left in place).
    pub fn contains(&self, flag: &str) -> bool {
        self.words.iter().any(|w| w.literal() == Some(flag))
    }

    /// Removes a literal `--flag` wherever it stands.
    pub fn flag(&mut self, flag: &str) -> bool {
        match self.words.iter().position(|w| w.literal() == Some(flag)) {
            Some(index) => {
                self.words.remove(index);
                true
            }
            None => false,
        }
    }

    /// Removes `--option VALUE` wherever it stands and returns VALUE.
    pub fn option(&mut self, flag: &str) -> Result<Option<&'w Word>, SyntaxError> {
        let Some(index) = self.words.iter().position(|w| w.literal() == Some(flag)) else {
            return Ok(None);
        };
        if index + 1 >= self.words.len() {
            return Err(self.usage_error(&format!("{flag} needs a value")));
        }
        let value = self.words.remove(index + 1).expect("checked just above");
        self.words.remove(index);
        Ok(Some(value))
    }

    /// The words left, each as written (`None` for one with `${...}`).
    pub fn literals(&self) -> Vec<Option<&'w str>> {
        self.words.iter().map(|w| w.literal()).collect()
    }

    /// The next word, left in place.
    pub fn peek(&self) -> Option<&'w Word> {
        self.words.front().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    fn next(&mut self, what: &str) -> Result<&'w Word, SyntaxError> {
        if self.words.is_empty() {
            return Err(self.usage_error(&format!("missing {what}")));
        }
        Ok(self.words.pop_front().expect("checked just above"))
    }

    /// A word that must be written out in full (no `${...}`).
    pub fn literal(&mut self, what: &str) -> Result<&'w str, SyntaxError> {
        let word = self.next(what)?;
        word.literal()
            .ok_or_else(|| self.usage_error(&format!("{what} cannot use ${{...}}")))
    }

    pub fn optional_literal(&mut self) -> Option<&'w str> {
        let word = self.words.front()?.literal()?;
        self.words.pop_front();
        Some(word)
    }

    /// A handle name.
    pub fn handle(&mut self) -> Result<String, SyntaxError> {
        let name = self.literal("NAME")?;
        check_handle_name(name)?;
        Ok(name.to_string())
    }

    pub fn optional_handle(&mut self) -> Result<Option<String>, SyntaxError> {
        if self.words.is_empty() {
            return Ok(None);
        }
        self.handle().map(Some)
    }

    /// A typed argument.
    pub fn arg<T>(
        &mut self,
        what: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Arg<T>, SyntaxError> {
        let word = self.next(what)?;
        typed(word, parse)
    }

    pub fn optional_arg<T>(
        &mut self,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<Arg<T>>, SyntaxError> {
        match self.words.front() {
            None => Ok(None),
            Some(_) => self.arg("", parse).map(Some),
        }
    }

    /// `--option VALUE` wherever it stands, with VALUE typed like any argument.
    pub fn option_arg<T>(
        &mut self,
        flag: &str,
        parse: WordParser<T>,
    ) -> Result<Option<Arg<T>>, SyntaxError> {
        match self.option(flag)? {
            Some(word) => typed(word, parse).map(Some),
            None => Ok(None),
        }
    }

    /// `--hex HEX` or `--file PATH`, wherever they stand; call it before
    /// taking positional words so the flags are not mistaken for them.
    pub fn data_option(&mut self) -> Result<Option<DataArg>, SyntaxError> {
        let typed_data = |word, parse| match typed(word, parse)? {
            Arg::Ready(data) => Ok(Some(DataArg::Ready(data))),
            later => Ok(Some(DataArg::Later(later))),
        };
        if let Some(hex) = self.option("--hex")? {
            return typed_data(hex, |text| decode_hex(text).map(Data::Bytes));
        }
        if let Some(path) = self.option("--file")? {
            return typed_data(path, |text| Ok(Data::File(text.into())));
        }
        Ok(None)
    }

    /// DATA, unless [`Args::data_option`] already found `--hex`/`--file`.
    pub fn data(&mut self, option: Option<DataArg>) -> Result<DataArg, SyntaxError> {
        if let Some(data) = option {
            return Ok(data);
        }
        let word = self.next("DATA")?;
        self.data_text = word.literal();
        data_word(word)
    }

    /// The words left, for commands that take the rest of the line.
    pub fn rest(&mut self) -> Vec<&'w Word> {
        std::mem::take(&mut self.words).into()
    }

    /// Fails on a `--word` that no command knows, so that a typo such as
    /// `--hexx` is named as an unknown option rather than as a bad MAX or
    /// handle name. Commands whose words may be any data skip this.
    pub fn reject_unknown_options(&self) -> Result<(), SyntaxError> {
        let unknown = self.words.iter().filter_map(|w| w.literal()).find(|word| {
            word.len() > 2
                && word.starts_with("--")
                && word[2..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !all_flags().any(|flag| flag == *word)
        });
        match unknown {
            None => Ok(()),
            Some(word) => {
                let suggestion = did_you_mean(word, all_flags())
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                Err(self.usage_error(&format!("unknown option '{word}'{suggestion}")))
            }
        }
    }

    /// Fails when words are left over.
    pub fn finish(&self) -> Result<(), SyntaxError> {
        match self.words.front() {
            None => Ok(()),
            Some(word) => {
                let shown = word.literal().unwrap_or("${...}");
                let problem = match self.quoted_data() {
                    Some(quoted) => format!(
                        "unexpected '{shown}': DATA is one word, so quote data with spaces: {quoted}"
                    ),
                    None => format!("unexpected '{shown}'"),
                };
                Err(self.usage_error(&problem))
            }
        }
    }

    /// The DATA word and the words left after it, quoted as one word:
    /// what `send c hello world` most likely meant.
    fn quoted_data(&self) -> Option<String> {
        let mut text = self.data_text?.to_string();
        for word in &self.words {
            text.push(' ');
            text.push_str(word.literal()?);
        }
        let mut quoted = String::new();
        crate::lexer::push_quoted(&mut quoted, &text);
        Some(quoted)
    }
}

fn typed<T>(word: &Word, parse: fn(&str) -> Result<T, String>) -> Result<Arg<T>, SyntaxError> {
    match word.literal() {
        Some(text) => parse(text).map(Arg::Ready).map_err(SyntaxError::new),
        None => Ok(Arg::Later(word.clone(), parse)),
    }
}

/// A DATA word: decoded now, or (with `${...}`) checked now and filled
/// in when the command runs.
pub fn data_word(word: &Word) -> Result<DataArg, SyntaxError> {
    match word {
        Word::Text(text) => decode_escapes(text)
            .map(|bytes| DataArg::Ready(Data::Bytes(bytes)))
            .map_err(SyntaxError::new),
        Word::Template(pieces) => {
            // A bad escape in a written piece is a syntax error now.
            for piece in pieces {
                if let Piece::Text(text) = piece {
                    decode_escapes(text).map_err(SyntaxError::new)?;
                }
            }
            Ok(DataArg::Word(word.clone()))
        }
    }
}

/// A variable's name: letters, digits and `_`, not a reserved name.
pub fn check_variable_name(name: &str) -> Result<(), SyntaxError> {
    if RESERVED_NAMES.contains(&name) {
        return Err(SyntaxError::new(format!(
            "{name} is a reserved name (${{{name}...}} means something else): choose another"
        )));
    }
    if is_variable_name(name) {
        Ok(())
    } else {
        Err(SyntaxError::new(format!(
            "bad variable name '{name}': letters, digits and _, starting with a letter or _"
        )))
    }
}

pub fn check_handle_name(name: &str) -> Result<(), SyntaxError> {
    if RESERVED_NAMES.contains(&name) {
        return Err(SyntaxError::new(format!(
            "{name} is a reserved name (${{{name}...}} means something else): choose another"
        )));
    }
    if is_handle_name(name) {
        Ok(())
    } else {
        Err(SyntaxError::new(format!(
            "bad handle name '{name}': letters, digits, _ and -, starting with a letter or _"
        )))
    }
}

/// Parses on/off words: `1`/`0`, `on`/`off`, `true`/`false`.
pub fn parse_bool(word: &str) -> Result<bool, String> {
    match word {
        "1" | "on" | "true" => Ok(true),
        "0" | "off" | "false" => Ok(false),
        _ => Err(format!(
            "'{word}' is not a boolean (1/0, on/off, true/false)"
        )),
    }
}

/// Cuts every very long word of a message short, so that a 10 MB typo
/// gives a one-line error.
/// A syntax error is one line whatever words it quotes (`${1}` may hold
/// a newline, a script line an ESC), and long words are cut.
fn one_line_message(message: &str) -> String {
    shorten_words(&crate::data::one_line(message))
}

pub fn shorten_words(message: &str) -> String {
    const LIMIT: usize = 60;
    if message.len() <= LIMIT {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(1024));
    for (index, word) in message.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        match word.char_indices().nth(LIMIT) {
            Some((end, _)) => out.push_str(&format!("{}... ({} bytes)", &word[..end], word.len())),
            None => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_are_cut_short_in_messages() {
        assert!(
            SyntaxError::new(format!("unknown '{}'", "B".repeat(1000)))
                .message
                .len()
                < 100
        );
    }
}

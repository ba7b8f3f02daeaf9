//! Step one of a line's path: split it into words and find its `${...}`.
//!
//! `${...}` expands before splitting and always yields one word, so each is
//! swapped for a private placeholder character, the line is split by POSIX
//! shell rules (the `shlex` crate), and each word keeps its placeholders as
//! typed pieces. Script arguments and environment variables are filled in
//! now; handle addresses (`${srv.addr}`) and variables (`${status}`, whose
//! value may be captured from the network) wait until the command runs.

use shlex::Shlex;

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Plain text: by far the most common word, kept in one allocation.
    Text(String),
    /// Text and at least one `${...}` to fill in when the command runs.
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// An expansion that can only be filled in when the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Handle {
        handle: String,
        field: Field,
    },
    /// `${NAME}`: a variable's bytes.
    Variable(String),
    /// `${NAME.len}`: the length of a variable's value, in decimal.
    Length(String),
    /// `${tmp}`: a private directory for this session's Unix socket files.
    Tmp,
    /// `${tls.cert}`: the path of the session's own certificate.
    TlsCert,
    /// `${N}` or `${env.NAME}` that only the command line can give, kept
    /// unfilled by `check` (which runs nothing).
    Outside(String),
    /// `${N}` inside a file run by `source FILE ARG...`: the Nth ARG, whose
    /// bytes (perhaps captured) are known only when the source line runs.
    Argument(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Addr,
    Host,
    Port,
    Peer,
    /// The sender of the last datagram the handle received.
    From,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Addr => "addr",
            Field::Host => "host",
            Field::Port => "port",
            Field::Peer => "peer",
            Field::From => "from",
        }
    }
}

impl Var {
    /// The expansion as it is written, `${...}` included.
    pub fn source(&self) -> String {
        match self {
            Var::Handle { handle, field } => format!("${{{handle}.{}}}", field.name()),
            Var::Variable(name) => format!("${{{name}}}"),
            Var::Length(name) => format!("${{{name}.len}}"),
            Var::Tmp => "${tmp}".to_string(),
            Var::TlsCert => "${tls.cert}".to_string(),
            Var::Outside(name) => format!("${{{name}}}"),
            Var::Argument(index) => format!("${{{index}}}"),
        }
    }
}

/// Names no variable or handle may take: `${env.NAME}`, `${tmp}` and
/// `${tls.cert}` would be ambiguous.
pub const RESERVED_NAMES: &[&str] = &["env", "tmp", crate::tls::NAME];

/// A syntax error in one line; `column` is 1-based where it helps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub message: String,
    pub column: Option<usize>,
}

/// What static expansions are filled from, and how much they may add.
pub struct Context<'a> {
    pub args: &'a [String],
    /// Bytes the expansions of one line may add (arguments and the
    /// environment could otherwise make one line of gigabytes).
    budget: usize,
    used: std::cell::Cell<usize>,
}

impl<'a> Context<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Context {
            args,
            budget: usize::MAX,
            used: std::cell::Cell::new(0),
        }
    }

    pub fn with_budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// Bytes the expansions added so far.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Counts `len` more bytes, failing past the budget.
    fn spend(&self, len: usize) -> Result<(), LexError> {
        let used = self.used.get().saturating_add(len);
        if used > self.budget {
            return Err(LexError {
                message: format!(
                    "${{...}} expansions make this line too long (over {} KiB added)",
                    self.budget >> 10
                ),
                column: None,
            });
        }
        self.used.set(used);
        Ok(())
    }
}

/// `--sandbox`: the environment variables `${env.NAME}` may read (those
/// given with `--pass-env`); unset, every one.
static PASSED_ENV: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Limits `${env.NAME}` to these names, once, for the whole process.
pub fn pass_only_env(names: Vec<String>) {
    let _ = PASSED_ENV.set(names);
}

/// First and last private-use code point used as a placeholder.
const PLACEHOLDER_BASE: u32 = 0x10_0000;
const PLACEHOLDER_LAST: u32 = 0x10_FFFD;

impl Word {
    pub fn text(text: impl Into<String>) -> Self {
        Word::Text(text.into())
    }

    /// A word from its pieces: plain text when no piece waits for run time.
    pub fn from_pieces(pieces: Vec<Piece>) -> Self {
        if pieces.iter().any(|p| matches!(p, Piece::Var(_))) {
            return Word::Template(pieces);
        }
        let mut text = String::new();
        for piece in pieces {
            if let Piece::Text(part) = piece {
                text.push_str(&part);
            }
        }
        Word::Text(text)
    }

    /// The word's text when it has no run-time expansion.
    pub fn literal(&self) -> Option<&str> {
        match self {
            Word::Text(text) => Some(text),
            Word::Template(_) => None,
        }
    }
}

/// Splits one line into words, filling in static expansions.
pub fn split_line(line: &str, context: &Context) -> Result<Vec<Word>, LexError> {
    split_line_with(line, context, Unfilled::default())
}

/// Expansions that [`split_line_with`] leaves for later instead of
/// filling them in from the [`Context`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unfilled {
    /// A missing argument or environment variable is not an error
    /// (`check` cannot know what the command line will give).
    pub outside: bool,
    /// In a file run by `source FILE ARG...`: how many ARGs, and which of
    /// them hold a `${...}` and so are filled in when the source line runs
    /// (bit N for `${N}`); the others are in the [`Context`]'s arguments.
    pub source_args: Option<(usize, u64)>,
}

/// [`split_line`], leaving the expansions `unfilled` says for later.
pub fn split_line_with(
    line: &str,
    context: &Context,
    unfilled: Unfilled,
) -> Result<Vec<Word>, LexError> {
    if let Some(position) = line.chars().position(is_placeholder) {
        return Err(LexError {
            message: "unsupported character (Unicode private use plane 16)".into(),
            column: Some(position + 1),
        });
    }
    if !line.contains(['\'', '"', '\\', '#', '$']) {
        // Nothing a shell would treat specially: words are split by blanks alone.
        return Ok(line
            .split([' ', '\t', '\n'])
            .filter(|w| !w.is_empty())
            .map(Word::text)
            .collect());
    }
    let (text, names) = hide_expansions(line)?;
    let mut lexer = Shlex::new(&text);
    let raw_words: Vec<String> = lexer.by_ref().collect();
    if lexer.had_error {
        return Err(unterminated(line));
    }
    raw_words
        .into_iter()
        .map(|word| build_word(word, &names, context, unfilled))
        .collect()
}

fn is_placeholder(c: char) -> bool {
    (PLACEHOLDER_BASE..=PLACEHOLDER_LAST).contains(&u32::from(c))
}

/// Replaces each `${name}` with a placeholder and `$$` with `$`.
fn hide_expansions(line: &str) -> Result<(String, Vec<String>), LexError> {
    let mut text = String::with_capacity(line.len());
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(dollar) = rest.find('$') {
        text.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            text.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}').ok_or_else(|| LexError {
                message: "'${' without its '}'".into(),
                column: Some(line[..line.len() - rest.len() + dollar].chars().count() + 1),
            })?;
            let code = PLACEHOLDER_BASE + names.len() as u32;
            if code > PLACEHOLDER_LAST {
                return Err(LexError {
                    message: "too many ${...} on one line".into(),
                    column: None,
                });
            }
            text.push(char::from_u32(code).expect("private use code point"));
            names.push(inner[..close].to_string());
            rest = &inner[close + 1..];
        } else {
            text.push('$');
            rest = after;
        }
    }
    text.push_str(rest);
    Ok((text, names))
}

fn build_word(
    raw: String,
    names: &[String],
    context: &Context,
    unfilled: Unfilled,
) -> Result<Word, LexError> {
    if !raw.chars().any(is_placeholder) {
        return Ok(Word::text(raw));
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut literal = String::new();
    let mut filled = false;
    for c in raw.chars() {
        if !is_placeholder(c) {
            literal.push(c);
            continue;
        }
        let name = &names[(u32::from(c) - PLACEHOLDER_BASE) as usize];
        let found = match (source_argument(name, unfilled)?, expansion(name, context)) {
            (Some(index), _) => Expansion::Later(Var::Argument(index)),
            (None, Err(_)) if unfilled.outside && from_outside(name) => {
                Expansion::Later(Var::Outside(name.to_string()))
            }
            (None, found) => found?,
        };
        match found {
            Expansion::Static(value) => {
                context.spend(value.len())?;
                literal.push_str(&value);
                filled = true;
            }
            Expansion::Later(var) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(var));
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    // `${1}` holding `--file` is data, never an option: a word that an
    // expansion made stays a template, which no flag lookup matches.
    if filled && pieces.len() == 1 {
        if let Piece::Text(text) = &pieces[0] {
            if text.starts_with("--") {
                return Ok(Word::Template(pieces));
            }
        }
    }
    Ok(Word::from_pieces(pieces))
}

enum Expansion {
    Static(String),
    Later(Var),
}

fn expansion(name: &str, context: &Context) -> Result<Expansion, LexError> {
    let error = |message: String| LexError {
        message,
        column: None,
    };
    if name == "0" {
        return Err(error(
            "${0}: script arguments are numbered from ${1}".to_string(),
        ));
    }
    if let Ok(index) = name.parse::<usize>() {
        let given = context.args.len();
        return match index.checked_sub(1).and_then(|i| context.args.get(i)) {
            Some(value) => Ok(Expansion::Static(value.clone())),
            None => Err(error(format!(
                "${{{name}}}: the script was given {given} argument{} (pass them after the script: sockrepl run FILE ARG...)",
                if given == 1 { "" } else { "s" }
            ))),
        };
    }
    if let Some(variable) = name.strip_prefix("env.") {
        if PASSED_ENV
            .get()
            .is_some_and(|names| !names.iter().any(|n| n == variable))
        {
            return Err(error(format!(
                "${{{name}}}: the sandbox passes only the variables named with --pass-env (--pass-env {variable})"
            )));
        }
        return std::env::var(variable).map(Expansion::Static).map_err(|_| {
            error(format!(
                "${{{name}}}: {variable} is not set in the environment"
            ))
        });
    }
    match name {
        "tmp" => return Ok(Expansion::Later(Var::Tmp)),
        "tls.cert" => return Ok(Expansion::Later(Var::TlsCert)),
        _ => {}
    }
    let unknown = || {
        error(format!(
            "unknown expansion ${{{name}}} (known: ${{NAME}} ${{NAME.len}} ${{H.addr}} ${{H.host}} ${{H.port}} ${{H.peer}} ${{H.from}} ${{1}}..${{9}} ${{env.NAME}} ${{tmp}} ${{tls.cert}})"
        ))
    };
    let Some((owner, field)) = name.rsplit_once('.') else {
        if !is_variable_name(name) {
            return Err(unknown());
        }
        return Ok(Expansion::Later(Var::Variable(name.to_string())));
    };
    if field == "len" && is_variable_name(owner) {
        return Ok(Expansion::Later(Var::Length(owner.to_string())));
    }
    let field = match field {
        "addr" => Field::Addr,
        "host" => Field::Host,
        "port" => Field::Port,
        "peer" => Field::Peer,
        "from" => Field::From,
        _ => return Err(unknown()),
    };
    if !is_handle_name(owner) || RESERVED_NAMES.contains(&owner) {
        return Err(unknown());
    }
    Ok(Expansion::Later(Var::Handle {
        handle: owner.to_string(),
        field,
    }))
}

/// `${N}` in a file sourced with ARGs: which ARG, or an error past the
/// last one given.
fn source_argument(name: &str, unfilled: Unfilled) -> Result<Option<usize>, LexError> {
    let (Some((given, later)), Ok(index)) = (unfilled.source_args, name.parse::<usize>()) else {
        return Ok(None);
    };
    if index < 64 && later & (1 << index) != 0 {
        return Ok(Some(index));
    }
    if (1..=given).contains(&index) {
        return Ok(None);
    }
    Err(LexError {
        message: format!(
            "${{{name}}}: the source line gave {given} argument{} (source FILE ARG...)",
            if given == 1 { "" } else { "s" }
        ),
        column: None,
    })
}

/// Whether only the command line can give `${name}`: an argument or an
/// environment variable.
fn from_outside(name: &str) -> bool {
    name.starts_with("env.") || (name != "0" && name.parse::<usize>().is_ok())
}

/// Letters, digits and `_`, starting with a letter or `_`, and not one of
/// the reserved names.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED_NAMES.contains(&name)
}

/// Letters, digits, `_` and `-`, starting with a letter or `_`.
pub fn is_handle_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Finds where an unterminated quote (or a trailing backslash) starts.
fn unterminated(line: &str) -> LexError {
    let mut open: Option<(usize, char)> = None;
    let mut escaped = false;
    let mut after_blank = true;
    for (column, c) in line.chars().enumerate() {
        match open {
            None if escaped => escaped = false,
            None if c == '\\' => escaped = true,
            None if c == '\'' || c == '"' => open = Some((column, c)),
            // A word that starts with # begins a comment: nothing after it counts.
            None if c == '#' && after_blank => break,
            Some((_, '"')) if escaped => escaped = false,
            Some((_, '"')) if c == '\\' => escaped = true,
            Some((_, quote)) if c == quote => open = None,
            _ => {}
        }
        after_blank = open.is_none() && !escaped && (c == ' ' || c == '\t');
    }
    match open {
        Some((column, quote)) => LexError {
            message: format!("unterminated quote: the {quote} here is never closed"),
            column: Some(column + 1),
        },
        None => LexError {
            message: "a backslash ends the line".into(),
            column: Some(line.chars().count()),
        },
    }
}

/// Appends a word to an echoed line, quoted only when a shell would need
/// it: splitting the result gives the word back.
pub fn push_quoted(out: &mut String, word: &str) {
    if word.chars().any(char::is_control) {
        // One line whatever the word holds: its control characters as the
        // escapes a DATA word decodes back to them.
        out.push('\'');
        out.push_str(&crate::data::printable(word.as_bytes()).replace('\'', "\\x27"));
        out.push('\'');
        return;
    }
    let plain = !word.is_empty()
        && !word.starts_with('#')
        && word.chars().all(|c| {
            !c.is_whitespace()
                && !matches!(
                    c,
                    '\'' | '"' | '\\' | '$' | '`' | ';' | '&' | '|' | '(' | ')'
                )
        });
    if plain {
        out.push_str(word);
    } else if !word.contains('\'') {
        out.push('\'');
        out.push_str(word);
        out.push('\'');
    } else {
        match shlex::try_quote(word) {
            Ok(quoted) => out.push_str(&quoted),
            Err(_) => out.push_str(&format!("{word:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<Word>, LexError> {
        split_line(
            line,
            &Context::new(&["127.0.0.1:9".to_string(), "a b".to_string()]),
        )
    }

    #[test]
    fn splits_like_a_shell_and_drops_comments() {
        let words = split(r#"say c 'hello\n' "x y" # comment"#).unwrap();
        let texts: Vec<_> = words.iter().map(|w| w.literal().unwrap()).collect();
        assert_eq!(texts, ["say", "c", r"hello\n", "x y"]);
    }

    #[test]
    fn expansions_stay_one_word() {
        let words = split("print ${2} x$$${1} $${1}").unwrap();
        assert_eq!(words[1].literal(), Some("a b"));
        assert_eq!(words[2].literal(), Some("x$127.0.0.1:9"));
        assert_eq!(words[3].literal(), Some("${1}"));
        let words = split("connect c ${srv.addr}").unwrap();
        assert_eq!(
            words[2],
            Word::Template(vec![Piece::Var(Var::Handle {
                handle: "srv".into(),
                field: Field::Addr
            })])
        );
    }

    #[test]
    fn reports_errors() {
        assert!(split("print ${3}").is_err());
        assert!(split("print ${srv.nope}").is_err());
        assert!(split("print ${srv").is_err());
        let error = split("send c 'oops").unwrap_err();
        assert_eq!(error.column, Some(8));
    }

    #[test]
    fn expansion_inside_a_comment_is_ignored() {
        assert_eq!(split("close c # see ${nothing}").unwrap().len(), 2);
    }
}

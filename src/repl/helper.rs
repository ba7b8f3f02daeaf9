//! The line editor's helper: Tab completion, the dimmed synopsis hint and
//! the colours of the line being typed, all driven by `syntax::slot` and
//! the snapshot of the session's handles.

use std::borrow::Cow;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::{Context, Helper, Validator};

use super::state::{HandleInfo, SharedState};
use super::style::{self, Palette};
use super::syntax::{self, Fits, Slot};
use super::words::{self, Span};
use crate::errors::{all_error_names, ErrorName};

#[derive(Helper, Validator)]
pub struct ShellHelper {
    shared: SharedState,
    palette: Palette,
    files: FilenameCompleter,
}

impl ShellHelper {
    pub fn new(shared: SharedState, palette: Palette) -> Self {
        ShellHelper {
            shared,
            palette,
            files: FilenameCompleter::new(),
        }
    }
}

fn fits(handle: &HandleInfo, fits: Fits) -> bool {
    match fits {
        Fits::Any => true,
        Fits::Listening => handle.listening,
        Fits::CanListen => handle.kind.is_some_and(|k| k.is_stream()) && !handle.listening,
        Fits::NotListening => !handle.listening,
    }
}

fn plain(words: impl IntoIterator<Item = impl Into<String>>, prefix: &str) -> Vec<Pair> {
    words
        .into_iter()
        .map(Into::into)
        .filter(|w: &String| w.starts_with(prefix))
        .map(|w| Pair {
            replacement: format!("{w} "),
            display: w,
        })
        .collect()
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if let Some(open) = open_expansion(&line[..pos]) {
            let candidates = expansions(&self.shared, &line[open + 2..pos]);
            return Ok((open, candidates));
        }
        let (before, start, current) = words::before_cursor(line, pos);
        let values: Vec<&str> = before.iter().map(|s| s.value.as_str()).collect();
        if current.starts_with("--") {
            if let Some(command) = values.first() {
                return Ok((start, plain(syntax::flags(command), &current)));
            }
        }
        let handles = self.shared.handles();
        let candidates = match syntax::slot(&values) {
            Slot::Handle(want) => plain(
                handles
                    .iter()
                    .filter(|h| fits(h, want))
                    .map(|h| h.name.clone()),
                &current,
            ),
            Slot::Addr => addresses(&handles, &current),
            Slot::Wrapped if current.starts_with(|c: char| c.is_ascii_uppercase()) => {
                plain(all_error_names(), &current)
            }
            Slot::Wrapped => plain(syntax::all_commands(), &current),
            Slot::Path => return self.files.complete_path(line, pos),
            Slot::RecordTarget => {
                let (path_start, mut paths) = self.files.complete_path(line, pos)?;
                let mut stop = plain(["stop"], &current);
                if path_start != start && !stop.is_empty() {
                    return Ok((path_start, paths));
                }
                stop.append(&mut paths);
                return Ok((start, stop));
            }
            slot => plain(syntax::keywords(slot), &current),
        };
        Ok((start, candidates))
    }
}

/// Where a `${` that is not closed yet starts, before the cursor.
fn open_expansion(before: &str) -> Option<usize> {
    let open = before.rfind("${")?;
    (!before[open..].contains('}')).then_some(open)
}

/// What `${PREFIX` can become: the variables that have a value (and their
/// `.len`), each handle's fields, `${tmp}`.
fn expansions(shared: &SharedState, prefix: &str) -> Vec<Pair> {
    let mut names: Vec<String> = Vec::new();
    for variable in shared.variables() {
        names.push(variable.clone());
        names.push(format!("{variable}.len"));
    }
    for handle in shared.handles() {
        for field in ["addr", "host", "port", "peer", "from"] {
            names.push(format!("{}.{field}", handle.name));
        }
    }
    names.push("tmp".to_string());
    names
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .map(|name| Pair {
            display: format!("${{{name}}}"),
            replacement: format!("${{{name}}}"),
        })
        .collect()
}

/// `${H.addr}` of each bound handle, listening ones first, with the
/// address itself shown beside it.
fn addresses(handles: &[HandleInfo], current: &str) -> Vec<Pair> {
    let mut bound: Vec<&HandleInfo> = handles.iter().filter(|h| h.local.is_some()).collect();
    bound.sort_by_key(|h| !h.listening);
    bound
        .into_iter()
        .map(|h| (format!("${{{}.addr}}", h.name), h))
        .filter(|(var, h)| var.starts_with(current) || h.name.starts_with(current))
        .map(|(var, h)| Pair {
            display: format!("{var}  ({})", h.local.as_deref().unwrap_or_default()),
            replacement: format!("{var} "),
        })
        .collect()
}

/// The hint: the rest of the synopsis of the command being typed.
pub struct SynopsisHint {
    display: String,
    completion: Option<String>,
}

impl Hint for SynopsisHint {
    fn display(&self) -> &str {
        &self.display
    }

    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

impl Hinter for ShellHelper {
    type Hint = SynopsisHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<SynopsisHint> {
        if pos < line.len() || line.trim().is_empty() || line.len() > LONG_LINE {
            return None;
        }
        hint_for(line)
    }
}

/// What to show after the cursor at the end of `line`.
pub fn hint_for(line: &str) -> Option<SynopsisHint> {
    let (before, _, current) = words::before_cursor(line, line.len());
    let values: Vec<&str> = before.iter().map(|s| s.value.as_str()).collect();
    let (command_at, command) = command_word(&values, &current)?;
    let typing_command = command_at == values.len();
    let (rest_of_name, command) = if typing_command {
        let matches: Vec<&str> = syntax::all_commands()
            .into_iter()
            .filter(|c| c.starts_with(&*current))
            .collect();
        match matches.as_slice() {
            [only] => (only[current.len()..].to_string(), *only),
            _ if syntax::is_command(&current) => (String::new(), command),
            _ => return None,
        }
    } else {
        (String::new(), command)
    };
    let synopsis = syntax::synopsis(command)?;
    let mut typed_words: Vec<&str> = values.get(command_at + 1..).unwrap_or_default().to_vec();
    if !current.is_empty() && !typing_command {
        typed_words.push(&current);
    }
    if let Some(value) = flag_value_due(command, synopsis, &values, &current) {
        let space = if line.ends_with(char::is_whitespace) {
            ""
        } else {
            " "
        };
        return Some(SynopsisHint {
            display: format!("{space}{value}"),
            completion: None,
        });
    }
    let groups = hint_groups(synopsis);
    let typed = if typing_command {
        0
    } else {
        count_typed(command, synopsis, &typed_words)
    };
    let shown: Vec<&str> = skip_typed(&groups, typed)
        .into_iter()
        .filter(|group| !typed_words.iter().any(|w| is_typed_flag(group, w)))
        .collect();
    let mut display = rest_of_name.clone();
    if shown.is_empty() {
        if display.is_empty() {
            return None;
        }
    } else {
        if !line.ends_with(char::is_whitespace) {
            display.push(' ');
        }
        display.push_str(&shown.join(" "));
    }
    let completion = (!rest_of_name.is_empty()).then_some(rest_of_name);
    Some(SynopsisHint {
        display,
        completion,
    })
}

/// Where the command word is (after a wrapping `fails [ERRNAME]`) and its name.
fn command_word<'a>(values: &[&'a str], current: &'a str) -> Option<(usize, &'a str)> {
    let mut at = 0;
    loop {
        let word = values.get(at).copied().unwrap_or(current);
        if !syntax::wraps_a_command(word) || at >= values.len() {
            return Some((at, word));
        }
        at += 1;
        if values
            .get(at)
            .is_some_and(|w| ErrorName::parse(w).is_some())
        {
            at += 1;
        }
        if at > values.len() {
            return None;
        }
    }
}

/// The value a `--flag` just typed at the end of the line is waiting for,
/// by its name in the synopsis (`--file` gives `PATH`).
fn flag_value_due(
    command: &str,
    synopsis: &'static str,
    values: &[&str],
    current: &str,
) -> Option<&'static str> {
    let last = if current.is_empty() {
        values.last().copied()?
    } else {
        current
    };
    let spec = crate::cmd::spec(command)?;
    spec.flag(last)?.value?;
    let after = synopsis.split(&format!("{last} ")).nth(1)?;
    after
        .split([' ', ']', '|'])
        .next()
        .filter(|v| !v.is_empty())
}

/// The argument groups the hint counts: the synopsis's first form only
/// (`expect` has two), with `DATA|--hex HEX|--file PATH` kept as one
/// group, since a flag and its value there stand for one word.
fn hint_groups(synopsis: &str) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for group in syntax::synopsis_args(synopsis) {
        if group == "|" {
            break;
        }
        match groups.last_mut() {
            Some(last) if ends_in_flag_alternative(last) => {
                last.push(' ');
                last.push_str(group);
            }
            _ => groups.push(group.to_string()),
        }
    }
    groups
}

/// `DATA|--hex`: the last alternative is a flag, whose value comes next.
fn ends_in_flag_alternative(group: &str) -> bool {
    group
        .rsplit_once('|')
        .is_some_and(|(_, last)| last.starts_with("--"))
}

/// How many argument groups the typed words fill: a flag with a value
/// that replaces an argument (`--file PATH` for DATA) fills one, an
/// optional flag (`[--hex]`, `[--max N]`) none.
fn count_typed(command: &str, synopsis: &str, words: &[&str]) -> usize {
    let spec = crate::cmd::spec(command);
    let mut count = 0;
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let Some(flag) = spec.and_then(|spec| spec.flag(word)) else {
            count += 1;
            continue;
        };
        if flag.value.is_some() {
            words.next();
        }
        if synopsis.contains(&format!("|{word} ")) {
            count += 1;
        }
    }
    count
}

/// Whether `group` is an optional flag (`[--hex]`, `[--max N]`) that `word` already typed.
fn is_typed_flag(group: &str, word: &str) -> bool {
    word.starts_with("--")
        && group
            .strip_prefix('[')
            .is_some_and(|rest| rest.split([' ', ']']).next() == Some(word))
}

/// The synopsis groups not typed yet; a repeating group (`NAME...`) stays.
fn skip_typed(groups: &[String], typed: usize) -> Vec<&str> {
    let mut left = typed;
    let mut shown = Vec::new();
    for group in groups {
        if group.ends_with("...") {
            left = 0; // it takes every word typed from here on
        } else if left > 0 {
            left -= 1;
            continue;
        }
        shown.push(group.as_str());
    }
    shown
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if !self.palette.on || line.is_empty() || line.len() > LONG_LINE {
            return Cow::Borrowed(line);
        }
        let handles = self.shared.handles();
        Cow::Owned(paint_line(line, pos, &handles, self.palette))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(self.palette.paint(style::HINT, hint))
    }

    fn highlight_candidate<'c>(
        &self,
        candidate: &'c str,
        _: rustyline::CompletionType,
    ) -> Cow<'c, str> {
        Cow::Borrowed(candidate)
    }

    fn highlight_char(
        &self,
        line: &str,
        _pos: usize,
        _kind: rustyline::highlight::CmdKind,
    ) -> bool {
        self.palette.on && line.len() <= LONG_LINE
    }
}

/// Past this many bytes a line is pasted data, not typed: no colours and
/// no hint, so each pasted character is echoed as it is instead of the
/// whole line being painted again (16 KB pasted took 6.5 s, quadratic).
const LONG_LINE: usize = 1024;

/// The line with each word in its colour; the text itself unchanged.
pub fn paint_line(line: &str, pos: usize, handles: &[HandleInfo], palette: Palette) -> String {
    let spans = words::split(line);
    let mut out = String::with_capacity(line.len() * 2);
    let mut copied = 0;
    // The words before each one, grown as it goes (not rebuilt per word).
    let mut before: Vec<&str> = Vec::with_capacity(spans.len());
    for span in &spans {
        let being_typed = span.end == line.len() && pos == line.len();
        let style = word_style(span, &before, being_typed, handles);
        before.push(span.value.as_str());
        out.push_str(&line[copied..span.start]);
        out.push_str(&match style {
            Some(style) => palette.paint(style, &line[span.start..span.end]),
            None => line[span.start..span.end].to_string(),
        });
        copied = span.end;
    }
    out.push_str(&line[copied..]);
    out
}

/// The style of one word, `None` for plain; a word still being typed is
/// not marked as an error while it can still become right.
fn word_style(
    span: &Span,
    before: &[&str],
    being_typed: bool,
    handles: &[HandleInfo],
) -> Option<anstyle::Style> {
    if span.comment {
        return Some(style::COMMENT);
    }
    let word = span.value.as_str();
    let wrong = |could_become: bool| {
        if being_typed && could_become {
            None
        } else {
            Some(style::ERROR)
        }
    };
    if word.starts_with("--") && !before.is_empty() {
        return Some(style::FLAG);
    }
    if word.contains("${") {
        return Some(if expansions_known(word, handles) {
            style::VAR
        } else {
            style::ERROR
        });
    }
    let prefix_of = |names: &[&str]| names.iter().any(|n| n.starts_with(word));
    match syntax::slot(before) {
        Slot::Command | Slot::Topic => {
            let commands = syntax::all_commands();
            if commands.contains(&word) {
                Some(style::COMMAND)
            } else {
                wrong(prefix_of(&commands))
            }
        }
        Slot::Handle(_) => {
            let names: Vec<&str> = handles.iter().map(|h| h.name.as_str()).collect();
            if names.contains(&word) {
                Some(style::HANDLE)
            } else {
                wrong(prefix_of(&names))
            }
        }
        Slot::NewHandle => {
            let taken = handles.iter().any(|h| h.name == word);
            if taken && !being_typed {
                Some(style::ERROR)
            } else if crate::lexer::is_handle_name(word) {
                Some(style::HANDLE)
            } else {
                wrong(false)
            }
        }
        Slot::Wrapped => {
            if ErrorName::parse(word).is_some() {
                Some(style::KEYWORD)
            } else if syntax::is_command(word) {
                Some(style::COMMAND)
            } else {
                let names = all_error_names();
                wrong(
                    names.iter().any(|n| n.starts_with(word)) || prefix_of(&syntax::all_commands()),
                )
            }
        }
        slot @ (Slot::Kind | Slot::SockOpt | Slot::Choice(_)) => {
            let known = syntax::keywords(slot);
            if known.contains(&word) || (slot == Slot::Kind && word.starts_with("AF_")) {
                Some(style::KEYWORD)
            } else {
                wrong(prefix_of(&known))
            }
        }
        _ => value_style(span),
    }
}

/// Strings green, numbers (and durations, ports) blue.
fn value_style(span: &Span) -> Option<anstyle::Style> {
    if span.quoted {
        return Some(style::STRING);
    }
    let word = span.value.trim_start_matches(':');
    let number = !word.is_empty()
        && word.starts_with(|c: char| c.is_ascii_digit())
        && word
            .trim_end_matches(char::is_alphabetic)
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    number.then_some(style::NUMBER)
}

/// Whether every `${H.field}` in the word names a live handle.
fn expansions_known(word: &str, handles: &[HandleInfo]) -> bool {
    word.split("${").skip(1).all(|rest| {
        let Some(inner) = rest.split('}').next().filter(|_| rest.contains('}')) else {
            return true;
        };
        match inner.rsplit_once('.') {
            // `${NAME.len}` is a variable's length, not a handle's field.
            Some((_, "len")) => true,
            Some((handle, _)) if !handle.starts_with("env") && handle != crate::tls::NAME => {
                handles.iter().any(|h| h.name == handle)
            }
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;

    fn handles() -> Vec<HandleInfo> {
        let tcp = Kind::from_short("tcp").unwrap();
        let make = |name: &str, listening: bool, local: Option<&str>| HandleInfo {
            name: name.into(),
            serial: 0,
            fd: -1,
            kind: Some(tcp),
            listening,
            reading_shut: false,
            connected: false,
            local: local.map(Into::into),
            port: None,
        };
        vec![
            make("srv", true, Some("127.0.0.1:4000")),
            make("cli", false, None),
        ]
    }

    /// The hint for a line; `{NAME}` stands for the command called NAME,
    /// so each command's name stays written in its own file only.
    fn hint(line: &str) -> Option<String> {
        let mut text = line.to_string();
        for spec in crate::cmd::specs() {
            text = text.replace(&format!("{{{}}}", spec.name.to_uppercase()), spec.name);
        }
        hint_for(&text).map(|h| h.display)
    }

    #[test]
    fn hints_the_rest_of_the_synopsis() {
        assert_eq!(hint("{BIND}").as_deref(), Some(" NAME ADDR"));
        assert_eq!(hint("{BIND} ").as_deref(), Some("NAME ADDR"));
        assert_eq!(hint("{BIND} srv").as_deref(), Some(" ADDR"));
        assert_eq!(hint("{BIND} srv :0"), None);
        assert_eq!(hint("acce").as_deref(), Some("pt NAME [NEW]"));
        assert_eq!(
            hint("{POLL} a b").as_deref(),
            Some(" NAME... [--timeout DUR] [--write]")
        );
        assert_eq!(
            hint("{FAILS} ECONNREFUSED {CONNECT}_").as_deref(),
            Some("ex NAME ADDR")
        );
        assert_eq!(
            hint("{CONNECT}").as_deref(),
            Some(" NAME ADDR [--retry DUR]")
        );
        assert_eq!(
            hint("{FAILS} {CONNECT} c").as_deref(),
            Some(" ADDR [--retry DUR]")
        );
        assert_eq!(hint("nonsense"), None);
    }

    #[test]
    fn a_flag_typed_last_hints_its_value() {
        assert_eq!(hint("{SENDALL} x --file").as_deref(), Some(" PATH"));
        assert_eq!(hint("{SENDALL} x --file ").as_deref(), Some("PATH"));
        assert_eq!(hint("{SENDALL} x --file data.bin"), None);
        assert_eq!(hint("{SENDALL} x --hex 'ab'"), None);
        assert_eq!(
            hint("{SENDALL} x ").as_deref(),
            Some("DATA|--hex HEX|--file PATH")
        );
        assert_eq!(hint("{RECV} c --as").as_deref(), Some(" VAR"));
        assert_eq!(hint("{RECV} c --hex ").as_deref(), Some("[MAX] [--as VAR]"));
    }

    /// `line` painted with the cursor at its end (`{NAME}` as in [`hint`]).
    fn paint(line: &str) -> String {
        let mut text = line.to_string();
        for spec in crate::cmd::specs() {
            text = text.replace(&format!("{{{}}}", spec.name.to_uppercase()), spec.name);
        }
        paint_line(&text, text.len(), &handles(), Palette { on: true })
    }

    #[test]
    fn marks_unknown_commands_and_handles() {
        let red = style::ERROR.render().to_string();
        assert!(paint("bnid srv").contains(&red));
        assert!(!paint("{BIND} srv").contains(&red));
        assert!(paint("{ACCEPT} nosuch ").contains(&red));
        assert!(!paint("{ACCEPT} sr").contains(&red), "still typing");
        assert!(paint("{CONNECT} cli ${nosuch.addr}").contains(&red));
        assert!(paint("{SOCKET} srv").contains(&style::HANDLE.render().to_string()));
    }

    #[test]
    fn painting_keeps_the_text() {
        let palette = Palette { on: true };
        let line = "anything cli 'hi there' # note";
        let painted = paint_line(line, line.len(), &handles(), palette);
        let mut stripped = Vec::new();
        std::io::Write::write_all(
            &mut anstream::StripStream::new(&mut stripped),
            painted.as_bytes(),
        )
        .unwrap();
        assert_eq!(String::from_utf8(stripped).unwrap(), line);
    }

    #[test]
    fn offers_live_addresses() {
        let pairs = addresses(&handles(), "");
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].replacement, "${srv.addr} ");
        assert!(pairs[0].display.contains("127.0.0.1:4000"));
    }
}

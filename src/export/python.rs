//! The writer of `export`'s Python: lines at an indentation, literals as
//! Python's own `repr` writes them, and the names the script's handles and
//! variables take, none clashing with another or with what the program
//! itself defines.
//!
//! It knows Python's text, not sockrepl's commands: what each command
//! becomes is decided in `cmd/*.rs` and `export/mod.rs`.

use std::collections::{HashMap, HashSet};

/// Lines of Python at the current indentation (four spaces a level).
#[derive(Debug, Default)]
pub struct Writer {
    pub lines: Vec<String>,
    depth: usize,
}

impl Writer {
    pub fn line(&mut self, text: &str) {
        if text.is_empty() {
            self.lines.push(String::new());
        } else {
            self.lines
                .push(format!("{}{text}", "    ".repeat(self.depth)));
        }
    }

    /// A blank line, never two in a row, none at the top of a block.
    pub fn blank(&mut self) {
        let after_block_start = self
            .lines
            .last()
            .is_some_and(|l| l.trim_end().ends_with(':'));
        if !after_block_start && self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }

    /// The current indentation level.
    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn indent(&mut self) {
        self.depth += 1;
    }

    pub fn dedent(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Closes a block: a block with nothing in it gets `pass`.
    pub fn end_block(&mut self) {
        while self.lines.last().is_some_and(String::is_empty) {
            self.lines.pop();
        }
        if self
            .lines
            .last()
            .is_some_and(|l| l.trim_end().ends_with(':'))
        {
            self.line("pass");
        }
        self.dedent();
    }
}

/// Bytes as Python's `repr` writes them: `b'Hello\n'`, `b"it's"`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(char::from(quote));
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(char::from(quote));
    out
}

/// Text as a Python string literal (ASCII-safe; Python reads it back as
/// the same text).
pub fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// A pattern as a raw bytes literal, `rb'...'`, when it can be one (no
/// quote it would end on, no trailing backslash, ASCII); else a plain
/// bytes literal of the same pattern text.
pub fn pattern_repr(pattern: &str) -> String {
    let raw_ok = pattern.is_ascii()
        && !pattern.contains(['\n', '\r'])
        && !pattern.ends_with('\\')
        && pattern.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if raw_ok && !pattern.contains('\'') {
        return format!("rb'{pattern}'");
    }
    if raw_ok && !pattern.contains('"') {
        return format!("rb\"{pattern}\"");
    }
    bytes_repr(pattern.as_bytes())
}

/// Python's keywords and soft keywords.
const KEYWORDS: &str = "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type";

/// Builtins an exported program calls, and names it defines itself.
const TAKEN: &str = "print repr len int str bytes range open list isinstance hasattr globals float e f m p data status err ARGS DEFAULTS ENV NEWLINE SCRIPT_DIR ALLOW_EXEC NETNS TIMEOUT TMP CERT HELD UNTIMED PROGRAMS BOUND_PATHS OPTIONS usage take_flag";

/// Every module a program may import, in the order of its imports (one
/// string, so no module reads as a command name written twice in `src/`).
const MODULES: &str = "atexit errno hashlib os re select shutil signal socket ssl struct subprocess sys tempfile time";

/// Every module a program may import, in order.
pub fn modules() -> impl Iterator<Item = &'static str> {
    MODULES.split(' ')
}

/// The modules every program imports (its command line and `--netns`).
pub fn always_imported() -> impl Iterator<Item = &'static str> {
    ["os", "sys"]
        .into_iter()
        .chain(modules().filter(|m| m.starts_with("sock")))
}

/// The names the script's handles take in the program.
#[derive(Debug, Default)]
pub struct Names {
    by_handle: HashMap<String, String>,
    used: HashSet<String>,
    /// Names the program's helpers define (their functions).
    reserved: HashSet<String>,
}

impl Names {
    pub fn new(reserved: impl IntoIterator<Item = String>) -> Self {
        Names {
            reserved: reserved.into_iter().collect(),
            ..Names::default()
        }
    }

    /// The variable of handle `handle`: the same name for the whole
    /// program, `-` as `_`, `_` after a name Python or the program has
    /// taken, `_2`... after a name another handle has.
    pub fn handle(&mut self, handle: &str) -> String {
        if let Some(name) = self.by_handle.get(handle) {
            return name.clone();
        }
        let mut base = handle.replace('-', "_");
        if base.starts_with("v_") || base.starts_with("source_") || base.starts_with("turn_") {
            // The program's own families of names: variables, sources' ARGs.
            base.insert_str(0, "h_");
        }
        if self.is_taken(&base) || base.ends_with("_from") || base.ends_with("_addr") {
            base.push('_');
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) || self.is_taken(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        self.by_handle.insert(handle.to_string(), name.clone());
        name
    }

    fn is_taken(&self, name: &str) -> bool {
        KEYWORDS.split(' ').any(|k| k == name)
            || TAKEN.split(' ').any(|t| t == name)
            || modules().any(|m| m == name)
            || self.reserved.contains(name)
    }
}

/// A script variable's Python name: `v_NAME`.
pub fn variable(name: &str) -> String {
    format!("v_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_become_names_that_never_clash() {
        let mut names = Names::new(["expect_re".to_string()]);
        assert_eq!(names.handle("srv"), "srv");
        assert_eq!(names.handle("srv-1"), "srv_1");
        assert_eq!(names.handle("srv_1"), "srv_1_2");
        let module = modules().find(|m| m.starts_with("sock")).unwrap();
        assert_eq!(names.handle(module), format!("{module}_"));
        assert_eq!(names.handle("list"), "list_");
        assert_eq!(names.handle("expect_re"), "expect_re_");
        assert_eq!(names.handle("class"), "class_");
        assert_eq!(names.handle("v_x"), "h_v_x");
        assert_eq!(names.handle("a-from"), "a_from_");
        assert_eq!(names.handle("srv"), "srv", "a name is fixed");
        let mut all: Vec<String> = ["a-b", "a_b", "a__b", "a-_b", "a_-b", "a_b_2"]
            .iter()
            .map(|h| names.handle(h))
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "{all:?}");
    }

    #[test]
    fn bytes_reprs_as_python_writes_them() {
        assert_eq!(bytes_repr(b"Hello\n"), "b'Hello\\n'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(bytes_repr(b"\x00\xff\\"), "b'\\x00\\xff\\\\'");
    }

    #[test]
    fn patterns_are_raw_when_they_can_be() {
        assert_eq!(pattern_repr(r"\d+"), r"rb'\d+'");
        assert_eq!(pattern_repr(r"it's\d"), r#"rb"it's\d""#);
        assert_eq!(pattern_repr("a\\"), "b'a\\\\'");
    }
}

//! Words into Python expressions: DATA into bytes, ADDR into tuples (or
//! `addr(...)` when the text is known only when the line runs), DUR into
//! seconds, and every `${...}` into the expression that reads it when the
//! line runs, so no value the kernel chose gets into the program.

use std::fmt::Display;
use std::net::IpAddr;
use std::time::Duration;

use super::python::{bytes_repr, str_repr, variable};
use super::{HandleKind, Program, Refused};
use crate::address::Address;
use crate::data::{decode_escapes, Data};
use crate::kind::Family;
use crate::lexer::{Field, Piece, Var, Word};
use crate::parser::{Arg, DataArg};

/// Which Python type an expansion is read as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    Text,
    Bytes,
}

impl Program {
    /// A word as a `str` expression (for a word parsed when the line runs).
    pub fn text(&mut self, word: &Word) -> String {
        self.word(word, As::Text)
    }

    /// A DATA word as a `bytes` expression: the written pieces with their
    /// escapes decoded, each variable exactly its bytes.
    pub fn data_word(&mut self, word: &Word) -> String {
        self.word(word, As::Bytes)
    }

    fn word(&mut self, word: &Word, as_: As) -> String {
        let pieces = match word {
            Word::Text(text) => return self.literal(text, as_),
            Word::Template(pieces) => pieces,
        };
        let parts: Vec<String> = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => self.literal(text, as_),
                Piece::Var(var) => self.var(var, as_),
            })
            .collect();
        parts.join(" + ")
    }

    fn literal(&mut self, text: &str, as_: As) -> String {
        match as_ {
            As::Text => str_repr(text),
            As::Bytes => match decode_escapes(text) {
                Ok(bytes) => bytes_repr(&bytes),
                Err(_) => bytes_repr(text.as_bytes()),
            },
        }
    }

    fn var(&mut self, var: &Var, as_: As) -> String {
        let encode = |text: String| match as_ {
            As::Text => text,
            As::Bytes => format!("{text}.encode()"),
        };
        match var {
            Var::Handle { handle, field } => {
                let h = self.handle(handle);
                let address = match field {
                    Field::Peer => format!("{h}.getpeername()"),
                    Field::From => format!("{h}_from"),
                    _ => format!("{h}.getsockname()"),
                };
                encode(match field {
                    Field::Host => format!("{address}[0]"),
                    Field::Port => format!("str({address}[1])"),
                    _ => {
                        self.helper("addr_text");
                        format!("addr_text({address})")
                    }
                })
            }
            Var::Variable(name) => match as_ {
                As::Bytes => variable(name),
                As::Text => format!("{}.decode(errors='backslashreplace')", variable(name)),
            },
            Var::Length(name) => encode(format!("str(len({}))", variable(name))),
            Var::Tmp => {
                self.helper("tmp");
                encode("tmp()".to_string())
            }
            Var::TlsCert => {
                self.helper("tls_cert");
                encode("tls_cert()".to_string())
            }
            Var::Outside(name) => {
                let text = match name.strip_prefix("env.") {
                    Some(env) => {
                        self.uses_env(env);
                        format!("os.environ[{}]", str_repr(env))
                    }
                    None => {
                        let n: usize = name.parse().unwrap_or(1);
                        self.uses_arg(n);
                        format!("ARGS[{}]", n - 1)
                    }
                };
                match as_ {
                    As::Text => text,
                    As::Bytes => {
                        self.helper("unescape");
                        format!("unescape({text})")
                    }
                }
            }
            Var::Argument(n) => {
                let list = self
                    .source_args
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "ARGS".to_string());
                match as_ {
                    As::Bytes => format!("{list}[{}]", n - 1),
                    As::Text => format!("{list}[{}].decode(errors='backslashreplace')", n - 1),
                }
            }
        }
    }

    /// DATA as a bytes expression; `--file` data is read whole (commands
    /// that stream a file handle it before calling this).
    pub fn data(&mut self, data: &DataArg) -> String {
        match data {
            DataArg::Ready(Data::Bytes(bytes)) => bytes_repr(bytes),
            DataArg::Ready(Data::File(path)) => {
                format!("open({}, 'rb').read()", str_repr(&path.to_string_lossy()))
            }
            DataArg::Word(word) => self.data_word(word),
            DataArg::Later(arg) => match later_data(arg) {
                Some((word, true)) => format!("bytes.fromhex({})", self.text(word)),
                Some((word, false)) => format!("open({}, 'rb').read()", self.text(word)),
                None => "b''".to_string(),
            },
        }
    }

    /// The path of `--file` DATA, as an expression, if it is one.
    pub fn data_file(&mut self, data: &DataArg) -> Option<String> {
        match data {
            DataArg::Ready(Data::File(path)) => Some(str_repr(&path.to_string_lossy())),
            DataArg::Later(arg) => match later_data(arg) {
                Some((word, false)) => Some(self.text(word)),
                _ => None,
            },
            _ => None,
        }
    }

    /// An ADDR for the socket `handle` (a tuple, a path, an abstract name).
    pub fn addr(&mut self, arg: &Arg<Address>, handle: &str) -> String {
        let family = self.socket_kind(handle).map(|k| k.family);
        match arg {
            Arg::Ready(address) => address_literal(address, family),
            Arg::Later(word, _) => {
                if let Word::Template(pieces) = word {
                    if let [Piece::Var(Var::Handle {
                        handle: other,
                        field,
                    })] = pieces.as_slice()
                    {
                        let o = self.handle(other);
                        match field {
                            Field::Addr => return format!("{o}.getsockname()"),
                            Field::Peer => return format!("{o}.getpeername()"),
                            Field::From => return format!("{o}_from"),
                            _ => {}
                        }
                    }
                }
                if let Some(tuple) = self.host_and_port(word, family) {
                    return tuple;
                }
                let text = self.text(word);
                let h = self.handle(handle);
                self.helper("addr");
                format!("addr({h}, {text})")
            }
        }
    }

    /// `HOST:${...}` as the tuple Python takes, `('127.0.0.1', int(v_port))`,
    /// when HOST is written out.
    fn host_and_port(&mut self, word: &Word, family: Option<Family>) -> Option<String> {
        let Word::Template(pieces) = word else {
            return None;
        };
        let [Piece::Text(prefix), Piece::Var(var)] = pieces.as_slice() else {
            return None;
        };
        let host = prefix.strip_suffix(':')?;
        let parsed = Address::parse(&format!("{host}:0")).ok()?;
        if !matches!(parsed, Address::Ip { .. } | Address::Host { .. }) {
            return None;
        }
        let host = match address_literal(&parsed, family) {
            tuple if tuple.ends_with(", 0)") => tuple.trim_end_matches(", 0)").to_string(),
            _ => return None,
        };
        let port = match var {
            Var::Handle {
                handle,
                field: Field::Port,
            } => format!("{}.getsockname()[1]", self.handle(handle)),
            Var::Variable(name) => format!("int({})", variable(name)),
            _ => format!("int({})", self.var(var, As::Text)),
        };
        Some(format!("{host}, {port})"))
    }

    /// A DUR as seconds.
    pub fn seconds(&mut self, arg: &Arg<Duration>) -> String {
        match arg {
            Arg::Ready(duration) => seconds(*duration),
            Arg::Later(word, _) => {
                self.helper("duration");
                format!("duration({})", self.text(word))
            }
        }
    }

    /// A DUR or `none` as seconds or `None`.
    pub fn timeout(&mut self, arg: &Arg<Option<Duration>>) -> String {
        match arg {
            Arg::Ready(Some(duration)) => seconds(*duration),
            Arg::Ready(None) => "None".to_string(),
            Arg::Later(word, _) => {
                self.helper("duration");
                format!("duration({})", self.text(word))
            }
        }
    }

    /// A number, written out or read when the line runs.
    pub fn number<T: Display + Clone>(&mut self, arg: &Arg<T>) -> String {
        match arg {
            Arg::Ready(value) => value.to_string(),
            Arg::Later(word, _) => {
                self.helper("number");
                format!("number({})", self.text(word))
            }
        }
    }

    /// A text argument, written out or read when the line runs.
    pub fn string_arg(&mut self, arg: &Arg<String>) -> String {
        match arg {
            Arg::Ready(text) => str_repr(text),
            Arg::Later(word, _) => self.text(word),
        }
    }

    /// A path argument.
    pub fn path(&mut self, arg: &Arg<std::path::PathBuf>) -> String {
        match arg {
            Arg::Ready(path) => str_repr(&path.to_string_lossy()),
            Arg::Later(word, _) => self.text(word),
        }
    }

    /// Whether a handle is a datagram socket (one receive, one message).
    pub fn keeps_boundaries(&self, name: &str) -> bool {
        self.socket_kind(name).is_some_and(|k| {
            k.keeps_boundaries() && self.kind_of(name) != Some(HandleKind::Program)
        })
    }

    /// Refuses a pattern `re` cannot say; rewrites what differs.
    pub fn pattern(&mut self, source: &str) -> Result<String, Refused> {
        rewrite_pattern(source).map(|p| super::python::pattern_repr(&p))
    }
}

/// `--hex`/`--file` whose word waits for run time: the word, and whether
/// it is hex (told apart by parsing a probe: hex gives bytes, a file a path).
fn later_data(arg: &Arg<Data>) -> Option<(&Word, bool)> {
    match arg {
        Arg::Later(word, parse) => Some((word, matches!(parse("00"), Ok(Data::Bytes(_))))),
        Arg::Ready(_) => None,
    }
}

/// Seconds as a Python float literal.
pub fn seconds(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    let text = format!("{s}");
    if text.contains('.') || text.contains('e') {
        text
    } else {
        format!("{text}.0")
    }
}

/// An address written out, as `socket` takes it for a socket of `family`.
pub fn address_literal(address: &Address, family: Option<Family>) -> String {
    let v6 = family == Some(Family::Inet6);
    match address {
        Address::Ip { ip, port } => {
            let host = match ip {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => ip.to_string(),
            };
            format!("({}, {})", str_repr(&host), port.unwrap_or(0))
        }
        Address::Host { name, port } => format!("({}, {})", str_repr(name), port.unwrap_or(0)),
        Address::Wildcard { port } => {
            format!("({}, {port})", if v6 { "'::'" } else { "'0.0.0.0'" })
        }
        Address::Loopback { port } => {
            format!("({}, {port})", if v6 { "'::1'" } else { "'127.0.0.1'" })
        }
        Address::UnixPath(path) => str_repr(&path.to_string_lossy()),
        Address::Abstract(name) if name.is_empty() => "''".to_string(),
        Address::Abstract(name) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(name);
            bytes_repr(&bytes)
        }
    }
}

/// The regex crate's syntax as Python's `re` over bytes: `\z` is `\Z`,
/// `(?-u)` goes (bytes patterns match bytes), and what `re` cannot say is
/// refused.
pub fn rewrite_pattern(source: &str) -> Result<String, Refused> {
    if let Some(rest) = source.strip_prefix("(?u)") {
        return unicode_dots(rest);
    }
    for unsupported in ["\\p{", "\\P{", "(?u", "[[:", "\\pL", "\\pN"] {
        if source.contains(unsupported) {
            return Err(Refused::new(format!(
                "the pattern uses {unsupported}, which Python's re has no way to say over bytes"
            )));
        }
    }
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('z') => out.push_str("\\Z"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    let out = out.replace("(?-u)", "").replace("(?-u:", "(?:");
    // Named groups: the regex crate also takes (?<name>...), which re
    // spells (?P<name>...) before Python 3.12.
    Ok(out
        .replace("(?<", "(?P<")
        .replace("(?P<=", "(?<=")
        .replace("(?P<!", "(?<!"))
}

/// `(?u)` at the start, where only `.` differs: a dot is one UTF-8
/// encoded character, which `re` over bytes can spell byte by byte.
fn unicode_dots(rest: &str) -> Result<String, Refused> {
    const CHAR: &str = r"(?:[\x00-\x09\x0b-\x7f]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})";
    let sensitive = [
        "\\w", "\\W", "\\d", "\\D", "\\s", "\\S", "\\b", "\\B", "\\p", "\\P", "[", "(?i", "(?s",
        "(?u",
    ];
    if let Some(found) = sensitive.iter().find(|s| rest.contains(*s)) {
        return Err(Refused::new(format!(
            "the pattern uses {found} under (?u), which Python's re has no way to say over bytes"
        )));
    }
    let mut out = String::new();
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => {
                out.push(c);
                escaped = true;
            }
            '.' => out.push_str(CHAR),
            _ => out.push(c),
        }
    }
    rewrite_pattern(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_rewritten_for_re() {
        assert_eq!(rewrite_pattern(r"abc\z").unwrap(), r"abc\Z");
        assert_eq!(rewrite_pattern(r"(?-u)\xff").unwrap(), r"\xff");
        assert_eq!(rewrite_pattern(r"(?<n>\d+)").unwrap(), r"(?P<n>\d+)");
        assert_eq!(rewrite_pattern(r"(?<=a)b").unwrap(), r"(?<=a)b");
        assert_eq!(rewrite_pattern(r"\\z").unwrap(), r"\\z");
        assert!(rewrite_pattern(r"\p{Greek}").is_err());
        assert!(rewrite_pattern(r"(?u)caf.")
            .unwrap()
            .starts_with(r"caf(?:[\x00"));
        assert!(rewrite_pattern(r"(?u)\w").is_err());
    }

    #[test]
    fn addresses_become_what_socket_takes() {
        let lit = |w: &str, f| address_literal(&Address::parse(w).unwrap(), f);
        assert_eq!(lit("127.0.0.1:80", Some(Family::Inet)), "('127.0.0.1', 80)");
        assert_eq!(lit("[::1]:80", Some(Family::Inet6)), "('::1', 80)");
        assert_eq!(lit(":80", Some(Family::Inet6)), "('::', 80)");
        assert_eq!(lit(":80", Some(Family::Inet)), "('0.0.0.0', 80)");
        assert_eq!(lit("8080", Some(Family::Inet)), "('127.0.0.1', 8080)");
        assert_eq!(lit("8080", Some(Family::Inet6)), "('::1', 8080)");
        assert_eq!(lit("localhost:1", None), "('localhost', 1)");
        assert_eq!(lit("./x.sock", Some(Family::Unix)), "'./x.sock'");
        assert_eq!(lit("@lab", Some(Family::Unix)), "b'\\x00lab'");
        assert_eq!(lit("@", Some(Family::Unix)), "''");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25");
        assert_eq!(seconds(Duration::from_secs(2)), "2.0");
    }
}

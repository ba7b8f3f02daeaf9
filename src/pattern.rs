//! Patterns for `expect NAME --re REGEX`: the `regex` crate over bytes,
//! anchored at the start as Python's `re.match` is.
//!
//! Unicode mode is off unless the pattern turns it on with `(?u)`, so `.`
//! matches any byte but a newline and `\xff` is the byte 0xFF. On a stream
//! the bytes arrive a few at a time, so a pattern is matched against what
//! has arrived so far; a match that more bytes could still lengthen (`\d+`
//! at the end of what arrived) is told apart, so the caller can wait a
//! moment for them rather than cut a number in two.

use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};
use regex_automata::hybrid::dfa::DFA;
use regex_automata::{Anchored, Input};

use crate::framing::Search;

/// A pattern as the script wrote it, in quotes: '\+OK\r\n', not the
/// doubled backslashes of Rust's Debug.
pub fn as_written(source: &str) -> String {
    if source.contains('\'') {
        let mut quoted = String::new();
        crate::lexer::push_quoted(&mut quoted, source);
        return quoted;
    }
    format!("'{source}'")
}

/// The most a compiled pattern may take (the regex crate's size limit).
const SIZE_LIMIT: usize = 16 << 20;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As the script wrote it.
    pub source: String,
    inner: Arc<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    /// Anchored at the start.
    prefix: Regex,
    /// Anchored at both ends: a whole datagram must match.
    whole: Regex,
    /// The same pattern as a lazy DFA, to tell whether more bytes could
    /// lengthen a match.
    dfa: DFA,
    /// Every match has the same length (no `*`, `+`, alternatives of
    /// different lengths...): `--stable` can show the count.
    fixed_length: bool,
}

impl Pattern {
    /// Compiles a pattern; the error says what is wrong with it.
    pub fn parse(source: &str) -> Result<Pattern, String> {
        let build = |wrapped: String| {
            RegexBuilder::new(&wrapped)
                .unicode(false)
                .size_limit(SIZE_LIMIT)
                .build()
        };
        let error =
            |e: regex::Error| format!("bad pattern {}: {}", as_written(source), one_line(&e));
        let prefix = build(format!(r"\A(?:{source})")).map_err(error)?;
        for name in prefix.capture_names().flatten() {
            check_group_name(name)
                .map_err(|why| format!("bad pattern {}: {why}", as_written(source)))?;
        }
        let whole = build(format!(r"\A(?:{source})\z")).map_err(error)?;
        let dfa = DFA::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .build(source)
            .map_err(|e| format!("bad pattern {}: {e}", as_written(source)))?;
        let syntax = regex_automata::util::syntax::Config::new()
            .unicode(false)
            .utf8(false);
        let properties = regex_automata::util::syntax::parse_with(source, &syntax)
            .map(|hir| hir.properties().clone());
        let fixed_length = properties
            .is_ok_and(|p| p.minimum_len().is_some() && p.minimum_len() == p.maximum_len());
        Ok(Pattern {
            source: source.to_string(),
            inner: Arc::new(Compiled {
                prefix,
                whole,
                dfa,
                fixed_length,
            }),
        })
    }

    /// Where a match at the start of `seen` ends, if there is one yet.
    pub fn search(&self, seen: &[u8], ended: bool) -> Search {
        let Some(found) = self.inner.prefix.find(seen) else {
            return Search::More;
        };
        if found.end() < seen.len() || ended || !self.could_go_on(seen) {
            Search::Found(found.end())
        } else {
            Search::Candidate(found.end())
        }
    }

    /// Whether every match has the same length.
    pub fn fixed_length(&self) -> bool {
        self.inner.fixed_length
    }

    /// Whether a whole datagram matches.
    pub fn matches_whole(&self, datagram: &[u8]) -> bool {
        self.inner.whole.is_match(datagram)
    }

    /// The named groups of the match at the start of `bytes` and what
    /// each matched. A group that took no part in the match (`(?P<x>b)?`)
    /// matched nothing: its value is empty, as Python's
    /// `m.group('x') or b''`, never what an earlier match left.
    pub fn named_groups(&self, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let regex = &self.inner.prefix;
        let Some(captures) = regex.captures(bytes) else {
            return Vec::new();
        };
        regex
            .capture_names()
            .flatten()
            .map(|name| {
                let matched = captures.name(name).map(|m| m.as_bytes().to_vec());
                (name.to_string(), matched.unwrap_or_default())
            })
            .collect()
    }

    /// The names of the pattern's named groups.
    pub fn group_names(&self) -> Vec<String> {
        self.inner
            .prefix
            .capture_names()
            .flatten()
            .map(str::to_string)
            .collect()
    }

    /// Whether bytes arriving after `seen` could still make (or lengthen)
    /// a match that starts at its first byte.
    fn could_go_on(&self, seen: &[u8]) -> bool {
        let dfa = &self.inner.dfa;
        let mut cache = dfa.create_cache();
        let input = Input::new(seen).anchored(Anchored::Yes);
        let Ok(mut state) = dfa.start_state_forward(&mut cache, &input) else {
            return false;
        };
        for &byte in seen {
            match dfa.next_state(&mut cache, state, byte) {
                Ok(next) if next.is_dead() => return false,
                Ok(next) => state = next,
                // The lazy DFA gave up (a huge pattern): assume it can.
                Err(_) => return true,
            }
        }
        // One more byte that keeps a thread alive means a longer match. A
        // DFA reports a match one byte late, so a state that only says
        // "the match ended before this byte" (everything after it dead) is
        // no longer match.
        let alive = |from, cache: &mut _| {
            (0..=u8::MAX).any(|byte| {
                dfa.next_state(cache, from, byte)
                    .map_or(true, |next| !next.is_dead())
            })
        };
        (0..=u8::MAX).any(|byte| match dfa.next_state(&mut cache, state, byte) {
            Err(_) => true,
            Ok(next) if next.is_dead() => false,
            Ok(next) if !next.is_match() => true,
            Ok(next) => alive(next, &mut cache),
        })
    }
}

/// A group's name becomes a variable's: letters, digits and `_`, starting
/// with a letter or `_`, and not a reserved name (`env`, `tmp`, `tls`). The
/// regex crate also allows `.` and `[]`, which `${...}` could not name.
fn check_group_name(name: &str) -> Result<(), String> {
    if crate::lexer::RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "{name} is a reserved name (${{{name}...}} means something else): choose another"
        ));
    }
    match crate::lexer::is_variable_name(name) {
        true => Ok(()),
        false => Err(format!(
            "bad group name '{name}': it names a variable, so letters, digits and _, starting with a letter or _"
        )),
    }
}

/// The regex crate's multi-line error on one line.
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.trim_start_matches("error: ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bytes_from_the_start() {
        let status = Pattern::parse(r"HTTP/1\.[01] (?P<status>\d+) .*\r\n").unwrap();
        let reply = b"HTTP/1.0 200 OK\r\nDate: x\r\n";
        assert_eq!(status.search(reply, false), Search::Found(17));
        assert_eq!(
            status.named_groups(reply),
            [("status".to_string(), b"200".to_vec())]
        );
        assert_eq!(status.search(b"xHTTP/1.0 200 OK\r\n", false), Search::More);
        assert_eq!(status.search(b"HTTP/1.0 2", false), Search::More);
    }

    #[test]
    fn unicode_is_off_unless_asked_for() {
        let any = Pattern::parse(r"\xff.").unwrap();
        assert_eq!(any.search(&[0xff, 0xfe], true), Search::Found(2));
        assert!(Pattern::parse(r"(?u)\w+").is_ok());
    }

    #[test]
    fn a_match_more_bytes_could_lengthen_is_a_candidate() {
        let number = Pattern::parse(r"\d+").unwrap();
        assert_eq!(number.search(b"12", false), Search::Candidate(2));
        assert_eq!(number.search(b"12", true), Search::Found(2));
        assert_eq!(number.search(b"12 ", false), Search::Found(2));
        let first = Pattern::parse("a|ab").unwrap();
        assert_eq!(first.search(b"a", false), Search::Found(1));
    }

    #[test]
    fn a_datagram_must_match_whole() {
        let ping = Pattern::parse("ping").unwrap();
        assert!(ping.matches_whole(b"ping"));
        assert!(!ping.matches_whole(b"ping!"));
    }

    #[test]
    fn a_group_name_must_be_a_variable_name() {
        for reserved in crate::lexer::RESERVED_NAMES {
            let error = Pattern::parse(&format!("(?P<{reserved}>x)")).unwrap_err();
            assert!(error.contains("is a reserved name"), "{error}");
        }
        let error = Pattern::parse("(?P<a.b>x)").unwrap_err();
        assert!(error.contains("bad group name 'a.b'"), "{error}");
        assert!(Pattern::parse("(?P<_tls2>x)").is_ok());
    }

    #[test]
    fn a_group_that_took_no_part_is_empty() {
        let pattern = Pattern::parse("(?P<w>a)(?P<x>b)?").unwrap();
        assert_eq!(
            pattern.named_groups(b"ac"),
            [
                ("w".to_string(), b"a".to_vec()),
                ("x".to_string(), Vec::new())
            ]
        );
    }

    #[test]
    fn a_bad_pattern_says_why_on_one_line() {
        let error = Pattern::parse("(unclosed").unwrap_err();
        assert!(!error.contains('\n'), "{error}");
        assert!(error.contains("unclosed"), "{error}");
    }
}

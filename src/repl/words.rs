//! Splitting a half-typed line into words with their byte positions, for
//! completion, hints and highlighting.
//!
//! The interpreter's lexer works on whole lines and forgets positions; the
//! shell needs to know which word the cursor is in and where each word
//! starts, even inside an unterminated quote. This follows the same shell
//! rules closely enough for that, and never fails.

/// One word of the line as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offsets into the line: `line[start..end]` is the word as typed.
    pub start: usize,
    pub end: usize,
    /// The word with quotes and backslashes taken out.
    pub value: String,
    /// Whether any part of it was quoted.
    pub quoted: bool,
    /// A `#` comment running to the end of the line.
    pub comment: bool,
}

/// Splits `line` into words; an unterminated quote runs to the end.
pub fn split(line: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            spans.push(Span {
                start,
                end: line.len(),
                value: line[start..].to_string(),
                quoted: false,
                comment: true,
            });
            break;
        }
        let mut value = String::new();
        let mut quoted = false;
        let mut quote: Option<char> = None;
        let mut end = line.len();
        while let Some(&(at, c)) = chars.peek() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => {
                    end = at;
                    break;
                }
                (None, '\'' | '"') => {
                    quote = Some(c);
                    quoted = true;
                }
                (Some(open), c) if c == open => quote = None,
                (None, '\\') | (Some('"'), '\\') => {
                    chars.next();
                    if let Some(&(_, escaped)) = chars.peek() {
                        value.push(escaped);
                    } else {
                        break;
                    }
                }
                (_, c) => value.push(c),
            }
            chars.next();
        }
        spans.push(Span {
            start,
            end,
            value,
            quoted,
            comment: false,
        });
    }
    spans
}

/// The words before the cursor, and the start of the word the cursor is
/// in (the cursor itself when it starts a new word).
pub fn before_cursor(line: &str, pos: usize) -> (Vec<Span>, usize, String) {
    let head = &line[..pos];
    let mut spans = split(head);
    let in_word = spans.last().is_some_and(|s| s.end == pos && !s.comment)
        && !head.ends_with(char::is_whitespace);
    if in_word {
        let current = spans.pop().expect("checked above");
        (spans, current.start, current.value)
    } else {
        (
            spans.into_iter().filter(|s| !s.comment).collect(),
            pos,
            String::new(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<String> {
        split(line).into_iter().map(|s| s.value).collect()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(values("say c 'hello world'"), ["say", "c", "hello world"]);
        assert_eq!(values("  tie  srv :0 "), ["tie", "srv", ":0"]);
        assert_eq!(values("echo a\\ b \"x\\\"y\""), ["echo", "a b", "x\"y"]);
    }

    #[test]
    fn keeps_positions_and_comments() {
        let spans = split("recv c # later");
        assert_eq!((spans[1].start, spans[1].end), (5, 6));
        assert!(spans[2].comment);
        assert_eq!(spans[2].start, 7);
    }

    #[test]
    fn unterminated_quote_runs_to_the_end() {
        let spans = split("send c 'abc");
        assert_eq!(spans[2].value, "abc");
        assert_eq!(spans[2].end, 11);
    }

    #[test]
    fn finds_the_word_under_the_cursor() {
        let (before, start, current) = before_cursor("accept sr", 9);
        assert_eq!(before.len(), 1);
        assert_eq!((start, current.as_str()), (7, "sr"));
        let (before, start, current) = before_cursor("accept ", 7);
        assert_eq!(before.len(), 1);
        assert_eq!((start, current.as_str()), (7, ""));
    }
}

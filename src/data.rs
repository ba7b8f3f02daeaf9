//! DATA words in, bytes literals and hexdumps out.
//!
//! Data is written the way the lecture's Python client writes it: a bytes
//! literal's escapes (`'hello\n'`), or `--hex`, or `--file` (streamed, never
//! loaded whole). Received bytes are shown as a Python bytes literal whose
//! inner text, put in single quotes, is a DATA word for the same bytes.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The most bytes of data a message quotes.
const PREVIEW: usize = 200;

/// Bytes a command sends or expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Bytes(Vec<u8>),
    /// A file's bytes, read in chunks when the command runs.
    File(PathBuf),
}

/// Decodes the escapes of a Python bytes literal: `\\ \' \" \a \b \f \n \r
/// \t \v \0 \xHH`. Other characters stand for their UTF-8 bytes.
pub fn decode_escapes(word: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(word.len());
    let mut chars = word.char_indices();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escaped = match chars.next() {
            None => {
                return Err("a lone backslash ends the data (write \\\\ for a backslash)".into())
            }
            Some((_, c)) => c,
        };
        let byte = match escaped {
            '\\' => b'\\',
            '\'' => b'\'',
            '"' => b'"',
            'a' => 0x07,
            'b' => 0x08,
            'f' => 0x0c,
            'n' => b'\n',
            'r' => b'\r',
            't' => b'\t',
            'v' => 0x0b,
            // `\0` is NUL only when no octal digit follows: Python would
            // read `\012` as one octal escape, which DATA does not have.
            '0' if !chars.clone().next().is_some_and(|(_, c)| c.is_digit(8)) => 0,
            '0'..='7' => return Err(octal_escape(escaped, &chars)),
            'x' => hex_escape(&mut chars)?,
            other => {
                return Err(format!(
                    "bad escape '\\{other}' (known: \\\\ \\' \\\" \\a \\b \\f \\n \\r \\t \\v \\0 \\xHH)"
                ))
            }
        };
        bytes.push(byte);
    }
    Ok(bytes)
}

/// The error for an octal escape (`\012`, `\7`), which Python's bytes
/// literal has and DATA does not: it names the `\xHH` for the same byte.
fn octal_escape(first: char, rest: &std::str::CharIndices<'_>) -> String {
    let mut digits = String::from(first);
    digits.extend(
        rest.clone()
            .map(|(_, c)| c)
            .take_while(|c| c.is_digit(8))
            .take(2),
    );
    let value = u32::from_str_radix(&digits, 8).unwrap_or(0);
    let instead = match value {
        0..=0xff => format!("write \\x{value:02x} for that byte"),
        _ => "write the byte as \\xHH".to_string(),
    };
    format!(
        "bad escape '\\{digits}': octal escapes are not DATA escapes (known: \\\\ \\' \\\" \\a \\b \\f \\n \\r \\t \\v \\0 \\xHH); {instead}"
    )
}

fn hex_escape(chars: &mut std::str::CharIndices<'_>) -> Result<u8, String> {
    let digits: String = chars.clone().take(2).map(|(_, c)| c).collect();
    if digits.len() != 2 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "bad escape '\\x{digits}': \\x takes two hex digits"
        ));
    }
    chars.nth(1);
    u8::from_str_radix(&digits, 16).map_err(|e| e.to_string())
}

/// Decodes `--hex` text: hex digit pairs, whitespace allowed anywhere.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!(
            "bad hex '{}': not a hex digit",
            char::from(*bad).escape_default()
        ));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "bad hex: an odd number of digits ({}); each byte takes two",
            digits.len()
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1]))
        .collect())
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Shows bytes as a Python bytes literal: `b'Hello, world\n'`.
///
/// The inner text, put in single quotes, is always a DATA word for the same
/// bytes, so a few bytes are escaped where Python would not: a quote is
/// `\x27` (Python would switch to `"`), a `$` that would start an
/// expansion is `\x24`, and data that would read as an option (`--hex`)
/// starts with `\x2d`.
pub fn bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("b'");
    match bytes.split_first() {
        Some((b'-', rest)) if is_option(bytes) => {
            out.push_str("\\x2d");
            push_escaped(&mut out, rest);
        }
        _ => push_escaped(&mut out, bytes),
    }
    out.push('\'');
    out
}

fn is_option(bytes: &[u8]) -> bool {
    crate::flag::is_flag(bytes)
}

/// Appends the escaped inner text of a bytes literal.
pub fn push_escaped(out: &mut String, bytes: &[u8]) {
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\x27"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            // `${` and `$$` mean something in a script; a lone `$` does not.
            b'$' if matches!(bytes.get(index + 1), Some(b'{' | b'$')) => out.push_str("\\x24"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
}

/// Bytes as text a terminal shows safely: UTF-8 as it is, but control
/// characters (C0, DEL, C1) and bytes that are not UTF-8 escaped (`\n`,
/// `\x1b`), so the text is one line and carries no escape sequence.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// Text with its control characters (ESC, CR, newlines, C1) escaped as
/// `print` shows them: what a script, a peer or a file name wrote can
/// neither forge a transcript line nor reach the terminal as a sequence.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().any(char::is_control) {
        true => std::borrow::Cow::Owned(printable(text.as_bytes())),
        false => std::borrow::Cow::Borrowed(text),
    }
}

/// A bytes literal, cut short for long data.
pub fn preview(bytes: &[u8]) -> String {
    if bytes.len() <= PREVIEW {
        bytes_literal(bytes)
    } else {
        format!(
            "{}... ({} bytes)",
            bytes_literal(&bytes[..PREVIEW]),
            bytes.len()
        )
    }
}

/// A hexdump in the layout of `hexdump -C`: offset, 16 hex bytes, text.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", row * 16);
        for column in 0..16 {
            match chunk.get(column) {
                Some(byte) => {
                    let _ = write!(out, "{byte:02x} ");
                }
                None => out.push_str("   "),
            }
            if column == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    let _ = write!(out, "{:08x}", bytes.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_escape() {
        let decoded = decode_escapes(r#"a\\\'\"\a\b\f\n\r\t\v\0\x41\xff"#).unwrap();
        assert_eq!(decoded, b"a\\'\"\x07\x08\x0c\n\r\t\x0b\0A\xff");
    }

    #[test]
    fn rejects_bad_escapes() {
        assert!(decode_escapes(r"\q").is_err());
        assert!(decode_escapes(r"\x4").is_err());
        assert!(decode_escapes(r"\xzz").is_err());
        assert!(decode_escapes("end\\").is_err());
    }

    /// `\0` is NUL, as listed; an octal escape (Python's `\012`) is not
    /// one of DATA's, so it is an error naming the `\xHH` to write.
    #[test]
    fn octal_escapes_are_refused_but_nul_is_not() {
        assert_eq!(decode_escapes(r"a\0b\08\0").unwrap(), b"a\0b\08\0");
        let error = decode_escapes(r"x\012y").unwrap_err();
        assert!(
            error.contains(r"'\012'") && error.contains(r"\x0a"),
            "{error}"
        );
        let error = decode_escapes(r"\7").unwrap_err();
        assert!(
            error.contains(r"'\7'") && error.contains(r"\x07"),
            "{error}"
        );
        assert!(decode_escapes(r"\00").is_err());
        assert!(decode_escapes(r"\8").is_err());
    }

    #[test]
    fn literal_round_trips_through_decode() {
        let all: Vec<u8> = (0..=255).collect();
        let literal = bytes_literal(&all);
        let inner = &literal[2..literal.len() - 1];
        assert_eq!(decode_escapes(inner).unwrap(), all);
        assert!(!inner.contains('\''));
    }

    #[test]
    fn literal_looks_like_python() {
        assert_eq!(bytes_literal(b"Hello, world"), "b'Hello, world'");
        assert_eq!(bytes_literal(b"hi\n\x00"), "b'hi\\n\\x00'");
        assert_eq!(
            bytes_literal(b"cost: $5 ${x} $$"),
            "b'cost: $5 \\x24{x} \\x24$'"
        );
        assert_eq!(bytes_literal(b"--hex"), "b'\\x2d-hex'");
        assert_eq!(bytes_literal(b"--hexagon"), "b'--hexagon'");
    }

    #[test]
    fn hex_allows_whitespace() {
        assert_eq!(decode_hex("48 65\n6c").unwrap(), b"Hel");
        assert!(decode_hex("4").is_err());
        assert!(decode_hex("zz").is_err());
    }

    #[test]
    fn hexdump_matches_hexdump_c() {
        assert_eq!(
            hexdump(b"Hello, world\n"),
            "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a           |Hello, world.|\n0000000d"
        );
    }
}

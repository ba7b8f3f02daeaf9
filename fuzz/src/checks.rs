//! The oracle shared by the property tests (`tests/suite/fuzz_props.rs`,
//! which includes this file with `#[path]`) and the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, which use it as the `sockrepl_fuzz` library).
//!
//! Each `check_*` function takes any input, runs it through one stage of the
//! text front end and panics when the result is inconsistent. A panic inside
//! sockrepl itself propagates the same way, so "no panic" and "consistent
//! result" are one check for both harnesses.

use std::time::Duration;

use sockrepl::address::Address;
use sockrepl::cmd::Command;
use sockrepl::data::{bytes_literal, decode_escapes, decode_hex};
use sockrepl::duration::{format_duration, parse_duration};
use sockrepl::lexer::{split_line, Context, Piece, Word};
use sockrepl::script::Loader;

/// The script arguments `${1}`..`${3}` expand to during checks: a space and a
/// quote, so an expansion that is split again shows up as extra words.
pub fn script_args() -> Vec<String> {
    vec![
        "127.0.0.1:9".to_string(),
        "a b".to_string(),
        "it's \"x\"".to_string(),
    ]
}

/// Splits one line, parses its words, and checks every literal word as data.
/// Returns whether the line parsed as a command (for counting).
pub fn check_line(line: &str) -> bool {
    let args = script_args();
    let words = match split_line(line, &Context::new(&args)) {
        Ok(words) => words,
        Err(error) => {
            assert!(!error.message.is_empty(), "empty lexer error for {line:?}");
            check_column(error.column, line);
            return false;
        }
    };
    for word in &words {
        if let Some(text) = word.literal() {
            check_data_word(text);
        }
    }
    check_words(&words)
}

/// A 1-based column must point into the line or just past its end.
pub fn check_column(column: Option<usize>, line: &str) {
    if let Some(column) = column {
        let chars = line.chars().count();
        assert!(
            (1..=chars + 1).contains(&column),
            "column {column} outside a line of {chars} characters: {line:?}"
        );
    }
}

/// `Command::parse` on any words: a command, or an error with a message.
pub fn check_words(words: &[Word]) -> bool {
    match Command::parse(words) {
        Ok(_) => true,
        Err(error) => {
            assert!(
                !error.message.trim().is_empty(),
                "empty parse error for {words:?}"
            );
            false
        }
    }
}

/// One word through every word-level decoder, with their round trips.
pub fn check_data_word(word: &str) {
    if let Ok(bytes) = decode_escapes(word) {
        check_literal_round_trip(&bytes);
    }
    if let Ok(bytes) = decode_hex(word) {
        assert_eq!(
            decode_hex(&to_hex(&bytes)).as_deref(),
            Ok(&bytes[..]),
            "hex round trip of {word:?}"
        );
    }
    if let Ok(address) = Address::parse(word) {
        check_address_round_trip(&address, word);
    }
    if let Ok(duration) = parse_duration(word) {
        check_duration_round_trip(duration, word);
    }
}

/// The inner text of `bytes_literal(b)` decodes to `b` and holds no `'`.
pub fn check_literal_round_trip(bytes: &[u8]) {
    let literal = bytes_literal(bytes);
    let inner = literal_inner(&literal);
    assert!(!inner.contains('\''), "a quote inside {literal}");
    assert_eq!(
        decode_escapes(inner).as_deref(),
        Ok(bytes),
        "decode of {literal}"
    );
}

/// The text between the quotes of `b'...'`.
pub fn literal_inner(literal: &str) -> &str {
    literal
        .strip_prefix("b'")
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not a bytes literal: {literal}"))
}

/// SPEC §5: a shown literal's inner text, put in single quotes on a script
/// line, is a DATA word for the same bytes (the whole path: `${...}`
/// hiding, shell splitting, escape decoding).
pub fn check_literal_as_script_word(bytes: &[u8]) {
    assert_literal_is_script_word(bytes);
}

/// [`check_literal_as_script_word`] without stepping around open bugs.
pub fn assert_literal_is_script_word(bytes: &[u8]) {
    let literal = bytes_literal(bytes);
    let line = format!("expect c '{}'", literal_inner(&literal));
    let args = script_args();
    let words = split_line(&line, &Context::new(&args))
        .unwrap_or_else(|e| panic!("{line:?} does not split: {}", e.message));
    assert_eq!(words.len(), 3, "{line:?} split into {words:?}");
    let word = words[2]
        .literal()
        .unwrap_or_else(|| panic!("{line:?}: data word has an expansion"));
    assert_eq!(decode_escapes(word).as_deref(), Ok(bytes), "{line:?}");
    assert!(check_words(&words), "{line:?} does not parse");
}

/// Lower-case hex digits, spaced every other byte as a user might write.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 2 == 1 {
                format!("{b:02x} ")
            } else {
                format!("{b:02X}")
            }
        })
        .collect()
}

/// `Address::parse(a.to_string()) == a`.
pub fn check_address_round_trip(address: &Address, word: &str) {
    let shown = address.to_string();
    assert_eq!(
        Address::parse(&shown).as_ref(),
        Ok(address),
        "{word:?} is shown as {shown:?}"
    );
}

/// A parsed duration, shown and parsed again, keeps its milliseconds (the
/// precision `format_duration` shows).
pub fn check_duration_round_trip(duration: Duration, word: &str) {
    let shown = format_duration(duration);
    let again =
        parse_duration(&shown).unwrap_or_else(|e| panic!("{word:?} is shown as {shown:?}: {e}"));
    assert_eq!(
        again.as_millis(),
        duration.as_millis(),
        "{word:?} is shown as {shown:?}"
    );
}

/// A line built from shell-quoted words splits back into those words.
/// `$` is doubled because `${...}` and `$$` are read before splitting.
pub fn check_quoted_words(words: &[String]) {
    let Some(quoted) = words
        .iter()
        .map(|w| shlex::try_quote(w).ok())
        .collect::<Option<Vec<_>>>()
    else {
        return; // a NUL cannot be quoted
    };
    let line = quoted.join(" ").replace('$', "$$");
    let args = script_args();
    let split = match split_line(&line, &Context::new(&args)) {
        Ok(split) => split,
        // The one character the lexer refuses outright.
        Err(e) if e.message.contains("private use") => return,
        Err(e) => panic!("{line:?} from {words:?}: {}", e.message),
    };
    let texts: Vec<Option<&str>> = split.iter().map(Word::literal).collect();
    let expected: Vec<Option<&str>> = words.iter().map(|w| Some(w.as_str())).collect();
    assert_eq!(texts, expected, "line {line:?}");
}

/// `${N}` expands to exactly that argument, as one word, wherever it stands.
pub fn check_argument_expansion(prefix: &str, value: &str, suffix: &str) {
    let args = vec![value.to_string()];
    let line = format!(
        "print {}${{1}}{}",
        escape_for_line(prefix),
        escape_for_line(suffix)
    );
    let words = match split_line(&line, &Context::new(&args)) {
        Ok(words) => words,
        Err(e) if e.message.contains("private use") => return,
        Err(e) => panic!("{line:?}: {}", e.message),
    };
    assert_eq!(
        words.len(),
        2,
        "{line:?} with ${{1}} = {value:?} split into {words:?}"
    );
    let text = format!("{prefix}{value}{suffix}");
    // A word an expansion made that reads as an option stays a template,
    // so no flag lookup takes it (`lexer::build_word`); its text is the same.
    let expected = match text.starts_with("--") {
        true => Word::Template(vec![Piece::Text(text)]),
        false => Word::Text(text),
    };
    assert_eq!(words[1], expected, "{line:?}");
}

/// Backslash-escapes every character so the shell reads it as itself.
fn escape_for_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '$' => "$$".to_string(),
            '\n' => "'\n'".to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

/// A whole script through the loader: errors are well formed, parsed lines
/// are numbered in order. Paths the loader could block on are not given.
pub fn check_script(text: &[u8]) {
    if !safe_for_loader(text) {
        return;
    }
    let args = script_args();
    // Lines end at \n, \r\n or a lone \r.
    let line_count = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .map(|l| l.iter().filter(|&&b| b == b'\r').count() + 1)
        .sum::<usize>();
    match Loader::new(&args).parse(text, "fuzz.sock", None) {
        Ok(script) => {
            let numbers: Vec<usize> = script.lines.iter().map(|l| l.number).collect();
            assert!(
                numbers.windows(2).all(|w| w[0] < w[1]),
                "line numbers out of order: {numbers:?}"
            );
            assert!(
                numbers.iter().all(|n| (1..=line_count).contains(n)),
                "bad line numbers {numbers:?}"
            );
        }
        Err(errors) => {
            // At most 20 errors, then one line saying the check stopped there.
            let stopped = errors
                .last()
                .is_some_and(|e| e.error.message.starts_with("stopped after 20 errors"));
            assert!(
                !errors.is_empty() && errors.len() <= 20 + usize::from(stopped),
                "{} errors",
                errors.len()
            );
            assert_eq!(stopped, errors.len() == 21, "{} errors", errors.len());
            for error in &errors {
                assert!(
                    (1..=line_count).contains(&error.line),
                    "error on line {} of {line_count}",
                    error.line
                );
                assert!(
                    !error.error.message.trim().is_empty(),
                    "empty message in {error:?}"
                );
                assert_eq!(error.file, "fuzz.sock");
            }
        }
    }
}

/// The loader reads `source` files; a device such as `/dev/zero` would make
/// a check run forever, so such inputs are left out (see docs/testing.md, "Fuzzing").
pub fn safe_for_loader(text: &[u8]) -> bool {
    !["/dev", "/proc", "/sys", "..", "~"]
        .iter()
        .any(|path| text.windows(path.len()).any(|w| w == path.as_bytes()))
}

/// A script of lines parses exactly when each of its lines does on its own,
/// and its first error is on the first line that fails alone. (Blocks and
/// variables tie lines together, so scripts with `repeat`/`end` are left
/// out and variables are not checked against earlier lines here.)
pub fn check_script_agrees_with_lines(lines: &[String]) {
    let block_words = [
        sockrepl::cmd::repeat::REPEAT.name,
        sockrepl::cmd::repeat::END.name,
    ];
    let opens_or_closes = |line: &str| {
        line.split_whitespace()
            .next()
            .is_some_and(|first| block_words.contains(&first))
    };
    // A lone CR ends a line too (old Mac files): such a line is two.
    let joinable = lines.iter().all(|l| {
        !l.contains(['\n', '\0'])
            && !l.trim_end_matches('\r').contains('\r')
            && !l.contains("source")
            && !opens_or_closes(l)
    });
    if !joinable {
        return;
    }
    let text = lines.join("\n");
    let args = script_args();
    // A byte order mark at the very start of a script is not part of its first line.
    let alone: Vec<Result<bool, ()>> = lines
        .iter()
        .enumerate()
        .map(|(at, l)| match at {
            0 => line_alone(l.strip_prefix('\u{feff}').unwrap_or(l), &args),
            _ => line_alone(l, &args),
        })
        .collect();
    let first_failure = alone.iter().position(Result::is_err);
    match (
        Loader::new(&args)
            .allowing_unset_variables()
            .parse(text.as_bytes(), "s.sock", None),
        first_failure,
    ) {
        (Ok(script), None) => {
            let commands = alone.iter().filter(|r| matches!(r, Ok(true))).count();
            assert_eq!(script.lines.len(), commands, "{lines:?}");
        }
        (Err(errors), Some(index)) => {
            assert_eq!(errors[0].line, index + 1, "{lines:?}: {errors:?}")
        }
        (Ok(_), Some(index)) => panic!(
            "line {} fails alone but the script loads: {lines:?}",
            index + 1
        ),
        (Err(errors), None) => panic!("every line parses alone but the script fails: {errors:?}"),
    }
}

/// Ok(true): a command; Ok(false): blank or comment; Err: a syntax error.
fn line_alone(line: &str, args: &[String]) -> Result<bool, ()> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let words = split_line(line, &Context::new(args)).map_err(|_| ())?;
    if words.is_empty() {
        return Ok(false);
    }
    Command::parse(&words).map(|_| true).map_err(|_| ())
}

//! Fuzz target: one line through the splitter (with `${...}` expansion),
//! `Command::parse`, and every word through the data decoders; the same
//! input cut at newlines is also a list of words to shell-quote, join and
//! split back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        sockrepl_fuzz::check_line(line);
        let words: Vec<String> = line.split('\n').map(str::to_string).collect();
        sockrepl_fuzz::check_quoted_words(&words);
    }
});

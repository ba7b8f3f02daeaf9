//! Fuzz target: any bytes as a whole script through the loader (UTF-8
//! check, NUL check, split, static expansion, parse of every line), and,
//! for text, the same lines agreeing with a line-by-line parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sockrepl_fuzz::check_script(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        sockrepl_fuzz::check_script_agrees_with_lines(&lines);
    }
});

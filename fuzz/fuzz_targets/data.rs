//! Fuzz target: the word-level decoders and their round trips. The input
//! is both a word (DATA, --hex, ADDR, DUR) and raw bytes to show as a
//! bytes literal and read back, directly and from a script line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sockrepl_fuzz::check_literal_round_trip(data);
    assert_eq!(
        sockrepl::data::decode_hex(&sockrepl_fuzz::to_hex(data)).as_deref(),
        Ok(data)
    );
    // `$` is an open bug: see regression_literal_with_dollar_is_a_data_word.
    if !data.contains(&b'$') {
        sockrepl_fuzz::check_literal_as_script_word(data);
    }
    if let Ok(word) = std::str::from_utf8(data) {
        sockrepl_fuzz::check_data_word(word);
    }
});

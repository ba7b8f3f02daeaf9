//! Fuzz-style property tests of the text front end: the splitter and its
//! `${...}` expansion, `Command::parse`, the data decoders and the whole-
//! script loader. SPEC §1: no input of any kind makes the program panic.
//!
//! Two harnesses share one oracle (`fuzz/src/checks.rs`):
//! - `hundred_thousand_mutated_lines`: a seeded loop (an in-test xorshift
//!   RNG, so any failure names a replayable seed) that mutates real script
//!   lines and throws well over 100,000 lines at every stage;
//! - proptest properties, which shrink a failure to a small input.
//!
//! Inputs the fuzzer found are kept at the end as regression tests. How to
//! run everything, and what was found: docs/testing.md, "Fuzzing".

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sockrepl::data::{decode_escapes, decode_hex};
use sockrepl::lexer::{split_line, Context, Field, Piece, Var, Word};

use crate::common::{self, Run, Sock};

/// Valid lines covering every command and every form of each argument.
const VALID_LINES: &[&str] = &[
    "socket srv",
    "socket srv tcp",
    "socket u udp",
    "socket s6 tcp6",
    "socket u6 udp6",
    "socket us unix",
    "socket ud unix-dgram",
    "socket p icmp",
    "socket r raw",
    "socket c AF_INET SOCK_STREAM",
    "socket c AF_INET6 SOCK_DGRAM IPPROTO_UDP",
    "socket c AF_UNIX SOCK_SEQPACKET",
    "socketpair left right",
    "socketpair a b unix-dgram",
    "bind srv 127.0.0.1:0",
    "bind srv [::1]:0",
    "bind srv :0",
    "bind srv localhost:0",
    "bind us ./lab.sock",
    "bind us ${tmp}/lab.sock",
    "bind us @lab",
    "bind us @",
    "listen srv",
    "listen srv 5",
    "accept srv",
    "accept srv conn",
    "connect cli ${srv.addr}",
    "connect cli 127.0.0.1:${srv.port}",
    "connect cli [::1]:8080",
    "connect_ex cli 127.0.0.1:1",
    "send cli 'hello\\n'",
    "send cli --hex '48 65 6c'",
    "send cli --file ./data.bin",
    "sendall cli 'Hello, world'",
    "sendall cli \"tab\\there\"",
    "sendto u ${peer.addr} 'ping'",
    "sendto u 127.0.0.1:9 --hex ff00",
    "recv conn",
    "recv conn 16 --hex",
    "recvfrom u",
    "recvfrom u 65536",
    "recvall conn",
    "recvall conn --into received.bin --hex",
    "shutdown cli write",
    "shutdown cli read",
    "shutdown cli both",
    "close cli",
    "setsockopt srv SO_REUSEADDR 1",
    "setsockopt srv SO_LINGER off",
    "setsockopt srv SO_LINGER 5",
    "setsockopt srv SO_RCVBUF 65536",
    "setsockopt srv TCP_NODELAY on",
    "setsockopt s6 IPV6_V6ONLY true",
    "setsockopt u IP_TTL 64",
    "getsockopt cli SO_TYPE",
    "getsockopt cli SO_ERROR",
    "settimeout conn 250ms",
    "settimeout conn none",
    "setblocking conn off",
    "getsockname srv",
    "getpeername conn",
    "poll srv conn --timeout 1s",
    "poll srv",
    "sockets",
    "expect cli 'Hello, world'",
    "expect cli --hex 'de ad be ef'",
    "expect cli 'a\\x00\\xff\\\"\\\\\\a\\b\\f\\n\\r\\t\\v\\0'",
    "expect cli \"it\\'s\"",
    "expect_eof conn",
    "fails ECONNREFUSED connect cli 127.0.0.1:1",
    "fails TIMEOUT recv conn",
    "fails recv conn",
    "fails EAGAIN fails EWOULDBLOCK recv conn",
    "require ipv6",
    "require raw",
    "require unix",
    "timeout 2s",
    "timeout 1.5s",
    "sleep 100ms",
    "sleep 1m",
    "print server listening on ${srv.addr}",
    "print ${1} ${2} $$ ${env.HOME} # a comment",
    "print 'single' \"double\" back\\ slash",
    "source common/server.sock",
    "help",
    "help connect",
    "exit",
    "exit 3",
    "quit",
    "",
    "   # only a comment",
];

/// Substrings that reach the interesting corners of the grammar.
const TOKENS: &[&str] = &[
    "${",
    "}",
    "$$",
    "$",
    "${1}",
    "${9}",
    "${0}",
    "${env.HOME}",
    "${env.}",
    "${srv.addr}",
    "${srv.nope}",
    "${tmp}",
    "${${",
    "'",
    "\"",
    "\\",
    "\\x",
    "\\x4",
    "\\xzz",
    "\\q",
    "#",
    " ",
    "\t",
    "\r",
    "\0",
    "[",
    "]",
    "[::1]",
    ":",
    "::",
    "@",
    "/",
    ".",
    "-",
    "--hex",
    "--file",
    "--into",
    "--timeout",
    "none",
    "0",
    "65535",
    "65536",
    "-1",
    "+1",
    "99999999999999999999",
    "1e9s",
    "0.5",
    "ms",
    "s",
    "m",
    "h",
    "fails ",
    "SO_LINGER",
    "AF_INET",
    "SOCK_RAW",
    "é",
    "€",
    "😀",
    "\u{FEFF}",
    "\u{10FFFD}",
    "\u{100000}",
    "\u{E000}",
    "\u{7F}",
];

/// A small deterministic RNG (xorshift64*): a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed corpus, sorted: the built-in lines, every command's help
/// example, and the lines of every script in scripts/ and tests/golden/.
fn corpus() -> Vec<String> {
    let mut lines: Vec<String> = VALID_LINES.iter().map(|l| l.to_string()).collect();
    lines.extend(sockrepl::cmd::specs().map(|h| h.example.to_string()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["scripts", "tests/golden", "examples", "lessons"] {
        for file in sock_files(&root.join(dir)) {
            if let Ok(text) = std::fs::read_to_string(file) {
                lines.extend(text.lines().map(str::to_string));
            }
        }
    }
    lines.sort();
    lines.dedup();
    lines
}

fn sock_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            files.extend(sock_files(&path));
        } else if path.extension().is_some_and(|e| e == "sock") {
            files.push(path);
        }
    }
    files
}

/// One to four random edits of a line: byte-level (flip, insert, delete,
/// duplicate, splice) or word-level (swap, replace, repeat), one edit most
/// often so that many mutants still parse and reach the argument parsers.
fn mutate(rng: &mut Rng, line: &[u8], corpus: &[String]) -> Vec<u8> {
    let mut bytes = line.to_vec();
    let edits = [1, 1, 1, 1, 1, 2, 2, 3, 4][rng.below(9)];
    for _ in 0..edits {
        if rng.below(2) == 0 {
            bytes = mutate_words(rng, &bytes, corpus);
        } else {
            mutate_bytes(rng, &mut bytes, corpus);
        }
    }
    bytes
}

fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, corpus: &[String]) {
    let at = rng.below(bytes.len() + 1);
    match rng.below(7) {
        0 if !bytes.is_empty() => {
            let index = at.min(bytes.len() - 1);
            bytes[index] ^= 1 << rng.below(8);
        }
        1 => bytes.insert(at, rng.next() as u8),
        2 | 3 => {
            let token = rng.pick(TOKENS).as_bytes();
            bytes.splice(at..at, token.iter().copied());
        }
        4 => {
            let end = (at + 1 + rng.below(8)).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
        5 => {
            let end = (at + 1 + rng.below(16)).min(bytes.len());
            let copy = bytes[at.min(end)..end].to_vec();
            bytes.splice(at..at, copy);
        }
        _ => {
            let other = rng.pick(corpus).as_bytes();
            let from = rng.below(other.len() + 1);
            bytes.truncate(at);
            bytes.extend_from_slice(&other[from..]);
        }
    }
}

/// The lines of the sorted corpus that start with `prefix` (one run of it).
fn lines_starting_with<'a>(corpus: &'a [String], prefix: &str) -> &'a [String] {
    let start = corpus.partition_point(|l| l.as_str() < prefix);
    let len = corpus[start..]
        .iter()
        .take_while(|l| l.starts_with(prefix))
        .count();
    &corpus[start..start + len]
}

/// Edits whole space-separated words, keeping the line's shape.
fn mutate_words(rng: &mut Rng, bytes: &[u8], corpus: &[String]) -> Vec<u8> {
    let mut words: Vec<Vec<u8>> = bytes.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
    let at = rng.below(words.len());
    match rng.below(6) {
        5 => {
            // The same argument of another line of this command: often valid.
            let prefix = [&words[0][..], b" "].concat();
            let donors = lines_starting_with(corpus, &String::from_utf8_lossy(&prefix));
            if let Some(word) = donors
                .get(rng.below(donors.len()))
                .and_then(|l| l.split(' ').nth(at))
            {
                words[at] = word.as_bytes().to_vec();
            }
        }
        0 => {
            let other = rng.below(words.len());
            words.swap(at, other);
        }
        1 => words[at] = rng.pick(TOKENS).as_bytes().to_vec(),
        2 => {
            let donor: Vec<&str> = rng.pick(corpus).split(' ').collect();
            words[at] = rng.pick(&donor).as_bytes().to_vec();
        }
        3 => {
            let copy = words[at].clone();
            words.insert(at, copy);
        }
        _ if words.len() > 1 => {
            words.remove(at);
        }
        _ => words[at].clear(),
    }
    words.join(&b' ')
}

/// A line of random tokens and characters, unrelated to any real line.
fn random_line(rng: &mut Rng) -> String {
    let mut line = String::new();
    for _ in 0..rng.below(24) {
        match rng.below(3) {
            0 => {
                let token: &&str = rng.pick(TOKENS);
                line.push_str(token);
            }
            1 => line.push(char::from(b' ' + rng.below(95) as u8)),
            _ => line.push(char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('?')),
        }
    }
    line
}

/// One input through every stage: the line on its own, each word as data,
/// and the bytes as a one-line script. Returns whether it was a command.
fn check_input(bytes: &[u8]) -> bool {
    checks::check_script(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    checks::check_data_word(text);
    checks::check_line(text)
}

/// Counts of what the seeded loop threw at the front end.
#[derive(Default, Debug)]
struct Tally {
    lines: usize,
    parsed: usize,
    scripts: usize,
}

fn run_seeded(seed: u64, count: usize, tally: &mut Tally) {
    let corpus = corpus();
    let mut rng = Rng(seed);
    for _ in 0..count {
        let input = match rng.below(10) {
            0 => random_line(&mut rng).into_bytes(),
            _ => {
                let line = rng_line(&mut rng, &corpus);
                mutate(&mut rng, line, &corpus)
            }
        };
        tally.lines += 1;
        tally.parsed += usize::from(check_with_context(&input, seed));
        if rng.below(20) == 0 {
            let script = random_script(&mut rng, &corpus);
            checks::check_script_agrees_with_lines(&script);
            checks::check_script(script.join("\r\n").as_bytes());
            tally.lines += script.len();
            tally.scripts += 1;
        }
    }
}

fn rng_line<'a>(rng: &mut Rng, corpus: &'a [String]) -> &'a [u8] {
    rng.pick(corpus).as_bytes()
}

/// Several lines, some mutated, as a script.
fn random_script(rng: &mut Rng, corpus: &[String]) -> Vec<String> {
    (0..1 + rng.below(12))
        .map(|_| match rng.below(3) {
            0 => {
                let line = rng_line(rng, corpus);
                String::from_utf8_lossy(&mutate(rng, line, corpus)).into_owned()
            }
            _ => rng.pick(corpus).clone(),
        })
        .collect()
}

/// Runs the checks, naming the input and seed if anything panics.
fn check_with_context(input: &[u8], seed: u64) -> bool {
    let result = std::panic::catch_unwind(|| check_input(input));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "seed {seed:#x}: input {:?} panicked: {message}",
            String::from_utf8_lossy(input)
        )
    })
}

#[test]
fn hundred_thousand_mutated_lines() {
    let _core = common::cpu_heavy();
    let started = Instant::now();
    let mut tally = Tally::default();
    for seed in [0x5eed_0001_u64, 0x5eed_0002, 0x5eed_0003, 0x5eed_0004] {
        run_seeded(seed, 27_000, &mut tally);
    }
    let elapsed = started.elapsed();
    eprintln!("fuzz_props: {tally:?} in {elapsed:?}");
    assert!(tally.lines >= 100_000, "only {} lines", tally.lines);
    // Some mutants must still be commands, or only the error paths are tested.
    assert!(
        tally.parsed > 5_000,
        "only {} of {} lines parsed",
        tally.parsed,
        tally.lines
    );
}

#[test]
fn corpus_lines_are_valid_as_written() {
    let args = checks::script_args();
    for line in VALID_LINES {
        let words = split_line(line, &Context::new(&args))
            .unwrap_or_else(|e| panic!("{line}: {}", e.message));
        if !words.is_empty() {
            assert!(checks::check_words(&words), "{line} should parse");
        }
    }
}

#[test]
fn huge_and_odd_lines_do_not_panic() {
    let _core = common::cpu_heavy();
    let huge_word = "a".repeat(1 << 20);
    let odd = [
        format!("print {huge_word}"),
        format!("send c '{}'", "\\x41".repeat(100_000)),
        format!("print {}", "${1}".repeat(70_000)),
        "${".repeat(50_000),
        "'\"".repeat(50_000),
        format!("print {}", "\"'".repeat(10_000)),
        "\\".repeat(100_001),
        format!("fails {}sockets", "fails ".repeat(50)),
        "\u{10FFFF}\u{10FFFE}\u{10FFFD}".to_string(),
        "socket \0 tcp".to_string(),
    ];
    let parsed: Vec<bool> = odd
        .iter()
        .map(|line| check_input(line.as_bytes()))
        .collect();
    // Only the first two are commands: 51 nested `fails` is deeper than a
    // line may nest them (a syntax error, not a stack overflow).
    let expected = [
        true, true, false, false, false, false, false, false, false, false,
    ];
    assert_eq!(parsed, expected);
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    checks::check_script(&binary);
    checks::check_script(&[0xff, 0xfe, b'\n', b'x', 0xc3]);
}

// ---- proptest: small inputs, shrunk on failure ----

/// Characters that matter to the splitter, plus any char at all.
fn line_strategy() -> impl Strategy<Value = String> {
    let interesting = prop::sample::select(TOKENS.to_vec()).prop_map(str::to_string);
    let any_char = any::<char>().prop_map(String::from);
    let word = prop::sample::select(VALID_LINES.to_vec()).prop_map(str::to_string);
    prop::collection::vec(
        prop_oneof![3 => interesting, 2 => any_char, 1 => word],
        0..16,
    )
    .prop_map(|pieces| pieces.concat())
}

fn word_strategy() -> impl Strategy<Value = Word> {
    let piece = prop_oneof![
        3 => any::<String>().prop_map(Piece::Text),
        3 => prop::sample::select(VALID_LINES.to_vec()).prop_map(|l| Piece::Text(l.to_string())),
        1 => Just(Piece::Var(Var::Tmp)),
        1 => "[a-z_][a-z0-9_-]{0,4}".prop_map(|handle| Piece::Var(Var::Handle { handle, field: Field::Port })),
    ];
    prop::collection::vec(piece, 0..3).prop_map(Word::from_pieces)
}

fn command_words_strategy() -> impl Strategy<Value = Vec<Word>> {
    let name = prop::sample::select(sockrepl::cmd::command_names().collect::<Vec<_>>())
        .prop_map(Word::text);
    (name, prop::collection::vec(word_strategy(), 0..6)).prop_map(|(name, mut rest)| {
        rest.insert(0, name);
        rest
    })
}

/// The case a random run found: an expanded word that reads as an option
/// (`--` then `${1}`) is kept a template, so no flag lookup takes it.
#[test]
fn an_expanded_word_that_reads_as_an_option_stays_a_template() {
    checks::check_argument_expansion("--", "file", "");
    checks::check_argument_expansion("-", "-x", "");
    checks::check_argument_expansion("a", "--b", "");
}

proptest! {
    // Failures are kept as named regression tests below, not in a seed file.
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_line_splits_and_parses_without_panic(line in line_strategy()) {
        checks::check_line(&line);
        checks::check_script(line.as_bytes());
    }

    #[test]
    fn any_bytes_load_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::check_script(&bytes);
    }

    #[test]
    fn any_words_parse_without_panic(words in command_words_strategy()) {
        checks::check_words(&words);
    }

    #[test]
    fn decoded_literal_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        checks::check_literal_round_trip(&bytes);
    }

    #[test]
    fn literal_is_a_script_data_word(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        checks::check_literal_as_script_word(&bytes);
    }

    #[test]
    fn hex_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(decode_hex(&checks::to_hex(&bytes)), Ok(bytes));
    }

    #[test]
    fn any_word_decodes_consistently(word in line_strategy()) {
        checks::check_data_word(&word);
        // A word without backslashes stands for its own UTF-8 bytes.
        if !word.contains('\\') {
            prop_assert_eq!(decode_escapes(&word), Ok(word.clone().into_bytes()));
        }
    }

    #[test]
    // Up to a year, the longest DUR.
    fn whole_millisecond_durations_round_trip(millis in 0u64..366 * 86_400_000) {
        checks::check_duration_round_trip(Duration::from_millis(millis), &format!("{millis}ms"));
    }

    #[test]
    fn shown_addresses_parse_back(
        ip in any::<std::net::IpAddr>(),
        port in any::<u16>(),
        host in "[a-z][a-z0-9.-]{0,20}",
        path in "[^\0]{0,10}/[^\0]{0,10}",
    ) {
        let ip_word = match ip {
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        for word in [ip_word, format!("{host}:{port}"), format!(":{port}"), path, format!("@{host}")] {
            let address = sockrepl::address::Address::parse(&word);
            prop_assert!(address.is_ok(), "{word:?}: {address:?}");
            checks::check_address_round_trip(&address.unwrap(), &word);
        }
    }

    #[test]
    fn quoted_words_split_back(words in prop::collection::vec(any::<String>(), 0..6)) {
        checks::check_quoted_words(&words);
    }

    #[test]
    fn argument_expansion_is_one_word(prefix in ".{0,6}", value in any::<String>(), suffix in ".{0,6}") {
        checks::check_argument_expansion(&prefix, &value, &suffix);
    }

    #[test]
    fn joined_lines_load_like_each_line(lines in prop::collection::vec(line_strategy(), 1..6)) {
        checks::check_script_agrees_with_lines(&lines);
    }
}

// ---- Regression tests: inputs the fuzzers found, kept as files in
// fuzz/regressions/ (see its README). Ignored while the bug is open.

/// A kept input, by file name.
fn regression(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(name)
}

fn regression_text(name: &str) -> String {
    std::fs::read_to_string(regression(name)).unwrap()
}

#[test]
fn regression_ipv6_without_port_is_shown_in_brackets() {
    let word = regression_text("ipv6-without-port.txt");
    let address = sockrepl::address::Address::parse(&word).unwrap();
    assert_eq!(address.to_string(), "[::1]");
    checks::check_address_round_trip(&address, &word);
}

#[test]
fn regression_unclosed_expansion_column_counts_characters() {
    let args = checks::script_args();
    let line = regression_text("unclosed-expansion-column.txt");
    let error = split_line(&line, &Context::new(&args)).unwrap_err();
    assert_eq!(error.column, Some(2), "{line:?}: {}", error.message);
    let found = regression_text("unclosed-expansion-column-found.txt");
    let error = split_line(&found, &Context::new(&args)).unwrap_err();
    checks::check_column(error.column, &found);
}

#[test]
fn regression_long_duration_round_trips() {
    let word = regression_text("long-duration.txt");
    let millis: u64 = word.trim_end_matches("ms").parse().unwrap();
    let exact = Duration::from_millis(millis);
    assert_eq!(
        sockrepl::duration::parse_duration(&word),
        Ok(exact),
        "{word}"
    );
    checks::check_duration_round_trip(exact, &word);
}

#[test]
fn regression_literal_with_dollar_is_a_data_word() {
    let found = std::fs::read(regression("literal-with-dollar.bin")).unwrap();
    for bytes in [&found[..], b"${x}", b"cost: $5", b"${", b"$"] {
        checks::assert_literal_is_script_word(bytes);
    }
}

#[test]
fn regression_data_word_that_looks_like_an_option() {
    let found = std::fs::read(regression("data-word-is-an-option.bin")).unwrap();
    for bytes in [&found[..], b"--file"] {
        checks::assert_literal_is_script_word(bytes);
    }
}

#[test]
fn regression_unterminated_quote_error_is_linear() {
    let script = regression_text("unterminated-quote-hashes.script");
    let line = script.trim_end_matches('\n');
    let started = Instant::now();
    let args = checks::script_args();
    assert!(split_line(line, &Context::new(&args)).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn regression_deeply_nested_fails_is_not_a_crash() {
    let run = run_check(&regression("deep-fails.script"), Duration::from_secs(10));
    assert!(matches!(run.status, Some(0 | 2)), "{}", run.show());
}

#[test]
fn regression_source_of_a_device_is_refused() {
    let run = run_check(
        &regression("source-dev-zero.script"),
        Duration::from_secs(10),
    );
    run.assert_status(2);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("/dev/zero") && !text.contains("out of memory"),
        "{text}"
    );
}

/// Runs `sockrepl check FILE` under a 1 GiB memory limit (`ulimit -v`),
/// killing it after `limit` (a hang is a failure, not a stuck test run).
fn run_check(path: &Path, limit: Duration) -> Run {
    let path = path.to_string_lossy().into_owned();
    Sock::cli(["check", path.as_str()])
        .memory_limit(1 << 30)
        .guard(limit)
        .run()
}

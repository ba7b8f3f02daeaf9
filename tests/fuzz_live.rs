//! Random command sequences on LIVE sockets (issue 14): not only the text
//! front end, but sockets made, bound, connected, written, read, polled,
//! shut down and closed in random orders, through the same interpreter
//! core as `run`.
//!
//! A seeded loop (an in-test xorshift RNG: a failure names its seed and
//! the script, and replays on the same tree) runs at least 20,000
//! sequences of a setup and 1 to 6 random lines over a small pool of handle names, so most
//! lines meet a handle that exists, in some state. Each must end without
//! a panic, within its timeouts (every wait is 0 to 2 ms here), with a
//! status in {0, 1, 2, 130}, and leave no descriptor open behind it.
//!
//! A test binary of its own, not a module of the suite: it counts this
//! process's open descriptors, which the suite's other tests would change.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use sockrepl::interp::Interpreter;
use sockrepl::script::Loader;
use sockrepl::session::Session;
use sockrepl::transcript::Transcript;

const SEQUENCES: usize = 20_000;
const THREADS: usize = 2;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &["a", "b", "c", "d"];
const KINDS: &[&str] = &["tcp", "udp", "unix", "unix-dgram", "tcp6", "udp6"];
const DATA: &[&str] = &["x", "'hello\\n'", "--hex '00 ff'", "''", "'a b c'", "${v}"];
const OPTS: &[&str] = &[
    "SO_REUSEADDR 1",
    "SO_RCVBUF 4096",
    "SO_LINGER 0",
    "SO_LINGER off",
    "TCP_NODELAY on",
    "SO_KEEPALIVE 1",
];
const GETS: &[&str] = &["SO_ERROR", "SO_TYPE", "SO_REUSEADDR", "TCP_NODELAY"];

/// One random line on the pool of handles.
fn line(rng: &mut Rng) -> String {
    let h = rng.pick(NAMES);
    let o = rng.pick(NAMES);
    let data = rng.pick(DATA);
    match rng.below(32) {
        0..=3 => format!("socket {h} {}", rng.pick(KINDS)),
        4 => format!("socketpair {h} {o} {}", rng.pick(&["unix", "unix-dgram"])),
        5..=6 => format!(
            "bind {h} {}",
            rng.pick(&[
                "127.0.0.1:0",
                "[::1]:0",
                ":0",
                "${tmp}/s.sock",
                "@",
                "${tmp}/t.sock"
            ])
        ),
        7 => format!("listen {h}"),
        8 => format!("accept {h}{}", rng.pick(&["", " n1", " n2"])),
        9..=10 => format!("connect {h} ${{{o}.addr}}"),
        11 => format!("connect_ex {h} ${{{o}.addr}}"),
        12 => format!("send {h} {data}"),
        13 => format!("sendall {h} {data}"),
        14 => format!("sendto {h} ${{{o}.addr}} {data}"),
        15 => format!("sendline {h} {data}"),
        16 => format!("recv {h}{}", rng.pick(&["", " 1", " 5 --hex", " --as v"])),
        17 => format!("recvfrom {h}"),
        18 => format!(
            "recvall {h}{}",
            rng.pick(&["", " --hex", " --into ${tmp}/all.bin"])
        ),
        19 => format!("{} {h}", rng.pick(&["recvline", "expect_eof"])),
        20 => format!("recvn {h} {}", rng.below(4)),
        21 => format!("expect {h} {data}"),
        22 => format!("shutdown {h} {}", rng.pick(&["read", "write", "both"])),
        23 => format!("close {h}"),
        24 => format!("setsockopt {h} {}", rng.pick(OPTS)),
        25 => format!("getsockopt {h} {}", rng.pick(GETS)),
        26 => format!("settimeout {h} {}", rng.pick(&["0ms", "1ms"])),
        // Not `on`: as in Python, that blocks with no timeout at all.
        27 => format!("setblocking {h} off"),
        28 => format!("{} {h}", rng.pick(&["getsockname", "getpeername"])),
        29 => format!("poll {h} {o} --timeout 0ms"),
        30 => rng
            .pick(&["sockets", "print ${a.addr} ${b.peer}", "let v 'q\\r\\n'"])
            .to_string(),
        _ => format!("fails {}", line(rng)),
    }
}

/// Live sockets to start from: a TCP or Unix connection with its
/// listener, a socket pair, a UDP pair, or nothing.
const SETUPS: &[&str] = &[
    "socket a tcp\nbind a 127.0.0.1:0\nlisten a\nsocket b tcp\nconnect b ${a.addr}\naccept a c\n",
    "socket a unix\nbind a ${tmp}/l.sock\nlisten a\nsocket b unix\nconnect b ${a.addr}\naccept a c\n",
    "socket a udp\nbind a 127.0.0.1:0\nsocket b udp\nconnect b ${a.addr}\nsocket c udp\n",
    "socketpair a b\nsocket c tcp6\n",
    "socketpair a b unix-dgram\nsocket c unix-dgram\n",
    "",
];

/// A script of a setup and 1 to 6 random lines; `v` is always set.
fn script(rng: &mut Rng) -> String {
    let mut text = String::from("let v abc\ntimeout 0ms\n");
    text.push_str(rng.pick(SETUPS));
    for _ in 0..1 + rng.below(6) {
        text.push_str(&line(rng));
        text.push('\n');
    }
    text
}

/// Loads and runs a script as `run` does; returns its status and how
/// many of its lines ran (were echoed).
fn run(text: &str) -> (i32, usize) {
    let script = match Loader::new(&[]).parse(text.as_bytes(), "fuzz.sock", None) {
        Ok(script) => script,
        Err(_) => return (2, 0),
    };
    let mut interpreter = Interpreter::new(Session::new(Transcript::memory(), true), true);
    let end = interpreter.run_script(&script);
    interpreter.session.close_all();
    let transcript = interpreter.session.out.take();
    let ran = transcript
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"> "))
        .count();
    (end.status(0), ran)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Runs `count` sequences from `seed`; returns their statuses counted
/// (0, 1, 2) and the lines that ran.
fn campaign(seed: u64, count: usize) -> ([usize; 3], usize) {
    let mut rng = Rng(seed);
    let mut statuses = [0usize; 3];
    let mut lines = 0;
    for index in 0..count {
        let text = script(&mut rng);
        let started = Instant::now();
        let (status, ran) = catch_unwind(AssertUnwindSafe(|| run(&text))).unwrap_or_else(|_| {
            panic!("panic on sequence {index} of seed {seed}:\n{text}");
        });
        let took = started.elapsed();
        // Each wait is at most 2 ms; 12 lines, and a slow machine, stay far below.
        assert!(
            took < Duration::from_secs(2),
            "sequence {index} of seed {seed} took {took:?}:\n{text}"
        );
        match status {
            0..=2 => statuses[status as usize] += 1,
            other => panic!("status {other} (not 0, 1, 2 or 130) for:\n{text}"),
        }
        lines += ran;
    }
    (statuses, lines)
}

#[test]
fn twenty_thousand_random_sequences_on_live_sockets() {
    let before = open_fds();
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || campaign(0x5eed_0000 + t as u64 * 7919, SEQUENCES / THREADS))
        })
        .collect();
    let (mut total, mut lines) = ([0usize; 3], 0);
    for worker in workers {
        let (counts, ran) = worker.join().expect("a campaign panicked");
        for (sum, n) in total.iter_mut().zip(counts) {
            *sum += n;
        }
        lines += ran;
    }
    let ran: usize = total.iter().sum();
    eprintln!(
        "{ran} sequences, {lines} lines run, in {:?}: {} ran to their end, {} failed, {} rejected before running",
        started.elapsed(),
        total[0],
        total[1],
        total[2]
    );
    assert!(ran >= 20_000);
    // The sequences reach the sockets: past their setup, some to the end.
    assert!(
        lines > 5 * ran && total[0] > ran / 50,
        "{total:?}, {lines} lines"
    );
    assert_eq!(open_fds(), before, "descriptors left open");
}

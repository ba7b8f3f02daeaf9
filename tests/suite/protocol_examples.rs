//! Real protocols: the lessons and worked examples of `scripts/` against
//! real peers that each test starts itself on loopback (port 0, the port
//! read back): Python's `http.server`, a small RESP (Redis) server, the
//! lecture-style Python UDP client and a hand-built DNS client. Nothing
//! here depends on a server that may be missing from the machine.

use crate::common::{Running, Sock, GUARD};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn recvn_takes_its_count_from_a_captured_length() {
    // What an HTTP client does with Content-Length: capture the number,
    // then read exactly that many bytes of body, and not one more.
    let script = "socketpair web browser\n\
                  sendall web 'Content-Length: 5\\r\\n\\r\\nhelloEXTRA'\n\
                  expect browser --re 'Content-Length: (?P<length>\\d+)\\r\\n\\r\\n'\n\
                  recvn browser ${length}\n\
                  recvn browser 5\n";
    let run = Sock::script(script).stable().run();
    run.assert_status(0)
        .assert_outcome("recvn browser <length>", "b'hello'")
        .assert_outcome("recvn browser 5", "b'EXTRA'");
}

#[test]
fn recvn_with_a_length_that_is_not_a_number_fails_when_it_runs() {
    let script = "socketpair a b\nsendall a 'x'\nlet n ten\nrecvn b ${n}\n";
    let run = Sock::script(script).run();
    run.assert_status(1)
        .assert_last_line("t.sock:4: recvn: bad N 'ten': a number of bytes from 1 to 67108864");
}

/// A TCP connection whose server has sent `abc` and then `how` (`close
/// conn` or `shutdown conn write`), and the client `c`.
fn tcp_peer_sent_abc_then(how: &str) -> String {
    format!(
        "socket srv tcp\nbind srv 127.0.0.1:0\nlisten srv\nsocket c tcp\n\
         connect c ${{srv.addr}}\naccept srv conn\nsendall conn abc\n{how}\n"
    )
}

#[test]
fn a_partial_frame_then_the_peers_fin_ends_a_framed_receive_at_once() {
    // A web server that closes in the middle of its head: the client must
    // be told so when the FIN arrives, not spin (it used to, past every
    // timeout: the end of stream was never seen while bytes were queued).
    for how in ["close conn", "shutdown conn write"] {
        for (line, message) in [
            (
                "recvline c",
                "recvline: the stream ended before the end of a line: 3 bytes had arrived: b'abc'",
            ),
            (
                "recvuntil c '\\r\\n\\r\\n'",
                "recvuntil: the stream ended before b'\\r\\n\\r\\n': 3 bytes had arrived: b'abc'",
            ),
            (
                "recvn c 5",
                "recvn: the stream ended before 5 bytes: 3 bytes had arrived: b'abc'",
            ),
            (
                "expect c --re 'x+y'",
                "expect: the stream ended with no match for 'x+y': 3 bytes had arrived: b'abc'",
            ),
        ] {
            let script = format!("{}{line}\n", tcp_peer_sent_abc_then(how));
            let run = Sock::script(&script)
                .timeout("30s")
                .guard(Duration::from_secs(10))
                .run();
            run.assert_status(1)
                .assert_last_line(&format!("t.sock:9: {message}"));
            assert!(
                run.elapsed < Duration::from_secs(5),
                "{how}, {line}: took {:?}",
                run.elapsed
            );
        }
    }
}

#[test]
fn a_unix_stream_with_a_partial_line_times_out_on_time() {
    // poll says a Unix stream is readable while any byte is queued, so the
    // wait for MORE bytes must watch the clock itself.
    let script = "socketpair a b\nsendall a abc\nrecvline b\n";
    let run = Sock::script(script)
        .timeout("500ms")
        .guard(Duration::from_secs(10))
        .run();
    run.assert_status(1).assert_last_line(
        "t.sock:3: recvline: TIMEOUT (no end of line within 500ms; 3 bytes had arrived: b'abc')",
    );
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn a_pattern_that_more_bytes_could_lengthen_settles_on_a_unix_stream() {
    // '\d+' matches b'123' but a '4' could still come: the match waits a
    // moment, then stands. On a Unix stream it used to wait for ever.
    for timeout in ["3s", "none"] {
        let script =
            "socketpair a b\nsendall a 123\nexpect b --re '\\d+'\nsendall a ' apples'\nrecv b\n";
        let run = Sock::script(script)
            .timeout(timeout)
            .guard(Duration::from_secs(10))
            .run();
        run.assert_status(0)
            .assert_outcome("expect b --re '\\d+'", "ok: matched 3 bytes")
            .assert_outcome("recv b", "b' apples'");
        assert!(
            run.elapsed < Duration::from_secs(2),
            "took {:?}",
            run.elapsed
        );
    }
}

// ---------------------------------------------------------------------
// Peers the tests start: Python programs on loopback, port 0, killed when
// dropped.
// ---------------------------------------------------------------------

/// A path in the repository.
fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .to_string_lossy()
        .into_owned()
}

/// A Python program the test started; killed (and reaped) when dropped.
struct Peer {
    child: Child,
    /// The first line it printed (its address).
    first_line: String,
}

impl Peer {
    /// Starts `python3 ARGS` in `dir` and waits (at most [`GUARD`]) for
    /// its first stdout line; the rest of its output is drained.
    fn start(args: &[&str], dir: &Path) -> Peer {
        let mut child = Command::new("python3")
            .args(args)
            .current_dir(dir)
            .env("PYTHONUNBUFFERED", "1") // its first line must not wait in a buffer
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed for these tests (see README.md)");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = sender.send(first);
            lines.for_each(drop); // keep draining: a full pipe must never block it
        });
        let first_line = match receiver.recv_timeout(GUARD) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("python3 {args:?} printed nothing within {GUARD:?}");
            }
        };
        Peer { child, first_line }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server 0 --bind 127.0.0.1`, serving `dir`; its
/// address from "Serving HTTP on 127.0.0.1 port N (http://...) ...".
fn python_http_server(dir: &Path) -> (Peer, String) {
    let server = Peer::start(&["-m", "http.server", "0", "--bind", "127.0.0.1"], dir);
    let port = server
        .first_line
        .strip_prefix("Serving HTTP on 127.0.0.1 port ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("http.server said {:?}", server.first_line));
    (server, format!("127.0.0.1:{port}"))
}

// ---------------------------------------------------------------------
// HTTP: scripts/http-get.sock against Python's own web server
// ---------------------------------------------------------------------

/// The transcript `--stable run scripts/http-get.sock ADDR` must print
/// against any `python3 -m http.server` at ADDR: nothing in it depends
/// on the date, the Python version or the files served.
fn http_get_transcript(addr: &str) -> String {
    let head = "expect web --re '(?i)(?P<before>(?:[^\\r\\n]+\\r\\n)*?)content-length: *(?P<length>\\d+)\\r\\n(?P<after>(?:[^\\r\\n]+\\r\\n)*)\\r\\n'";
    let parsed = "ok: matched <N> bytes; before = <before>; length = <length>; after = <after>";
    [
        "> socket web tcp",
        "created web: AF_INET SOCK_STREAM, fd <web.fd>",
        &format!("> connect web {addr}"),
        &format!("connected 127.0.0.1:<web.port> -> {addr}"),
        "> newline crlf",
        "sendline now ends lines with b'\\r\\n'",
        "> sendline web 'GET / HTTP/1.0'",
        "sent 16 bytes",
        &format!("> sendline web 'Host: {addr}'"),
        &format!("sent {} bytes", "Host: ".len() + addr.len() + 2),
        "> sendline web 'User-Agent: sockrepl'",
        "sent 22 bytes",
        "> sendline web ''",
        "sent 2 bytes",
        "> expect web --re 'HTTP/1\\.[01] 200 OK\\r\\n'",
        "ok: matched 17 bytes",
        &format!("> {head}"),
        parsed,
        "> recvn web <length> --as page",
        "<page>",
        "> print page: <page.len> bytes, Content-Length: <length>",
        "page: <page.len> bytes, Content-Length: <length>",
        "> expect_eof web",
        "ok: end of stream",
        "> close web",
        "closed",
        "> socket web tcp",
        "created web: AF_INET SOCK_STREAM, fd <web.fd>",
        &format!("> connect web {addr}"),
        &format!("connected 127.0.0.1:<web.port> -> {addr}"),
        "> sendline web 'GET /no-such-file HTTP/1.0'",
        "sent 28 bytes",
        "> sendline web ''",
        "sent 2 bytes",
        "> expect web --re 'HTTP/1\\.[01] 404 [^\\r\\n]*\\r\\n'",
        "ok: matched <N> bytes",
        &format!("> {head}"),
        parsed,
        "> recvn web <length> --as error_page",
        "<error_page>",
        "> expect_eof web",
        "ok: end of stream",
        "> close web",
        "closed",
    ]
    .map(|line| format!("{line}\n"))
    .concat()
}

#[test]
fn the_http_example_reads_python_http_server_with_a_stable_transcript() {
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("hello.txt"), "Hello from http.server\n").unwrap();
    let (_server, addr) = python_http_server(www.path());
    let expected = http_get_transcript(&addr);
    let run = Sock::cli(["run", &repo("scripts/http-get.sock"), &addr])
        .stable()
        .run();
    run.assert_status(0);
    assert_eq!(run.stdout, expected, "{}", run.show());

    // Another file makes the listing longer, and a second later the Date
    // header differs: the --stable transcript does not change.
    std::fs::write(www.path().join("another-file.txt"), "more\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let again = Sock::cli(["run", &repo("scripts/http-get.sock"), &addr])
        .stable()
        .run();
    again.assert_status(0);
    assert_eq!(again.stdout, expected, "{}", again.show());
}

#[test]
fn the_http_example_shows_the_real_page_without_stable() {
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("hello.txt"), "Hello from http.server\n").unwrap();
    let (_server, addr) = python_http_server(www.path());
    let run = Sock::cli(["run", &repo("scripts/http-get.sock"), &addr]).run();
    run.assert_status(0);
    // The head held the Date and Server headers that --stable hides, and
    // a Content-Length (its value depends on the Python version's HTML).
    let head = run.stdout.lines().find(|l| l.contains("; length = b'"));
    let head = head.unwrap_or_else(|| panic!("no head with a length\n{}", run.show()));
    assert!(
        head.contains("Server: SimpleHTTP/") && head.contains("Date: "),
        "{head}"
    );
    let length: usize = head
        .split("; length = b'")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number in {head:?}"));
    // The page is the directory listing, read by that length, and it
    // names the file; the script's own count of its bytes agrees.
    let page = run.outcome_of(&format!("recvn web {length} --as page"));
    assert!(
        page.starts_with("b'<!DOCTYPE HTML>") && page.contains("hello.txt"),
        "{}",
        run.show()
    );
    run.assert_line(&format!("page: {length} bytes, Content-Length: {length}"));
    run.assert_stdout_contains("<p>Error code: 404</p>");
}

// ---------------------------------------------------------------------
// UDP: scripts/udp-echo-server.sock and the lecture-style Python client
// ---------------------------------------------------------------------

/// Runs a Python program to its end (within [`GUARD`]): status and stdout.
fn python(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for these tests (see README.md)");
    let deadline = Instant::now() + GUARD;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("python3 {args:?} ran longer than {GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("python output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

/// A sockrepl server script started with `run SCRIPT 127.0.0.1:0`; returns
/// it running and the port it printed with `print ${H.port}` (the line
/// after the echo `> print PORT`).
fn sockrepl_server(script: &str) -> (Running, u16) {
    let running = Sock::cli(["run", &repo(script), "127.0.0.1:0"])
        .guard(Duration::from_secs(20))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let so_far = running.stdout_so_far();
        let mut lines = so_far.lines().skip_while(|l| !l.starts_with("> print "));
        if let (Some(_), Some(port)) = (lines.next(), lines.next()) {
            let port = port
                .parse()
                .unwrap_or_else(|_| panic!("{script} printed {port:?}, not a port"));
            return (running, port);
        }
        assert!(
            Instant::now() < deadline,
            "{script} printed no port:\n{so_far}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_udp_echo_server_answers_each_python_client_with_its_own_bytes() {
    let (server, port) = sockrepl_server("scripts/udp-echo-server.sock");
    let addr = format!("127.0.0.1:{port}");
    // Three clients, one after the other, each from a port of its own.
    let messages = ["Hello, UDP", "halo dari klien kedua", "tiga (3), the last"];
    for message in messages {
        let (status, output) =
            python(&[&repo("scripts/python/udp-echo-client.py"), &addr, message]);
        assert_eq!(status, Some(0), "client sending {message:?}:\n{output}");
        assert_eq!(output, format!("Received b'{message}'\n"));
    }
    let run = server.finish();
    run.assert_status(0).assert_last_line("closed");
    // Each datagram went back to the address it came from.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let received: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i] == "> recvfrom u --as q")
        .collect();
    assert_eq!(received.len(), 3, "{}", run.show());
    for (at, message) in received.into_iter().zip(messages) {
        let literal = format!("b'{message}'");
        let (shown, from) = lines[at + 1]
            .split_once(" from ")
            .unwrap_or_else(|| panic!("{:?}", lines[at + 1]));
        assert_eq!(shown, literal);
        assert!(
            lines[at + 2].starts_with(&format!("> sendto u {from} ")),
            "answered elsewhere: {:?} after a datagram from {from}",
            lines[at + 2]
        );
        assert_eq!(
            lines[at + 3],
            format!("sent {} bytes to {from}", message.len())
        );
    }
}

// ---------------------------------------------------------------------
// DNS: scripts/dns-server.sock and a Python client that builds its query
// ---------------------------------------------------------------------

/// `key=value` lines into pairs.
fn fields(output: &str) -> Vec<(&str, &str)> {
    output.lines().filter_map(|l| l.split_once('=')).collect()
}

fn field<'a>(output: &'a str, key: &str) -> &'a str {
    fields(output)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key}= in:\n{output}"))
}

#[test]
fn the_dns_server_copies_each_query_id_and_answers_127_0_0_1() {
    let (server, port) = sockrepl_server("scripts/dns-server.sock");
    let addr = format!("127.0.0.1:{port}");
    for name in [
        "example.com",
        "www.lecture.test",
        "a.b.c.d.sockrepl.example",
    ] {
        let (status, output) = python(&[&repo("tests/peers/dns_query.py"), &addr, name]);
        assert_eq!(status, Some(0), "{name}:\n{output}");
        assert_eq!(
            field(&output, "reply_id"),
            field(&output, "query_id"),
            "{output}"
        );
        assert_eq!(field(&output, "rcode"), "0", "{output}");
        assert_eq!(field(&output, "questions"), "1", "{output}");
        assert_eq!(field(&output, "question"), name, "{output}");
        assert_eq!(field(&output, "answers"), "1", "{output}");
        assert_eq!(field(&output, "answer"), format!("{name} A 60 127.0.0.1"));
    }
    server.finish().assert_status(0).assert_last_line("closed");
}

#[test]
fn the_dns_server_stops_at_a_query_it_does_not_answer() {
    // An AAAA query (type 28) does not match the server's pattern: the
    // client gets no answer, and the server fails with the datagram shown.
    let (server, port) = sockrepl_server("scripts/dns-server.sock");
    let addr = format!("127.0.0.1:{port}");
    let (status, output) = python(&[
        &repo("tests/peers/dns_query.py"),
        &addr,
        "example.com",
        "28",
    ]);
    assert_eq!(status, Some(1), "{output}");
    assert!(output.ends_with("no reply\n"), "{output}");
    let run = server.finish();
    run.assert_status(1);
    let last = run.last_line();
    assert!(
        last.contains(": expect: the datagram does not match")
            && last.contains("\\x07example\\x03com\\x00\\x00\\x1c\\x00\\x01'")
            && last.ends_with("(in iteration 0 of the repeat on line 45)"),
        "{}",
        run.show()
    );
}

// ---------------------------------------------------------------------
// Redis: scripts/redis.sock against tests/peers/resp_server.py
// ---------------------------------------------------------------------

impl Peer {
    /// The address from a first line "listening on 127.0.0.1:PORT".
    fn listening_on(&self) -> &str {
        self.first_line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the peer said {:?}", self.first_line))
    }
}

fn resp_server() -> Peer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Peer::start(&[&repo("tests/peers/resp_server.py"), "2"], root)
}

#[test]
fn the_redis_example_speaks_resp_to_the_python_server() {
    let server = resp_server();
    let addr = server.listening_on().to_string();
    let run = Sock::cli(["run", &repo("scripts/redis.sock"), &addr])
        .stable()
        .run();
    run.assert_status(0)
        // PING, and the request the brief gives: *2 $4 ECHO $5 hello.
        .assert_outcome("sendall r '*1\\r\\n$4\\r\\nPING\\r\\n'", "sent 14 bytes")
        .assert_outcome("expect r '+PONG\\r\\n'", "ok: 7 bytes as expected")
        .assert_outcome("sendline r '$5'", "sent 4 bytes")
        .assert_outcome("expect r '$5\\r\\nhello\\r\\n'", "ok: 11 bytes as expected")
        // ${value.len} computed the $12 of 'Halo, dunia!'.
        .assert_outcome("sendline r '$12'", "sent 5 bytes")
        .assert_outcome("expect r '+OK\\r\\n'", "ok: 5 bytes as expected")
        // What GET and INCR returned is captured: placeholders.
        .assert_outcome(
            "expect r --re '\\$(?P<n>\\d+)\\r\\n'",
            "ok: matched <N> bytes; n = <n>",
        )
        .assert_outcome("recvn r <n> --as got", "<got>")
        .assert_outcome(
            "expect r --re ':(?P<visits>\\d+)\\r\\n'",
            "ok: matched <N> bytes; visits = <visits>",
        )
        .assert_outcome("expect_eof r", "ok: end of stream");
    // -ERR replies are shown whole, as Redis words them.
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("b'-ERR"))
        .collect();
    assert_eq!(
        errors,
        [
            "b'-ERR unknown command \\x27FLY\\x27, with args beginning with: \\r\\n'",
            "b'-ERR wrong number of arguments for \\x27get\\x27 command\\r\\n'",
        ],
        "{}",
        run.show()
    );
}

#[test]
fn the_redis_example_reads_the_values_by_their_length() {
    // Without --stable the captures show what the server sent: the bulk
    // string's length, the value, and INCR's count on a fresh server.
    let server = resp_server();
    let addr = server.listening_on().to_string();
    let run = Sock::cli(["run", &repo("scripts/redis.sock"), &addr]).run();
    run.assert_status(0)
        .assert_outcome(
            "expect r --re '\\$(?P<n>\\d+)\\r\\n'",
            "ok: matched 5 bytes; n = b'12'",
        )
        .assert_outcome("recvn r 12 --as got", "b'Halo, dunia!'")
        .assert_outcome(
            "expect r --re ':(?P<visits>\\d+)\\r\\n'",
            "ok: matched 4 bytes; visits = b'1'",
        );
    // The same server counts on: a second run sees visits 2.
    let again = Sock::cli(["run", &repo("scripts/redis.sock"), &addr]).run();
    again.assert_status(0).assert_outcome(
        "expect r --re ':(?P<visits>\\d+)\\r\\n'",
        "ok: matched 4 bytes; visits = b'2'",
    );
}

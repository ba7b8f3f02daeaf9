//! `tls` against real peers, started here on loopback (SPEC §15): sockrepl
//! as the client of `openssl s_server` (verified with `--ca`, unverified
//! with `--insecure`, a wrong name, an unknown issuer, an expired
//! certificate), as the server for `openssl s_client` and `curl`, STARTTLS
//! against a Python server that talks plain text first, and
//! `scripts/https-get.sock`. The golden scripts cover what needs no outside
//! peer (`tests/golden/tls`).
//!
//! `openssl`, `curl` and `python3` are needed (`.ci/run` installs them).
//! Every child is killed when its test ends, and every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockrepl");
/// Longest any child may run, and any line may take to come.
const LIMIT: Duration = Duration::from_secs(30);
/// How many times a `--stable` transcript is made and compared:
/// `SOCKREPL_STABLE_RUNS`, else 5 (the acceptance check runs it with 20).
fn stable_runs() -> usize {
    std::env::var("SOCKREPL_STABLE_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A child process killed (with what it started) when dropped.
struct Peer {
    child: Child,
    lines: Receiver<String>,
}

impl Peer {
    /// Starts `argv`, its stdout read line by line in a thread.
    fn start(argv: &[&str], stdin: Option<&str>) -> Peer {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} cannot start: {e} (see .ci/run)", argv[0]));
        if let Some(text) = stdin {
            let mut input = child.stdin.take().unwrap();
            input.write_all(text.as_bytes()).unwrap();
        }
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Peer { child, lines }
    }

    /// The first line that starts with `start`, within the limit.
    fn line_with(&self, start: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(start) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line starting {start:?}; saw:\n{}", seen.join("\n"));
    }

    /// Everything it printed until it exited (killed past the limit).
    fn rest(mut self) -> String {
        let deadline = Instant::now() + LIMIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a peer ran past {LIMIT:?}");
            thread::sleep(Duration::from_millis(10));
        }
        // The reader thread may still hold the last lines: read until it
        // meets the end of the pipe (the channel closes).
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines.join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a child to its end, killed past the limit.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a child ran past {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// `sockrepl [--stable] run FILE ARGS...`: its status and transcript.
fn sockrepl(script: &Path, args: &[&str], stable: bool) -> (Option<i32>, String) {
    let mut command = Command::new(BIN);
    if stable {
        command.arg("--stable");
    }
    let child = command
        .arg("run")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sockrepl starts");
    let output = finish(child);
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

fn write_script(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A certificate as `openssl req -x509` makes it (marked as a CA, as most
/// lab certificates are), for localhost and 127.0.0.1.
fn openssl_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=localhost/O=sockrepl test", "-addext"])
        .args(["subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for this test (see .ci/run)");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// A certificate made by sockrepl's own code, valid from `from` to `until`
/// days from now.
fn certificate_valid(dir: &Path, from: i64, until: i64) -> (PathBuf, PathBuf) {
    let now = time::OffsetDateTime::now_utc();
    let made = sockrepl::tls::cert::self_signed(
        &["localhost", "127.0.0.1"],
        now + time::Duration::days(from),
        now + time::Duration::days(until),
    )
    .unwrap();
    let (cert, key) = (dir.join("made-cert.pem"), dir.join("made-key.pem"));
    std::fs::write(&cert, &made.pem).unwrap();
    std::fs::write(&key, &made.key_pem).unwrap();
    (cert, key)
}

/// `openssl s_server -www` for one connection: the port once it accepts.
fn s_server_www(cert: &Path, key: &Path) -> (Peer, u16) {
    for _ in 0..10 {
        let port = free_port();
        let accept = format!("127.0.0.1:{port}");
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let argv = [
            "openssl", "s_server", "-accept", &accept, "-cert", cert, "-key", key, "-www",
            "-naccept", "1",
        ];
        let server = Peer::start(&argv, None);
        // It prints ACCEPT once it listens; it exits at once when the port
        // was taken meanwhile.
        while let Ok(line) = server.lines.recv_timeout(LIMIT) {
            if line.contains("ACCEPT") {
                return (server, port);
            }
        }
    }
    panic!("openssl s_server never accepted (is openssl installed? see .ci/run)");
}

/// `openssl x509 -noout -fingerprint -sha256`'s value for a PEM file.
fn openssl_fingerprint(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .split_once('=')
        .map(|(_, value)| value.to_string())
        .unwrap_or_else(|| panic!("openssl printed {text:?}"))
}

const GET: &[&str] = &[
    "socket c tcp",
    "connect c 127.0.0.1:${1}",
    "${TLS}",
    "sendall c 'GET / HTTP/1.0\\r\\n\\r\\n'",
    "expect c --re 'HTTP/1\\.0 200 ok\\r\\n'",
    "recvall c --into /dev/null",
    "close c",
];

/// The GET script with its `tls` line.
fn get_script(dir: &Path, tls_line: &str) -> PathBuf {
    let lines: Vec<&str> = GET
        .iter()
        .map(|line| if *line == "${TLS}" { tls_line } else { line })
        .collect();
    write_script(dir, "get.sock", &lines)
}

/// The message of the failure line that ends a transcript of get.sock.
fn failure_of(text: &str) -> &str {
    let last = text.lines().last().unwrap_or_default();
    last.split_once("get.sock:3: tls: ")
        .map(|(_, message)| message)
        .unwrap_or_else(|| panic!("not a failure of line 3's tls: {last}"))
}

/// Runs the GET script with `tls_line` against a fresh `s_server`.
fn get_from_s_server(cert: &Path, key: &Path, tls_line: &str, ca: &Path) -> (Option<i32>, String) {
    let dir = ca.parent().unwrap();
    let (_server, port) = s_server_www(cert, key);
    let script = get_script(dir, tls_line);
    sockrepl(&script, &[&port.to_string(), ca.to_str().unwrap()], false)
}

#[test]
fn a_client_verifies_openssl_s_server_with_ca_and_fetches_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let (status, text) = get_from_s_server(&cert, &key, "tls c --ca ${2}", &cert);
    assert_eq!(status, Some(0), "{text}");
    for line in [
        "the server's certificate, verified for 127.0.0.1:",
        "  subject   CN=localhost, O=sockrepl test",
        "  issuer    CN=localhost, O=sockrepl test (self-signed)",
        "received ",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let fingerprint = format!("  SHA-256   {}", openssl_fingerprint(&cert));
    assert!(text.contains(&fingerprint), "not {fingerprint:?}:\n{text}");
    assert!(text.contains("then close_notify: a clean end"), "{text}");
}

#[test]
fn without_ca_a_self_signed_server_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let (status, text) = get_from_s_server(&cert, &key, "tls c", &cert);
    assert_eq!(status, Some(1), "{text}");
    let failure = failure_of(&text);
    assert!(
        failure.starts_with("the peer's certificate is self-signed (CN=localhost, O=sockrepl test) and not trusted here; hint:"),
        "{failure}"
    );
    assert!(
        failure.contains("--ca FILE") && failure.contains("--insecure"),
        "{failure}"
    );
}

#[test]
fn insecure_accepts_the_certificate_and_still_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let (status, text) = get_from_s_server(&cert, &key, "tls c --insecure", &cert);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("the server's certificate, NOT verified (--insecure):"),
        "{text}"
    );
    assert!(
        text.contains("  subject   CN=localhost, O=sockrepl test"),
        "{text}"
    );
}

#[test]
fn a_name_the_certificate_does_not_hold_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let line = "tls c --sni example.com --ca ${2}";
    let (status, text) = get_from_s_server(&cert, &key, line, &cert);
    assert_eq!(status, Some(1), "{text}");
    assert_eq!(
        failure_of(&text),
        "the peer's certificate is for localhost, 127.0.0.1, not example.com; \
         hint: verify one of the certificate's names with --sni HOST (or connect to that address)"
    );
    // The right name passes.
    let (status, text) = get_from_s_server(&cert, &key, "tls c --sni localhost --ca ${2}", &cert);
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("verified for localhost:"), "{text}");
}

#[test]
fn an_expired_certificate_is_named_as_expired() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate_valid(dir.path(), -30, -1);
    let (status, text) = get_from_s_server(&cert, &key, "tls c --ca ${2}", &cert);
    assert_eq!(status, Some(1), "{text}");
    let failure = failure_of(&text);
    assert!(
        failure.starts_with("the peer's certificate has expired; hint:"),
        "{failure}"
    );
}

/// Replaces a port the test chose (and the script shows as given) with `PORT`.
fn without_port(text: &str, port: u16) -> String {
    text.replace(&format!(":{port}"), ":PORT")
}

#[test]
fn a_client_transcript_is_the_same_every_run_under_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let script = get_script(dir.path(), "tls c --sni localhost --ca ${2}");
    let mut transcripts = Vec::new();
    for _ in 0..stable_runs() {
        let (_server, port) = s_server_www(&cert, &key);
        let (status, text) = sockrepl(&script, &[&port.to_string(), cert.to_str().unwrap()], true);
        assert_eq!(status, Some(0), "{text}");
        transcripts.push(without_port(&text, port));
    }
    assert!(
        transcripts[0].contains("<c.cert.sha256>"),
        "{}",
        transcripts[0]
    );
    assert!(
        transcripts.iter().all(|t| *t == transcripts[0]),
        "{transcripts:#?}"
    );
}

/// A sockrepl server: two connections, the first answered as HTTP, the
/// second as a line protocol, each with the session's certificate.
const SERVER: &str = "socket srv tcp
bind srv 127.0.0.1:0
listen srv
print ready ${srv.port} ${tls.cert}
timeout 20s
accept srv web
tls web --server --alpn http/1.1
recvuntil web '\\r\\n\\r\\n'
sendall web 'HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\nConnection: close\\r\\n\\r\\nhello\\n'
close web
accept srv line
tls line --server
expect line 'ping\\n'
sendline line 'pong'
close line
";

#[test]
fn curl_and_openssl_s_client_trust_the_session_certificate() {
    let server = Peer::start(&[BIN, "run", "-"], Some(SERVER));
    let ready = server.line_with("ready ");
    let words: Vec<&str> = ready.split_whitespace().collect();
    let (port, cert) = (words[1], words[2]);
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert", cert])
        .arg(format!("https://localhost:{port}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl is needed for this test (see .ci/run)");
    let curl = finish(curl);
    assert!(
        curl.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "hello\n");
    let s_client = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'ping\\n' | openssl s_client -quiet -connect 127.0.0.1:{port} \
             -CAfile {cert} -verify_return_error -verify_hostname localhost 2>&1"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let s_client = finish(s_client);
    let said = String::from_utf8_lossy(&s_client.stdout);
    assert!(said.contains("pong"), "s_client: {said}");
    assert!(said.contains("verify return:1"), "s_client: {said}");
    let transcript = server.rest();
    for line in [
        "TLSv1.3, TLS13_AES_256_GCM_SHA384, key exchange X25519, ALPN http/1.1",
        "the client asked for localhost (SNI); this side's certificate:",
        "b'GET / HTTP/1.1\\r\\nHost: localhost:",
        "ok: 5 bytes as expected",
    ] {
        assert!(transcript.contains(line), "no {line:?} in:\n{transcript}");
    }
}

/// A `--stable` sockrepl server on the port given, for one s_client.
const STABLE_SERVER: &[&str] = &[
    "socket srv tcp",
    "bind srv 127.0.0.1:${1}",
    "listen srv",
    "timeout 20s",
    "accept srv conn",
    "tls conn --server",
    "recvline conn",
    "sendline conn 'pong'",
    "close conn",
];

#[test]
fn a_server_transcript_is_the_same_every_run_under_stable() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "server.sock", STABLE_SERVER);
    let mut transcripts = Vec::new();
    for _ in 0..stable_runs() {
        let port = free_port();
        let argv = [
            BIN,
            "--stable",
            "run",
            script.to_str().unwrap(),
            &port.to_string(),
        ];
        let server = Peer::start(&argv, None);
        server.line_with("listening on");
        let s_client = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf 'ping\\n' | openssl s_client -quiet -connect 127.0.0.1:{port} 2>/dev/null"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let said = finish(s_client);
        assert!(String::from_utf8_lossy(&said.stdout).contains("pong"));
        let rest = server.rest();
        transcripts.push(without_port(&rest, port));
    }
    assert!(
        transcripts[0].contains("<tls.cert.sha256>"),
        "{}",
        transcripts[0]
    );
    assert!(
        transcripts[0].contains("<conn.peer.port>"),
        "{}",
        transcripts[0]
    );
    assert!(
        transcripts.iter().all(|t| *t == transcripts[0]),
        "{transcripts:#?}"
    );
}

const STARTTLS: &[&str] = &[
    "socket c tcp",
    "connect c ${1}",
    "expect c --re '220 [^\\r]*\\r\\n'",
    "newline crlf",
    "sendline c STARTTLS",
    "expect c '220 2.0.0 Ready to start TLS\\r\\n'",
    "tls c --sni localhost --ca ${2}",
    "sendline c 'EHLO lab'",
    "expect c '250 hello EHLO lab\\r\\n'",
    "expect_eof c",
    "close c",
];

#[test]
fn starttls_with_a_python_server_that_talks_plain_text_first() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate_valid(dir.path(), -1, 30);
    let peer_script = repo("tests/peers/starttls_server.py");
    let argv = [
        "python3",
        peer_script.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    ];
    let server = Peer::start(&argv, None);
    let line = server.line_with("listening on ");
    let addr = line.trim_start_matches("listening on ");
    let script = write_script(dir.path(), "starttls.sock", STARTTLS);
    let (status, text) = sockrepl(&script, &[addr, cert.to_str().unwrap()], false);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("the server's certificate, verified for localhost:"),
        "{text}"
    );
    assert!(text.contains("ok: end of stream (close_notify)"), "{text}");
    let mut server = server;
    let exited = server.child.wait().unwrap();
    assert!(
        exited.success(),
        "the STARTTLS server saw the protocol broken"
    );
}

#[test]
fn the_https_get_script_fetches_a_page_from_openssl_s_server() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_certificate(dir.path());
    let (_server, port) = s_server_www(&cert, &key);
    let addr = format!("127.0.0.1:{port}");
    let script = repo("scripts/https-get.sock");
    let (status, text) = sockrepl(
        &script,
        &[&addr, "localhost", cert.to_str().unwrap()],
        false,
    );
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("\nstatus 200, "), "{text}");
    assert!(text.contains("then close_notify: a clean end"), "{text}");
}

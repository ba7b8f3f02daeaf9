//! The same layer against the real `openssl` command: its fingerprint and
//! dates, `openssl s_server` as the peer of our client, `openssl s_client`
//! as the peer of our server. Each test is skipped (it passes, saying so)
//! where no `openssl` is installed; every child is killed at a deadline.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn have_openssl() -> bool {
    let found = Command::new("openssl").arg("version").output().is_ok();
    if !found {
        eprintln!("skipped: no openssl command");
    }
    found
}

/// A child process killed when the test ends, however it ends.
struct Killed(Option<Child>);

impl Killed {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("not finished")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for the child to exit by itself until `at`, then kills it.
fn finish(mut killed: Killed, at: Instant) -> Output {
    while Instant::now() < at {
        if let Ok(Some(_)) = killed.child().try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut child = killed.0.take().expect("not finished");
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

fn openssl_value(args: &[&str], path: &Path, key: &str) -> String {
    let output = Command::new("openssl")
        .args(args)
        .arg("-in")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text
        .lines()
        .find(|line| {
            line.to_ascii_lowercase()
                .starts_with(&key.to_ascii_lowercase())
        })
        .unwrap_or_else(|| panic!("no {key} in {text:?}"));
    line.split_once('=').unwrap().1.trim().to_string()
}

#[test]
fn fingerprint_and_dates_read_as_openssl_x509_prints_them() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = SessionCert::create(dir.path()).unwrap();
    let info = CertificateInfo::from_der(cert.certificate()).unwrap();
    let x509 = ["x509", "-noout", "-fingerprint", "-sha256", "-dates"];
    assert_eq!(
        info.sha256_fingerprint,
        openssl_value(&x509, cert.path(), "sha256 Fingerprint")
    );
    assert_eq!(
        info.not_before.to_string(),
        openssl_value(&x509, cert.path(), "notBefore")
    );
    assert_eq!(
        info.not_after.to_string(),
        openssl_value(&x509, cert.path(), "notAfter")
    );
}

/// A port that was free a moment ago (s_server cannot be given port 0).
fn free_port() -> u16 {
    TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl s_server -www` on a free port, once it says `ACCEPT`.
fn start_s_server(cert: &Path, key: &Path) -> Option<(Killed, u16)> {
    for _ in 0..3 {
        let port = free_port();
        let mut child = Killed(Some(
            Command::new("openssl")
                .args(["s_server", "-www", "-naccept", "1", "-alpn", "h2,http/1.1"])
                .arg("-accept")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(cert)
                .arg("-key")
                .arg(key)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let stdout = child.child().stdout.take().unwrap();
        let (lines, said) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let at = deadline();
        while let Ok(line) = said.recv_timeout(at.saturating_duration_since(Instant::now())) {
            if line.contains("ACCEPT") {
                return Some((child, port));
            }
        }
    }
    None
}

#[test]
fn our_client_talks_to_openssl_s_server() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let made = cert::self_signed(
        &["localhost", "127.0.0.1"],
        now,
        now + time::Duration::days(1),
    )
    .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &made.pem).unwrap();
    std::fs::write(&key_path, &made.key_pem).unwrap();
    let (server, port) = start_s_server(&cert_path, &key_path).expect("s_server started");

    let socket = TcpStream::connect((LOOPBACK, port)).unwrap();
    socket.set_nonblocking(true).unwrap();
    let options = ClientOptions {
        alpn: vec!["http/1.1".into()],
        trust: Trust::Verify {
            ca: Some(cert_path.clone()),
        },
        ..ClientOptions::default()
    };
    let mut client = TlsConn::client(&options, Some(LOOPBACK)).unwrap();
    let fd = socket.as_fd();
    let at = deadline();
    let info = client.handshake(fd, wait_until(fd, at)).unwrap();
    client
        .write_all(fd, b"GET / HTTP/1.0\r\n\r\n", wait_until(fd, at))
        .unwrap();
    let mut page = Vec::new();
    let end = loop {
        match client.fill_wait(fd, wait_until(fd, at)).unwrap() {
            Fill::Added(_) => {
                page.extend_from_slice(client.buffered());
                let taken = client.buffered().len();
                client.consume(taken);
            }
            Fill::Ended(end) => break end,
            Fill::Blocked => unreachable!("fill_wait waits"),
        }
    };
    drop(server);

    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.cipher_suite, "TLS13_AES_256_GCM_SHA384");
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
    let cert = info.peer_certificate.unwrap();
    assert_eq!(
        cert.sha256_fingerprint,
        sha256_fingerprint(made.identity.certificate())
    );
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    assert!(
        page.contains("TLSv1.3"),
        "s_server's page names the protocol: {page}"
    );
    assert_eq!(
        end,
        StreamEnd::CloseNotify,
        "s_server -www ends with close_notify"
    );
}

#[test]
fn openssl_s_client_talks_to_our_server_and_verifies_the_session_certificate() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = SessionCert::create(dir.path()).unwrap();
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut s_client = Killed(Some(
        Command::new("openssl")
            .args([
                "s_client",
                "-brief",
                "-ign_eof",
                "-verify_return_error",
                "-verify_ip",
                "127.0.0.1",
            ])
            .args(["-alpn", "sockrepl"])
            .arg("-connect")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-CAfile")
            .arg(session.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    s_client
        .child()
        .stdin
        .take()
        .unwrap()
        .write_all(b"ping\n")
        .unwrap();

    listener.set_nonblocking(true).unwrap();
    let at = deadline();
    let socket = accept_until(&listener, at);
    let options = ServerOptions {
        identity: session.identity(),
        alpn: vec!["sockrepl".into()],
    };
    let mut server = TlsConn::server(&options).unwrap();
    let fd = socket.as_fd();
    let info = server.handshake(fd, wait_until(fd, at)).unwrap();
    while !server.buffered().ends_with(b"\n") {
        server.fill_wait(fd, wait_until(fd, at)).unwrap();
    }
    let asked = server.buffered().to_vec();
    server.write_all(fd, b"pong\n", wait_until(fd, at)).unwrap();
    server.close_notify(fd).unwrap();
    server.flush_wait(fd, wait_until(fd, at)).unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
    let output = finish(s_client, at);

    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(asked, b"ping\n");
    assert_eq!(info.alpn.as_deref(), Some("sockrepl"));
    assert_eq!(info.version, "TLSv1.3");
    assert!(
        stdout.contains("pong"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("Verification: OK"), "{stderr}");
    assert!(stderr.contains("Protocol version: TLSv1.3"), "{stderr}");
}

fn accept_until(listener: &TcpListener, at: Instant) -> TcpStream {
    loop {
        match listener.accept() {
            Ok((socket, _)) => {
                socket.set_nonblocking(true).unwrap();
                return socket;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let fd = listener.as_fd();
                poll_until(&[(fd, Interest::Read)], at).expect("s_client connected in time");
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

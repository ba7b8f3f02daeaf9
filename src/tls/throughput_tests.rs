//! How fast bulk data goes through this layer, next to `openssl s_server`
//! and `s_client` moving the same bytes over loopback. Ignored by default
//! (it moves a quarter gigabyte four times); run it in release mode:
//!
//! ```text
//! cargo test --release --lib tls::throughput -- --ignored --nocapture
//! ```
//!
//! `SOCKREPL_TLS_BENCH_MIB` changes the size (default 256). Each run checks
//! that every byte arrived; the times are printed, not asserted, because
//! they depend on the machine and its load.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Plaintext handed to one write, as `sendall --file` would.
const CHUNK: usize = 256 * 1024;

fn size() -> usize {
    let mib = std::env::var("SOCKREPL_TLS_BENCH_MIB")
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .unwrap_or(256);
    mib * 1024 * 1024
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn mib_per_second(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64()
}

/// A child killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `head -c SIZE /dev/zero | openssl s_server` on a free port, ready to accept once.
fn s_server_sending(size: usize, dir: &Path) -> (Killed, u16) {
    let now = time::OffsetDateTime::now_utc();
    let made = cert::self_signed(&["localhost"], now, now + time::Duration::days(1)).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert, &made.pem).unwrap();
    std::fs::write(&key, &made.key_pem).unwrap();
    let port = TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "head -c {size} /dev/zero | exec openssl s_server -naccept 1 -no_ign_eof \
         -accept 127.0.0.1:{port} -cert {} -key {}",
        cert.display(),
        key.display()
    );
    let mut child = Killed(
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        if lines.read_line(&mut line).unwrap() == 0 || line.contains("ACCEPT") {
            break;
        }
    }
    assert!(line.contains("ACCEPT"), "s_server did not start: {line:?}");
    // Keep draining what s_server prints, so it never blocks on stdout.
    thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    (child, port)
}

/// `openssl s_client -quiet` to `port`, saying "go" (s_server waits for a
/// word from its client before it copies its stdin), counting what it
/// receives with `wc -c`.
fn s_client_counting(port: u16) -> Killed {
    let script = format!(
        "printf 'go\\n' | openssl s_client -quiet -connect 127.0.0.1:{port} 2>/dev/null | wc -c"
    );
    Killed(
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn counted(mut child: Killed) -> usize {
    let mut text = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let _ = child.0.wait();
    text.trim().parse().unwrap()
}

/// Reads until the end of the stream, counting and dropping the plaintext.
fn receive_all(tls: &mut TlsConn, socket: &TcpStream) -> (usize, StreamEnd) {
    let fd = socket.as_fd();
    let at = deadline();
    let mut total = 0;
    loop {
        match tls.fill_wait(fd, wait_until(fd, at)).unwrap() {
            Fill::Added(count) => {
                total += count;
                tls.consume(count);
            }
            Fill::Ended(end) => return (total, end),
            Fill::Blocked => unreachable!("fill_wait waits"),
        }
    }
}

/// Sends `size` zero bytes, then `close_notify` and a TCP end.
fn send_zeros(tls: &mut TlsConn, socket: &TcpStream, size: usize) {
    let fd = socket.as_fd();
    let at = deadline();
    let chunk = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let part = left.min(CHUNK);
        tls.write_all(fd, &chunk[..part], wait_until(fd, at))
            .unwrap();
        left -= part;
    }
    tls.close_notify(fd).unwrap();
    tls.flush_wait(fd, wait_until(fd, at)).unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
}

fn insecure_client() -> TlsConn {
    let options = ClientOptions {
        trust: Trust::Insecure,
        ..ClientOptions::default()
    };
    TlsConn::client(&options, Some(LOOPBACK)).unwrap()
}

fn openssl_to_openssl(size: usize, dir: &Path) -> Duration {
    let (_server, port) = s_server_sending(size, dir);
    let started = Instant::now();
    let received = counted(s_client_counting(port));
    let took = started.elapsed();
    assert_eq!(received, size);
    took
}

fn openssl_to_ours(size: usize, dir: &Path) -> Duration {
    let (_server, port) = s_server_sending(size, dir);
    let started = Instant::now();
    let socket = TcpStream::connect((LOOPBACK, port)).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut client = insecure_client();
    let fd = socket.as_fd();
    client.handshake(fd, wait_until(fd, deadline())).unwrap();
    // s_server starts copying its stdin only once the client has said something.
    client
        .write_all(fd, b"go\n", wait_until(fd, deadline()))
        .unwrap();
    let (received, end) = receive_all(&mut client, &socket);
    let took = started.elapsed();
    // s_server (3.0) closes the socket before it writes its close_notify
    // when its stdin ends (strace: the alert's write fails with EBADF), so
    // this end is a truncation; Python's ssl sees the same.
    assert_eq!((received, end), (size, StreamEnd::Truncated));
    took
}

fn ours_to_openssl(size: usize, session: &SessionCert) -> Duration {
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let s_client = s_client_counting(port);
    let (socket, _) = listener.accept().unwrap();
    socket.set_nonblocking(true).unwrap();
    let options = ServerOptions {
        identity: session.identity(),
        alpn: Vec::new(),
    };
    let mut server = TlsConn::server(&options).unwrap();
    let fd = socket.as_fd();
    server.handshake(fd, wait_until(fd, deadline())).unwrap();
    // Take s_client's "go" first: a socket closed with unread bytes resets.
    while !server.buffered().ends_with(b"\n") {
        server.fill_wait(fd, wait_until(fd, deadline())).unwrap();
    }
    send_zeros(&mut server, &socket, size);
    drop(socket);
    let received = counted(s_client);
    let took = started.elapsed();
    assert_eq!(received, size);
    took
}

fn ours_to_ours(size: usize, session: &SessionCert) -> Duration {
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let started = Instant::now();
    let client_socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_socket, _) = listener.accept().unwrap();
    client_socket.set_nonblocking(true).unwrap();
    server_socket.set_nonblocking(true).unwrap();
    let options = ServerOptions {
        identity: session.identity(),
        alpn: Vec::new(),
    };
    let sender = thread::spawn(move || {
        let mut server = TlsConn::server(&options).unwrap();
        let fd = server_socket.as_fd();
        server.handshake(fd, wait_until(fd, deadline())).unwrap();
        send_zeros(&mut server, &server_socket, size);
    });
    let mut client = insecure_client();
    let fd = client_socket.as_fd();
    client.handshake(fd, wait_until(fd, deadline())).unwrap();
    let (received, end) = receive_all(&mut client, &client_socket);
    sender.join().unwrap();
    let took = started.elapsed();
    assert_eq!((received, end), (size, StreamEnd::CloseNotify));
    took
}

#[test]
#[ignore = "benchmark: cargo test --release --lib tls::throughput -- --ignored --nocapture"]
fn throughput_next_to_openssl() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let size = size();
    let dir = tempfile::tempdir().unwrap();
    let session = SessionCert::create(dir.path()).unwrap();
    let baseline = openssl_to_openssl(size, dir.path());
    let runs = [
        ("openssl s_server -> openssl s_client", baseline),
        (
            "openssl s_server -> TlsConn client",
            openssl_to_ours(size, dir.path()),
        ),
        (
            "TlsConn server -> openssl s_client",
            ours_to_openssl(size, &session),
        ),
        (
            "TlsConn server -> TlsConn client",
            ours_to_ours(size, &session),
        ),
    ];
    println!("{} MiB over loopback TLS 1.3:", size / (1024 * 1024));
    for (what, took) in runs {
        println!(
            "  {what:<38} {:>8.1} MiB/s  ({:.2}x openssl)",
            mib_per_second(size, took),
            baseline.as_secs_f64() / took.as_secs_f64()
        );
    }
}

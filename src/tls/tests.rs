//! Client and server over real loopback sockets: handshakes, verification
//! failures, plain-text peers, stream ends, and the `--with` pair. Every
//! wait is bounded by a deadline a few seconds away.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// Both ends of one loopback TCP connection, non-blocking.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

fn trusting(ca: &Path) -> ClientOptions {
    ClientOptions {
        trust: Trust::Verify {
            ca: Some(ca.to_path_buf()),
        },
        ..ClientOptions::default()
    }
}

fn serving(identity: ServerIdentity) -> ServerOptions {
    ServerOptions {
        identity,
        alpn: Vec::new(),
    }
}

/// A session certificate in a directory that lives as long as the test.
struct Session {
    _dir: tempfile::TempDir,
    cert: SessionCert,
}

fn session() -> Session {
    let dir = tempfile::tempdir().unwrap();
    let cert = SessionCert::create(dir.path()).unwrap();
    Session { _dir: dir, cert }
}

fn pair_wait(sockets: &[(BorrowedFd<'_>, Interest)]) -> Result<(), TlsError> {
    poll_until(sockets, deadline())
}

/// Runs `--with`-style handshakes between fresh client and server connections.
fn handshake(
    client_options: &ClientOptions,
    server_options: &ServerOptions,
) -> (Result<PairInfo, PairFailure<TlsError>>, Ends) {
    let (client_socket, server_socket) = tcp_pair();
    let mut client = TlsConn::client(client_options, Some(LOOPBACK)).unwrap();
    let mut server = TlsConn::server(server_options).unwrap();
    let result = handshake_pair(
        &mut client,
        client_socket.as_fd(),
        &mut server,
        server_socket.as_fd(),
        pair_wait,
    );
    let ends = Ends {
        client,
        client_socket,
        server,
        server_socket,
    };
    (result, ends)
}

struct Ends {
    client: TlsConn,
    client_socket: TcpStream,
    server: TlsConn,
    server_socket: TcpStream,
}

/// The handshakes of a session-certificate server and a client that trusts it.
fn connected(alpn: (&[&str], &[&str])) -> (PairInfo, Ends, Session) {
    let session = session();
    let mut client = trusting(session.cert.path());
    client.alpn = alpn.0.iter().map(|p| p.to_string()).collect();
    let mut server = serving(session.cert.identity());
    server.alpn = alpn.1.iter().map(|p| p.to_string()).collect();
    let (result, ends) = handshake(&client, &server);
    (result.unwrap(), ends, session)
}

/// Reads until the stream ends; returns the bytes and how it ended.
fn read_to_end(tls: &mut TlsConn, socket: &TcpStream) -> (Vec<u8>, StreamEnd) {
    let mut all = Vec::new();
    let at = deadline();
    loop {
        match tls
            .fill_wait(socket.as_fd(), wait_until(socket.as_fd(), at))
            .unwrap()
        {
            Fill::Added(_) => {
                all.extend_from_slice(tls.buffered());
                let taken = tls.buffered().len();
                tls.consume(taken);
            }
            Fill::Ended(end) => return (all, end),
            Fill::Blocked => unreachable!("fill_wait waits"),
        }
    }
}

fn send_all(tls: &mut TlsConn, socket: &TcpStream, data: &[u8]) {
    tls.write_all(socket.as_fd(), data, wait_until(socket.as_fd(), deadline()))
        .unwrap();
}

fn close(tls: &mut TlsConn, socket: &TcpStream) {
    tls.close_notify(socket.as_fd()).unwrap();
    tls.flush_wait(socket.as_fd(), wait_until(socket.as_fd(), deadline()))
        .unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
}

#[test]
fn a_client_trusting_the_session_certificate_talks_to_a_server_thread() {
    let session = session();
    let (client_socket, server_socket) = tcp_pair();
    let identity = session.cert.identity();
    let server = thread::spawn(move || {
        let mut tls = TlsConn::server(&serving(identity)).unwrap();
        let fd = server_socket.as_fd();
        let info = tls.handshake(fd, wait_until(fd, deadline())).unwrap();
        let at = deadline();
        while !tls.buffered().ends_with(b"\n") {
            tls.fill_wait(fd, wait_until(fd, at)).unwrap();
        }
        let asked = tls.buffered().to_vec();
        send_all(&mut tls, &server_socket, b"pong\n");
        close(&mut tls, &server_socket);
        (info, asked)
    });
    let mut client = TlsConn::client(&trusting(session.cert.path()), Some(LOOPBACK)).unwrap();
    let fd = client_socket.as_fd();
    let info = client.handshake(fd, wait_until(fd, deadline())).unwrap();
    send_all(&mut client, &client_socket, b"ping\n");
    let (reply, end) = read_to_end(&mut client, &client_socket);
    let (server_info, asked) = server.join().unwrap();

    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.cipher_suite, "TLS13_AES_256_GCM_SHA384");
    assert_eq!(info.key_exchange.as_deref(), Some("X25519"));
    assert_eq!(info.alpn, None);
    assert_eq!(info.server_name.as_deref(), Some("127.0.0.1"));
    let cert = info.peer_certificate.expect("the server's certificate");
    assert_eq!(cert.subject, "CN=localhost, O=sockrepl");
    assert_eq!(cert.issuer, cert.subject);
    assert_eq!(
        cert.sha256_fingerprint,
        sha256_fingerprint(session.cert.certificate())
    );
    assert!(cert.not_before < cert.not_after);
    assert_eq!(server_info.cipher_suite, info.cipher_suite);
    assert_eq!(server_info.peer_certificate, None, "no client certificates");
    assert_eq!(asked, b"ping\n");
    assert_eq!(reply, b"pong\n");
    assert_eq!(end, StreamEnd::CloseNotify);
}

#[test]
fn the_pair_handshake_completes_both_sides_in_one_thread() {
    let (info, _ends, session) = connected((&[], &[]));
    assert_eq!(info.client.version, "TLSv1.3");
    assert_eq!(info.server.version, "TLSv1.3");
    assert_eq!(info.client.cipher_suite, info.server.cipher_suite);
    let cert = info.client.peer_certificate.unwrap();
    assert_eq!(
        cert.sha256_fingerprint,
        sha256_fingerprint(session.cert.certificate())
    );
    assert_eq!(cert.names, ["localhost", "127.0.0.1", "::1"]);
    // An IP address is verified, but never sent as SNI.
    assert_eq!(info.server.server_name, None);
}

#[test]
fn an_sni_name_reaches_the_server() {
    let session = session();
    let mut client = trusting(session.cert.path());
    client.sni = Some("localhost".into());
    let (result, _ends) = handshake(&client, &serving(session.cert.identity()));
    let info = result.unwrap();
    assert_eq!(info.client.server_name.as_deref(), Some("localhost"));
    assert_eq!(info.server.server_name.as_deref(), Some("localhost"));
}

#[test]
fn alpn_settles_on_the_servers_choice_among_the_clients_offers() {
    let (info, _ends, _session) = connected((&["h2", "http/1.1"], &["http/1.1", "x"]));
    assert_eq!(info.client.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(info.server.alpn.as_deref(), Some("http/1.1"));
}

#[test]
fn no_common_alpn_protocol_fails_on_the_server_and_alerts_the_client() {
    let session = session();
    let mut client = trusting(session.cert.path());
    client.alpn = vec!["h2".into()];
    let mut server = serving(session.cert.identity());
    server.alpn = vec!["imap".into()];
    let (result, mut ends) = handshake(&client, &server);
    assert!(matches!(
        result,
        Err(PairFailure::Server(TlsError::NoCommonAlpn))
    ));
    let fd = ends.client_socket.as_fd();
    let error = ends
        .client
        .handshake(fd, wait_until(fd, deadline()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the peer sent the TLS alert no_application_protocol"
    );
    assert!(error.hint().unwrap().contains("--alpn"));
}

#[test]
fn an_unknown_issuer_is_refused_and_the_server_hears_unknown_ca() {
    let session = session();
    let system_roots_only = ClientOptions::default();
    let (result, mut ends) = handshake(&system_roots_only, &serving(session.cert.identity()));
    match result {
        Err(PairFailure::Client(error @ TlsError::UnknownIssuer { .. })) => {
            assert_eq!(
                error.to_string(),
                "the peer's certificate is self-signed (CN=localhost, O=sockrepl) and not trusted here"
            );
            assert!(error.hint().unwrap().contains("--ca FILE"));
        }
        other => panic!("not an unknown issuer: {other:?}"),
    }
    let fd = ends.server_socket.as_fd();
    let error = ends
        .server
        .handshake(fd, wait_until(fd, deadline()))
        .unwrap_err();
    assert!(matches!(error, TlsError::AlertReceived(alert) if alert.to_string() == "unknown_ca"));
}

#[test]
fn a_certificate_for_other_names_is_a_mismatch_that_lists_them() {
    let session = session();
    let mut client = trusting(session.cert.path());
    client.sni = Some("example.com".into());
    let (result, _ends) = handshake(&client, &serving(session.cert.identity()));
    match result {
        Err(PairFailure::Client(error @ TlsError::NameMismatch { .. })) => {
            assert_eq!(
                error.to_string(),
                "the peer's certificate is for localhost, 127.0.0.1, ::1, not example.com"
            );
            assert!(error.hint().unwrap().contains("--sni HOST"));
        }
        other => panic!("not a name mismatch: {other:?}"),
    }
}

/// A certificate for localhost that was valid in 2001 only, and its PEM file.
fn expired(dir: &Path) -> (ServerIdentity, PathBuf) {
    let made = cert::self_signed(
        &["localhost", "127.0.0.1"],
        rcgen::date_time_ymd(2001, 1, 1),
        rcgen::date_time_ymd(2002, 1, 1),
    )
    .unwrap();
    let path = dir.join("expired.pem");
    std::fs::write(&path, &made.pem).unwrap();
    (made.identity, path)
}

#[test]
fn an_expired_certificate_is_refused_even_when_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, path) = expired(dir.path());
    let (result, _ends) = handshake(&trusting(&path), &serving(identity));
    match result {
        Err(PairFailure::Client(TlsError::CertificateExpired { certificate })) => {
            let cert = certificate.expect("the recorded certificate");
            assert_eq!(cert.not_after.to_string(), "Jan  1 00:00:00 2002 GMT");
        }
        other => panic!("not expired: {other:?}"),
    }
}

#[test]
fn insecure_accepts_any_certificate_and_still_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, _) = expired(dir.path());
    let insecure = ClientOptions {
        trust: Trust::Insecure,
        ..ClientOptions::default()
    };
    let fingerprint = sha256_fingerprint(identity.certificate());
    let (result, _ends) = handshake(&insecure, &serving(identity));
    let cert = result.unwrap().client.peer_certificate.unwrap();
    assert_eq!(cert.sha256_fingerprint, fingerprint);
    assert_eq!(cert.not_before.to_string(), "Jan  1 00:00:00 2001 GMT");
}

/// A plain-text server: reads what comes, answers `reply`, then closes or waits.
fn plain_server(reply: &'static [u8], then_close: bool) -> (TcpStream, thread::JoinHandle<()>) {
    let listener = TcpListener::bind((LOOPBACK, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = socket.read(&mut [0; 4096]);
        socket.write_all(reply).unwrap();
        if !then_close {
            let _ = socket.read(&mut [0; 16]);
        }
    });
    (client, server)
}

fn client_handshake_error(socket: &TcpStream) -> TlsError {
    let mut client = TlsConn::client(&ClientOptions::default(), Some(LOOPBACK)).unwrap();
    let fd = socket.as_fd();
    client
        .handshake(fd, wait_until(fd, deadline()))
        .unwrap_err()
}

#[test]
fn an_http_reply_to_the_client_hello_is_not_tls() {
    let (socket, server) = plain_server(b"HTTP/1.0 400 Bad Request\r\nServer: x\r\n\r\n", true);
    let error = client_handshake_error(&socket);
    server.join().unwrap();
    assert_eq!(
        error.to_string(),
        "the peer does not speak TLS (it sent b'HTTP/1.0 400 Bad Request\\r\\n'...)"
    );
    assert!(error.hint().unwrap().contains("right port"));
}

#[test]
fn a_short_plain_text_reply_fails_at_once_without_waiting_for_more() {
    let (socket, server) = plain_server(b"hi", false);
    let started = Instant::now();
    let error = client_handshake_error(&socket);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it waited for a timeout"
    );
    assert!(
        matches!(&error, TlsError::NotTls { sent } if sent == b"hi"),
        "{error}"
    );
    drop(socket);
    server.join().unwrap();
}

#[test]
fn a_plain_text_client_is_not_tls_to_the_server() {
    let session = session();
    let (mut client_socket, server_socket) = tcp_pair();
    client_socket.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut server = TlsConn::server(&serving(session.cert.identity())).unwrap();
    let fd = server_socket.as_fd();
    let error = server
        .handshake(fd, wait_until(fd, deadline()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the peer does not speak TLS (it sent b'GET / HTTP/1.0\\r\\n'...)"
    );
}

#[test]
fn a_peer_that_closes_during_the_handshake_is_told_apart() {
    let (socket, server) = plain_server(b"", true);
    let error = client_handshake_error(&socket);
    server.join().unwrap();
    assert!(matches!(error, TlsError::ClosedDuringHandshake), "{error}");
}

#[test]
fn close_notify_is_a_clean_end() {
    let (_, mut ends, _session) = connected((&[], &[]));
    send_all(&mut ends.server, &ends.server_socket, b"bye");
    close(&mut ends.server, &ends.server_socket);
    let (data, end) = read_to_end(&mut ends.client, &ends.client_socket);
    assert_eq!(
        (data.as_slice(), end),
        (&b"bye"[..], StreamEnd::CloseNotify)
    );
    let mut buf = [0; 8];
    let again = ends
        .client
        .read(ends.client_socket.as_fd(), &mut buf)
        .unwrap();
    assert_eq!(
        again,
        Received::Ended(StreamEnd::CloseNotify),
        "the end stays"
    );
}

#[test]
fn a_tcp_end_without_close_notify_is_a_truncation() {
    let (_, mut ends, _session) = connected((&[], &[]));
    send_all(&mut ends.server, &ends.server_socket, b"cut");
    ends.server_socket
        .shutdown(std::net::Shutdown::Write)
        .unwrap();
    let (data, end) = read_to_end(&mut ends.client, &ends.client_socket);
    assert_eq!((data.as_slice(), end), (&b"cut"[..], StreamEnd::Truncated));
}

#[test]
fn plaintext_can_be_looked_at_then_taken_exactly() {
    let (_, mut ends, _session) = connected((&[], &[]));
    send_all(&mut ends.server, &ends.server_socket, b"first\n");
    send_all(&mut ends.server, &ends.server_socket, b"second\n");
    let fd = ends.client_socket.as_fd();
    let at = deadline();
    assert!(!ends.client.readable_without_kernel());
    while ends.client.buffered().len() < 13 {
        ends.client.fill_wait(fd, wait_until(fd, at)).unwrap();
    }
    assert!(ends.client.readable_without_kernel());
    let line = ends
        .client
        .buffered()
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + 1;
    ends.client.consume(line);
    assert_eq!(ends.client.buffered(), b"second\n");
    let mut buf = [0; 3];
    let got = ends.client.read(fd, &mut buf).unwrap();
    assert_eq!((got, &buf), (Received::Bytes(3), b"sec"));
    assert_eq!(ends.client.buffered(), b"ond\n");
}

#[test]
fn a_read_with_nothing_sent_is_blocked_not_an_end() {
    let (_, mut ends, _session) = connected((&[], &[]));
    let mut buf = [0; 16];
    let got = ends
        .client
        .read(ends.client_socket.as_fd(), &mut buf)
        .unwrap();
    assert_eq!(got, Received::Blocked);
    assert_eq!(ends.client.end(), None);
}

#[test]
fn megabytes_arrive_whole_and_in_order_from_a_server_thread() {
    const SIZE: usize = 8 * 1024 * 1024 + 123;
    let (_, ends, _session) = connected((&[], &[]));
    let Ends {
        mut client,
        client_socket,
        mut server,
        server_socket,
    } = ends;
    let pattern: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let expected = pattern.clone();
    let sender = thread::spawn(move || {
        for chunk in pattern.chunks(100_000) {
            send_all(&mut server, &server_socket, chunk);
        }
        close(&mut server, &server_socket);
    });
    let (data, end) = read_to_end(&mut client, &client_socket);
    sender.join().unwrap();
    assert_eq!(end, StreamEnd::CloseNotify);
    assert_eq!(data.len(), SIZE);
    assert!(data == expected, "the bytes differ");
}

/// A self-signed certificate marked as a CA, as `openssl req -x509` makes
/// them, valid over the years given, and its PEM file.
fn ca_marked(dir: &Path, from: i32, until: i32) -> (ServerIdentity, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "lab");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join("ca-marked.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    let identity = ServerIdentity {
        chain: vec![cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    };
    (identity, path)
}

#[test]
fn a_ca_marked_certificate_given_with_ca_is_trusted_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, path) = ca_marked(dir.path(), 2020, 2120);
    let (result, _ends) = handshake(&trusting(&path), &serving(identity.clone()));
    let info = result.expect("the --ca certificate is trusted");
    let cert = info.client.peer_certificate.unwrap();
    assert_eq!(
        cert.sha256_fingerprint,
        sha256_fingerprint(identity.certificate())
    );
}

#[test]
fn a_ca_marked_certificate_not_given_is_an_unknown_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, _path) = ca_marked(dir.path(), 2020, 2120);
    let (result, _ends) = handshake(&ClientOptions::default(), &serving(identity));
    match result {
        Err(PairFailure::Client(error @ TlsError::UnknownIssuer { .. })) => assert_eq!(
            error.to_string(),
            "the peer's certificate is self-signed (CN=lab) and not trusted here"
        ),
        other => panic!("not an unknown issuer: {other:?}"),
    }
}

#[test]
fn a_certificate_trusted_as_itself_must_still_name_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, path) = ca_marked(dir.path(), 2020, 2120);
    let mut client = trusting(&path);
    client.sni = Some("example.com".into());
    let (result, _ends) = handshake(&client, &serving(identity));
    match result {
        Err(PairFailure::Client(TlsError::NameMismatch {
            expected,
            presented,
        })) => {
            assert_eq!(expected, "example.com");
            assert_eq!(presented, ["localhost", "127.0.0.1"]);
        }
        other => panic!("not a name mismatch: {other:?}"),
    }
}

#[test]
fn a_certificate_trusted_as_itself_must_still_be_valid_now() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, path) = ca_marked(dir.path(), 2001, 2002);
    let (result, _ends) = handshake(&trusting(&path), &serving(identity));
    assert!(
        matches!(
            result,
            Err(PairFailure::Client(TlsError::CertificateExpired { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn the_server_sends_no_session_ticket_after_the_handshake() {
    let (_info, ends, _session) = connected((&[], &[]));
    // The server's last flight is done: a ticket would now wait unread.
    let mut byte = [0u8; 1];
    let peeked = ends.client_socket.peek(&mut byte);
    assert_eq!(
        peeked.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "bytes wait on the client after the handshake"
    );
}

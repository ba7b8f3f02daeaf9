//! Why a TLS step failed, in words a student can act on.
//!
//! rustls reports failures as protocol errors (`InvalidCertificate(UnknownIssuer)`,
//! `AlertReceived(UnknownCA)`); a student needs to know what happened and
//! which flag changes it. Each variant keeps the facts as typed fields and
//! gives a message and a hint. Neither message nor hint holds a date, a
//! fingerprint or a temporary path, so both can go into a `--stable`
//! transcript as they are.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::data::bytes_literal;

use super::info::CertificateInfo;

/// How many of the peer's first bytes a "does not speak TLS" failure shows.
pub const NOT_TLS_PREVIEW: usize = 48;

/// A TLS alert by its number, named as the RFCs name it (`handshake_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert(pub u8);

impl Alert {
    /// The RFC 8446 / IANA name, or `None` for a number no RFC assigns.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            21 => "decryption_failed",
            22 => "record_overflow",
            30 => "decompression_failure",
            40 => "handshake_failure",
            41 => "no_certificate",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            60 => "export_restriction",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            111 => "certificate_unobtainable",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            114 => "bad_certificate_hash_value",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            121 => "ech_required",
            _ => return None,
        })
    }

    /// What the alert usually means for this session, and what to change.
    fn hint(self) -> Option<&'static str> {
        Some(match self.name()? {
            "unknown_ca" | "bad_certificate" | "certificate_unknown" => {
                "the peer does not trust this side's certificate: a client checking the session's \
                 certificate needs --ca ${tls.cert} (or --insecure)"
            }
            "certificate_expired" => "the peer found this side's certificate expired",
            "handshake_failure" | "insufficient_security" => {
                "the two sides share no cipher suite, key exchange or signature scheme"
            }
            "protocol_version" => "the two sides share no TLS version",
            "no_application_protocol" => {
                "the peer supports none of the ALPN protocols offered: compare both sides' --alpn"
            }
            "unrecognized_name" => "the peer serves no certificate for that name: check --sni",
            "decode_error" | "unexpected_message" | "illegal_parameter" => {
                "the peer could not understand this side's messages: is it speaking the same protocol?"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "alert {}", self.0),
        }
    }
}

/// Which certificate or key file was not usable, and why.
#[derive(Debug)]
pub enum FileProblem {
    /// The file could not be read (missing, no permission, a directory...).
    Unreadable(io::Error),
    /// The file has no `-----BEGIN` line: DER, or not a certificate file at all.
    NotPem,
    /// PEM, but no `CERTIFICATE` block in it.
    NoCertificate,
    /// PEM, but no `PRIVATE KEY` block in it.
    NoPrivateKey,
    /// A PEM block could not be decoded or parsed.
    Malformed(String),
    /// The key parsed, but the crypto provider cannot sign with it.
    UnusableKey(String),
}

/// Why a TLS command failed.
#[derive(Debug)]
pub enum TlsError {
    /// The peer's certificate chains to no authority this side trusts.
    UnknownIssuer {
        certificate: Option<Box<CertificateInfo>>,
    },
    /// The certificate is genuine, but names other hosts than the one verified.
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
    /// The certificate's `notAfter` has passed.
    CertificateExpired {
        certificate: Option<Box<CertificateInfo>>,
    },
    /// The certificate's `notBefore` is still to come.
    CertificateNotYetValid {
        certificate: Option<Box<CertificateInfo>>,
    },
    /// Another reason the peer's certificate was refused.
    BadCertificate(String),
    /// A server found none of the client's ALPN protocols among its own.
    NoCommonAlpn,
    /// The peer sent a fatal alert (during the handshake, or later).
    AlertReceived(Alert),
    /// The peer answered with bytes that are not TLS records.
    NotTls { sent: Vec<u8> },
    /// The peer closed the connection before the handshake finished.
    ClosedDuringHandshake,
    /// Every other protocol failure rustls reports (its own wording).
    Protocol(String),
    /// A `--cert`, `--key` or `--ca` file was not usable.
    File { path: PathBuf, problem: FileProblem },
    /// The private key is not the one of the certificate's public key.
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// `--sni` is neither a DNS name nor an IP address.
    BadServerName(String),
    /// An `--alpn` protocol name is empty or too long.
    BadAlpn(String),
    /// The session certificate could not be made or written.
    SessionCertificate(String),
    /// A socket call failed; the errno is in the `io::Error`.
    Io(io::Error),
    /// [`super::wait_until`]'s deadline passed.
    Timeout,
}

impl TlsError {
    /// What to try next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            TlsError::UnknownIssuer { .. } => {
                "trust its issuer with --ca FILE (the session's own certificate: --ca ${tls.cert}), \
                 or skip verification with --insecure"
            }
            TlsError::NameMismatch { .. } => {
                "verify one of the certificate's names with --sni HOST (or connect to that address)"
            }
            TlsError::CertificateExpired { .. } | TlsError::CertificateNotYetValid { .. } => {
                "compare its validity (openssl x509 -noout -dates) with the clock, \
                 or look anyway with --insecure"
            }
            TlsError::NoCommonAlpn => "compare both sides' --alpn lists",
            TlsError::AlertReceived(alert) => return alert.hint().map(str::to_string),
            TlsError::NotTls { .. } => {
                "is this the right port? a plain-text server answers a ClientHello with text; \
                 STARTTLS protocols must be asked first"
            }
            TlsError::ClosedDuringHandshake => {
                "the peer gave up without an alert: look at its log, or compare versions and --alpn"
            }
            TlsError::File { problem, .. } => return problem.hint().map(str::to_string),
            TlsError::KeyMismatch { .. } => "give the key file that was made with this certificate",
            TlsError::BadServerName(_) => "--sni takes a host name such as example.com, or an IP address",
            TlsError::BadAlpn(_) => "--alpn takes names separated by commas: --alpn h2,http/1.1",
            _ => return None,
        };
        Some(text.to_string())
    }

    /// The errno behind an I/O failure, for `fails ERRNAME` matching.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TlsError::Io(error) => error.raw_os_error(),
            _ => None,
        }
    }
}

impl FileProblem {
    fn hint(&self) -> Option<&'static str> {
        Some(match self {
            FileProblem::NotPem => {
                "give a PEM file (-----BEGIN ...); convert DER with openssl x509 -inform der"
            }
            FileProblem::NoCertificate => "--cert and --ca take a file with a CERTIFICATE block",
            FileProblem::NoPrivateKey => "--key takes a file with a PRIVATE KEY block",
            FileProblem::UnusableKey(_) => "use an RSA, ECDSA (P-256, P-384) or Ed25519 key",
            _ => return None,
        })
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Unreadable(error) => write!(f, "cannot be read: {error}"),
            FileProblem::NotPem => f.write_str("is not PEM"),
            FileProblem::NoCertificate => f.write_str("holds no certificate"),
            FileProblem::NoPrivateKey => f.write_str("holds no private key"),
            FileProblem::Malformed(why) => write!(f, "is malformed: {why}"),
            FileProblem::UnusableKey(why) => write!(f, "holds a key that cannot be used: {why}"),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer { certificate } => write_unknown_issuer(f, certificate),
            TlsError::NameMismatch {
                expected,
                presented,
            } => write!(
                f,
                "the peer's certificate is for {}, not {expected}",
                names_or_none(presented)
            ),
            TlsError::CertificateExpired { .. } => {
                f.write_str("the peer's certificate has expired")
            }
            TlsError::CertificateNotYetValid { .. } => {
                f.write_str("the peer's certificate is not valid yet")
            }
            TlsError::BadCertificate(why) => write!(f, "the peer's certificate was refused: {why}"),
            TlsError::NoCommonAlpn => {
                f.write_str("the peer offered no ALPN protocol that this side accepts")
            }
            TlsError::AlertReceived(alert) => write!(f, "the peer sent the TLS alert {alert}"),
            TlsError::NotTls { sent } => {
                write!(f, "the peer does not speak TLS (it sent {})", shown(sent))
            }
            TlsError::ClosedDuringHandshake => {
                f.write_str("the peer closed the connection during the TLS handshake")
            }
            TlsError::Protocol(why) => write!(f, "TLS failed: {why}"),
            TlsError::File { path, problem } => write!(f, "{} {problem}", path.display()),
            TlsError::KeyMismatch { cert, key } => write!(
                f,
                "the key in {} does not belong to the certificate in {}",
                key.display(),
                cert.display()
            ),
            TlsError::BadServerName(name) => write!(f, "{name:?} is not a server name"),
            TlsError::BadAlpn(why) => write!(f, "bad ALPN protocol list: {why}"),
            TlsError::SessionCertificate(why) => {
                write!(f, "cannot make the session certificate: {why}")
            }
            TlsError::Io(error) => write!(f, "{error}"),
            TlsError::Timeout => f.write_str("the TLS handshake timed out"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<io::Error> for TlsError {
    fn from(error: io::Error) -> Self {
        TlsError::Io(error)
    }
}

fn write_unknown_issuer(
    f: &mut fmt::Formatter<'_>,
    certificate: &Option<Box<CertificateInfo>>,
) -> fmt::Result {
    match certificate {
        Some(cert) if cert.subject == cert.issuer => write!(
            f,
            "the peer's certificate is self-signed ({}) and not trusted here",
            cert.subject
        ),
        Some(cert) => write!(
            f,
            "the peer's certificate is issued by {}, an authority not trusted here",
            cert.issuer
        ),
        None => f.write_str("the peer's certificate is issued by an authority not trusted here"),
    }
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no host name".to_string()
    } else {
        names.join(", ")
    }
}

/// The peer's first bytes as a bytes literal, cut at the first line end or
/// at [`NOT_TLS_PREVIEW`] bytes, with `...` after it when cut.
fn shown(sent: &[u8]) -> String {
    let line_end = sent.iter().position(|&b| b == b'\n').map(|at| at + 1);
    let cut = line_end.unwrap_or(sent.len()).min(NOT_TLS_PREVIEW);
    let literal = bytes_literal(&sent[..cut]);
    if cut < sent.len() {
        format!("{literal}...")
    } else {
        literal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_named_as_the_rfc_names_them() {
        assert_eq!(Alert(40).to_string(), "handshake_failure");
        assert_eq!(Alert(48).to_string(), "unknown_ca");
        assert_eq!(Alert(120).to_string(), "no_application_protocol");
        assert_eq!(Alert(200).to_string(), "alert 200");
    }

    #[test]
    fn a_plain_text_reply_is_shown_up_to_its_first_line() {
        let error = TlsError::NotTls {
            sent: b"HTTP/1.0 400 Bad Request\r\nServer: x\r\n".to_vec(),
        };
        assert_eq!(
            error.to_string(),
            "the peer does not speak TLS (it sent b'HTTP/1.0 400 Bad Request\\r\\n'...)"
        );
    }

    #[test]
    fn a_short_reply_is_shown_whole() {
        let error = TlsError::NotTls {
            sent: b"hi".to_vec(),
        };
        assert_eq!(
            error.to_string(),
            "the peer does not speak TLS (it sent b'hi')"
        );
    }

    #[test]
    fn an_unknown_issuer_hints_at_ca_and_insecure() {
        let error = TlsError::UnknownIssuer { certificate: None };
        let hint = error.hint().unwrap();
        assert!(
            hint.contains("--ca FILE") && hint.contains("--insecure"),
            "{hint}"
        );
    }

    #[test]
    fn a_name_mismatch_lists_the_names_and_hints_at_sni() {
        let error = TlsError::NameMismatch {
            expected: "10.0.0.1".into(),
            presented: vec!["localhost".into(), "127.0.0.1".into()],
        };
        assert_eq!(
            error.to_string(),
            "the peer's certificate is for localhost, 127.0.0.1, not 10.0.0.1"
        );
        assert!(error.hint().unwrap().contains("--sni HOST"));
    }
}

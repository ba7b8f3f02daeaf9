//! Turns what rustls reports into a [`TlsError`], with what the connection
//! saw: the peer's first bytes tell "not TLS at all" from a protocol
//! error, and the recorded certificate names the names a mismatch is about.

use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, Error};

use super::error::{Alert, TlsError};
use super::info::CertificateInfo;

/// What the connection knows when rustls fails.
pub(crate) struct Evidence<'a> {
    /// The peer's first bytes, kept while the handshake ran.
    pub first_bytes: &'a [u8],
    /// The certificate the server presented (client side).
    pub certificate: Option<CertificateDer<'static>>,
    /// The name the client verified.
    pub expected_name: Option<&'a str>,
}

/// Whether `prefix` can start a TLS record: a content type from 20
/// (change_cipher_spec) to 24 (heartbeat), then major version 3.
pub(crate) fn could_be_tls(prefix: &[u8]) -> bool {
    match prefix {
        [] => true,
        [kind, rest @ ..] => {
            (20..=24).contains(kind) && rest.first().is_none_or(|&major| major == 3)
        }
    }
}

pub(crate) fn classify(error: Error, evidence: Evidence<'_>) -> TlsError {
    if !could_be_tls(evidence.first_bytes) {
        return TlsError::NotTls {
            sent: evidence.first_bytes.to_vec(),
        };
    }
    match error {
        Error::AlertReceived(alert) => TlsError::AlertReceived(Alert(u8::from(alert))),
        Error::InvalidCertificate(problem) => certificate_error(problem, evidence),
        Error::NoApplicationProtocol => TlsError::NoCommonAlpn,
        other => TlsError::Protocol(other.to_string()),
    }
}

fn certificate_error(problem: CertificateError, evidence: Evidence<'_>) -> TlsError {
    let certificate = evidence
        .certificate
        .as_ref()
        .and_then(CertificateInfo::from_cert);
    match problem {
        CertificateError::UnknownIssuer => TlsError::UnknownIssuer { certificate },
        CertificateError::NotValidForName => {
            name_mismatch(evidence.expected_name, certificate, Vec::new())
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => name_mismatch(
            evidence.expected_name.or(Some(expected.to_str().as_ref())),
            certificate,
            presented,
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            TlsError::CertificateExpired { certificate }
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            TlsError::CertificateNotYetValid { certificate }
        }
        CertificateError::Other(other) if is_ca_used_as_end_entity(&other) => {
            match certificate {
                // Self-signed, and not given with --ca (that is trusted).
                Some(cert) if cert.subject == cert.issuer => TlsError::UnknownIssuer {
                    certificate: Some(cert),
                },
                _ => TlsError::BadCertificate(
                    "the server presented a certificate authority's certificate as its own".into(),
                ),
            }
        }
        other => TlsError::BadCertificate(Error::InvalidCertificate(other).to_string()),
    }
}

/// webpki's refusal of a CA certificate presented by a server: what
/// `openssl req -x509` makes by default.
fn is_ca_used_as_end_entity(error: &rustls::OtherError) -> bool {
    matches!(
        error.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

/// The names come from the certificate itself where it was recorded, as
/// plain text (`localhost`, `127.0.0.1`); webpki's own list is the fallback.
fn name_mismatch(
    expected: Option<&str>,
    certificate: Option<Box<CertificateInfo>>,
    fallback: Vec<String>,
) -> TlsError {
    TlsError::NameMismatch {
        expected: expected.unwrap_or("the name asked for").to_string(),
        presented: certificate.map(|cert| cert.names).unwrap_or(fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(first_bytes: &[u8]) -> Evidence<'_> {
        Evidence {
            first_bytes,
            certificate: None,
            expected_name: Some("127.0.0.1"),
        }
    }

    #[test]
    fn records_start_with_a_content_type_and_version_three() {
        assert!(could_be_tls(b""));
        assert!(could_be_tls(&[22]));
        assert!(could_be_tls(&[22, 3, 1, 0, 200]));
        assert!(could_be_tls(&[21, 3, 3]));
        assert!(!could_be_tls(b"HTTP/1.0 200 OK"));
        assert!(!could_be_tls(&[22, 4]));
    }

    #[test]
    fn any_error_after_plain_text_is_not_tls() {
        let error = classify(Error::DecryptError, evidence(b"SSH-2.0-OpenSSH\r\n"));
        assert!(matches!(error, TlsError::NotTls { sent } if sent.starts_with(b"SSH-2.0")));
    }

    #[test]
    fn an_alert_keeps_its_number() {
        let alert = rustls::AlertDescription::UnknownCA;
        let error = classify(Error::AlertReceived(alert), evidence(&[21, 3, 3]));
        assert_eq!(error.to_string(), "the peer sent the TLS alert unknown_ca");
    }

    #[test]
    fn a_name_problem_without_a_recorded_certificate_names_the_expected_host() {
        let problem = Error::InvalidCertificate(CertificateError::NotValidForName);
        match classify(problem, evidence(&[22, 3, 3])) {
            TlsError::NameMismatch {
                expected,
                presented,
            } => {
                assert_eq!(expected, "127.0.0.1");
                assert!(presented.is_empty());
            }
            other => panic!("wrong error: {other}"),
        }
    }
}

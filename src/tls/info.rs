//! What a finished handshake shows the user: version, cipher suite, ALPN
//! and the peer's certificate.
//!
//! The values are returned typed, not rendered, because the renderer puts
//! `--stable` placeholders in place of the fingerprint and the validity
//! dates; each of those is therefore a field of its own.

use std::fmt;
use std::fmt::Write as _;

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The outcome of a successful handshake, as the `tls` command shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// `TLSv1.3` or `TLSv1.2`, spelled as OpenSSL and Python spell it.
    pub version: String,
    /// The IANA name as rustls names it, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The key exchange group, e.g. `X25519` (OpenSSL's "Server Temp Key").
    pub key_exchange: Option<String>,
    /// The ALPN protocol both sides agreed on; `None` when none was.
    pub alpn: Option<String>,
    /// Client side: the name verified. Server side: the SNI the client sent.
    pub server_name: Option<String>,
    /// The peer's end-entity certificate; `None` for a server (no client certificates).
    pub peer_certificate: Option<CertificateInfo>,
}

/// The fields of a certificate a student looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject's distinguished name, e.g. `CN=localhost, O=sockrepl`.
    pub subject: String,
    /// The issuer's distinguished name (equal to `subject` when self-signed).
    pub issuer: String,
    /// The start of the validity period (`notBefore`).
    pub not_before: CertTime,
    /// The end of the validity period (`notAfter`).
    pub not_after: CertTime,
    /// The DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    /// SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it: `AB:CD:...`.
    pub sha256_fingerprint: String,
}

/// A certificate time: seconds since the Unix epoch, shown as OpenSSL
/// shows `notBefore`/`notAfter` (`Jan  2 03:04:05 2025 GMT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertTime(pub i64);

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl fmt::Display for CertTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(self.0) else {
            return write!(f, "@{}", self.0);
        };
        write!(
            f,
            "{} {:>2} {:02}:{:02}:{:02} {} GMT",
            MONTHS[usize::from(u8::from(at.month())) - 1],
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.year()
        )
    }
}

impl CertificateInfo {
    /// Reads a DER certificate; the error says what could not be parsed.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        Ok(CertificateInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: CertTime(cert.validity().not_before.timestamp()),
            not_after: CertTime(cert.validity().not_after.timestamp()),
            names: alt_names(&cert),
            sha256_fingerprint: sha256_fingerprint(der),
        })
    }

    /// Like [`CertificateInfo::from_der`], for a certificate rustls holds.
    pub fn from_cert(cert: &CertificateDer<'_>) -> Option<Box<Self>> {
        Self::from_der(cert.as_ref()).ok().map(Box::new)
    }
}

/// The subjectAltName entries a name check compares: DNS names and IPs.
fn alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(extension)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => ip_text(bytes),
            _ => None,
        })
        .collect()
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(std::net::Ipv4Addr::from(v4).to_string());
    }
    let v6 = <[u8; 16]>::try_from(bytes).ok()?;
    Some(std::net::Ipv6Addr::from(v6).to_string())
}

/// SHA-256 of `der` as colon-separated upper-case hex pairs, the value
/// `openssl x509 -noout -fingerprint -sha256` prints after `=`.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut text = String::with_capacity(digest.as_ref().len() * 3);
    for (index, byte) in digest.as_ref().iter().enumerate() {
        if index > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02X}");
    }
    text
}

/// `TLSv1_3` (rustls' name) as `TLSv1.3` (OpenSSL's and Python's).
pub fn version_name(version: rustls::ProtocolVersion) -> String {
    match version.as_str() {
        Some(name) => name.replace('_', "."),
        None => format!("{version:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_openssl_prints_them() {
        assert_eq!(CertTime(0).to_string(), "Jan  1 00:00:00 1970 GMT");
        // 2025-12-24 13:05:09 UTC
        assert_eq!(
            CertTime(1_766_581_509).to_string(),
            "Dec 24 13:05:09 2025 GMT"
        );
    }

    #[test]
    fn a_fingerprint_is_upper_case_hex_pairs() {
        // SHA-256 of the empty string.
        let empty = sha256_fingerprint(b"");
        assert!(empty.starts_with("E3:B0:C4:42:98:FC:1C:14:"), "{empty}");
        assert_eq!(empty.len(), 32 * 3 - 1);
    }

    #[test]
    fn versions_are_spelled_with_a_dot() {
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_2), "TLSv1.2");
    }
}

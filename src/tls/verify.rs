//! The client's certificate check, which also remembers the certificate
//! it was shown.
//!
//! rustls keeps the peer's certificate only once verification passed, but
//! a failure reads better with it ("self-signed (CN=localhost) and not
//! trusted here"), and `--insecure` must still show it. So every client
//! verifier is this one: it records, then checks with webpki, or checks
//! nothing but the handshake signature (`--insecure`, as `curl -k`).
//!
//! A certificate given with `--ca` is also trusted as itself when the
//! server presents exactly it, as OpenSSL, curl and Python trust it: webpki
//! alone refuses a self-signed certificate marked as a CA, which is what
//! `openssl req -x509` makes, the usual certificate of a lab.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};

use super::config::provider;
use super::info::CertificateInfo;

/// How the certificate chain is judged.
#[derive(Debug)]
enum Check {
    /// Against trust anchors.
    WebPki(Arc<WebPkiServerVerifier>),
    /// There are no trust anchors at all, so no chain can be trusted.
    NoRoots,
    /// `--insecure`: any chain is accepted.
    Nothing,
}

/// A [`ServerCertVerifier`] that records the end-entity certificate it is shown.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    check: Check,
    /// The certificates of `--ca`: a server presenting one of them is
    /// trusted as that very certificate, even one marked as a CA.
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl RecordingVerifier {
    /// Verifies chains against `roots` (system roots plus `--ca`), and
    /// trusts the `--ca` certificates themselves (`pinned`).
    pub(crate) fn trusting(roots: RootCertStore, pinned: Vec<CertificateDer<'static>>) -> Self {
        let check = if roots.is_empty() {
            Check::NoRoots
        } else {
            let built =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build();
            match built {
                Ok(verifier) => Check::WebPki(verifier),
                Err(_) => Check::NoRoots,
            }
        };
        Self::with(check, pinned)
    }

    /// `--insecure`: accepts any certificate, but still checks that the
    /// server holds its key (the handshake signature).
    pub(crate) fn insecure() -> Self {
        Self::with(Check::Nothing, Vec::new())
    }

    fn with(check: Check, pinned: Vec<CertificateDer<'static>>) -> Self {
        RecordingVerifier {
            check,
            pinned,
            algorithms: provider().signature_verification_algorithms,
            seen: Mutex::new(None),
        }
    }

    /// The last end-entity certificate the server presented.
    pub(crate) fn seen(&self) -> Option<CertificateDer<'static>> {
        self.seen.lock().ok()?.clone()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        let verdict = match &self.check {
            Check::WebPki(verifier) => verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Check::NoRoots => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            Check::Nothing => return Ok(ServerCertVerified::assertion()),
        };
        match verdict {
            // webpki refuses a CA certificate as a server's own (what
            // `openssl req -x509` makes) and a leaf that is its own anchor;
            // OpenSSL, curl and Python trust the exact certificate given.
            Err(Error::InvalidCertificate(
                CertificateError::Other(_) | CertificateError::UnknownIssuer,
            )) if self.pinned.iter().any(|cert| cert == end_entity) => {
                verify_pinned(end_entity, server_name, now)
            }
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A certificate trusted as itself still has to be for the name asked
/// for, and valid now; that the server holds its key, the handshake
/// signature shows.
fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, Error> {
    let parsed = ParsedCertificate::try_from(end_entity)?;
    verify_server_name(&parsed, server_name)?;
    let info = CertificateInfo::from_der(end_entity).map_err(|why| {
        Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Unreadable(
            why,
        )))))
    })?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < info.not_before.0 {
        return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > info.not_after.0 {
        return Err(Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(ServerCertVerified::assertion())
}

/// A certificate x509-parser could not read, as rustls' "other" error.
#[derive(Debug)]
struct Unreadable(String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable certificate: {}", self.0)
    }
}

impl std::error::Error for Unreadable {}

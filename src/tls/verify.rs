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

use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};

use super::config::{provider, system_roots};
use super::info::CertificateInfo;

/// How the certificate chain is judged.
#[derive(Debug)]
enum Check {
    /// Against the `--ca` certificates (if any) first, then the system's
    /// roots: together, the anchors a chain may end at.
    Anchors {
        given: Option<Arc<WebPkiServerVerifier>>,
    },
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
    /// Verifies chains against `given` (the `--ca` certificates as
    /// anchors), then the system's roots, and trusts the `--ca`
    /// certificates themselves (`pinned`).
    pub(crate) fn trusting(
        given: Option<RootCertStore>,
        pinned: Vec<CertificateDer<'static>>,
    ) -> Self {
        let given = given.and_then(|roots| webpki_verifier(Arc::new(roots)));
        Self::with(Check::Anchors { given }, pinned)
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

    fn is_pinned(&self, end_entity: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|cert| cert == end_entity)
    }
}

/// webpki's verifier over `roots`; `None` when there are none.
fn webpki_verifier(roots: Arc<RootCertStore>) -> Option<Arc<WebPkiServerVerifier>> {
    if roots.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .ok()
}

/// The verifier over the system's roots, built on first use and kept.
fn system_verifier() -> Option<&'static Arc<WebPkiServerVerifier>> {
    static VERIFIER: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| webpki_verifier(system_roots().clone()))
        .as_ref()
}

/// Whether a refusal says the chain reached a trusted anchor and the
/// certificate itself is wrong (its name, its dates): the system's roots
/// would say no more.
fn is_final(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidCertificate(
            CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. }
                | CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        )
    )
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
        let Check::Anchors { given } = &self.check else {
            return Ok(ServerCertVerified::assertion());
        };
        let verify = |verifier: &WebPkiServerVerifier| {
            verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        let first = match given {
            Some(verifier) => verify(verifier),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        };
        match first {
            Ok(verified) => Ok(verified),
            Err(error) if is_final(&error) => Err(error),
            // webpki refuses a CA certificate as a server's own (what
            // `openssl req -x509` makes) and a leaf that is its own anchor;
            // OpenSSL, curl and Python trust the exact certificate given.
            Err(_) if self.is_pinned(end_entity) => verify_pinned(end_entity, server_name, now),
            Err(first) => match (system_verifier(), given) {
                (Some(system), _) => verify(system),
                (None, Some(_)) => Err(first),
                (None, None) => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            },
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

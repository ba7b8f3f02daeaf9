//! The client's certificate check, which also remembers the certificate
//! it was shown.
//!
//! rustls keeps the peer's certificate only once verification passed, but
//! a failure reads better with it ("self-signed (CN=localhost) and not
//! trusted here"), and `--insecure` must still show it. So every client
//! verifier is this one: it records, then checks with webpki, or checks
//! nothing but the handshake signature (`--insecure`, as `curl -k`).

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

use super::config::provider;

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
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl RecordingVerifier {
    /// Verifies chains against `roots` (system roots plus `--ca`).
    pub(crate) fn trusting(roots: RootCertStore) -> Self {
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
        Self::with(check)
    }

    /// `--insecure`: accepts any certificate, but still checks that the
    /// server holds its key (the handshake signature).
    pub(crate) fn insecure() -> Self {
        Self::with(Check::Nothing)
    }

    fn with(check: Check) -> Self {
        RecordingVerifier {
            check,
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
        match &self.check {
            Check::WebPki(verifier) => verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Check::NoRoots => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            Check::Nothing => Ok(ServerCertVerified::assertion()),
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

//! Certificates and keys: the session's own self-signed certificate, and
//! the PEM files a script names with `--cert`, `--key` and `--ca`.
//!
//! Every file problem becomes a [`TlsError::File`] naming the path and what
//! is wrong with it (missing, not PEM, no certificate in it...), because
//! "no items found" helps nobody who swapped `--cert` and `--key`.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::config::provider;
use super::error::{FileProblem, TlsError};

/// The names the session certificate is valid for.
pub const SESSION_CERT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The file the session certificate's PEM is written to, in the session's directory.
pub const SESSION_CERT_FILE: &str = "tls-cert.pem";

/// The session's self-signed certificate and its key.
pub struct SessionCert {
    path: PathBuf,
    identity: ServerIdentity,
}

impl SessionCert {
    /// Makes a new certificate for [`SESSION_CERT_NAMES`], valid from a
    /// day ago for a year, and writes its PEM to `dir/tls-cert.pem`.
    pub fn create(dir: &Path) -> Result<Self, TlsError> {
        let now = time::OffsetDateTime::now_utc();
        let made = self_signed(
            &SESSION_CERT_NAMES,
            now - time::Duration::days(1),
            now + time::Duration::days(365),
        )
        .map_err(|e| TlsError::SessionCertificate(e.to_string()))?;
        let path = dir.join(SESSION_CERT_FILE);
        fs::write(&path, &made.pem).map_err(|e| {
            TlsError::SessionCertificate(format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(SessionCert {
            path,
            identity: made.identity,
        })
    }

    /// The PEM file (`${tls.cert}`), for a client's `--ca`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificate, as a server presents it.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.identity.chain[0]
    }

    /// Certificate and key, for [`super::ServerOptions`].
    pub fn identity(&self) -> ServerIdentity {
        self.identity.clone()
    }
}

/// The session certificate, made the first time it is asked for.
pub struct LazySessionCert {
    dir: PathBuf,
    cert: Option<SessionCert>,
}

impl LazySessionCert {
    /// Nothing is made yet; `dir` is where the PEM file will go.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LazySessionCert {
            dir: dir.into(),
            cert: None,
        }
    }

    /// The certificate, made and written now if this is the first use.
    pub fn get(&mut self) -> Result<&SessionCert, TlsError> {
        if self.cert.is_none() {
            self.cert = Some(SessionCert::create(&self.dir)?);
        }
        Ok(self.cert.as_ref().expect("made just above"))
    }

    /// The certificate if it was made already; never makes one.
    pub fn made(&self) -> Option<&SessionCert> {
        self.cert.as_ref()
    }
}

/// A certificate made by [`self_signed`]: PEM texts, and the DERs a server uses.
pub struct SelfSigned {
    /// The certificate as PEM.
    pub pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: String,
    pub identity: ServerIdentity,
}

/// A self-signed certificate for `names` (DNS names or IP addresses) with
/// this validity, on a fresh ECDSA P-256 key. The tests use it for expired
/// and foreign certificates too.
pub fn self_signed(
    names: &[&str],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<SelfSigned, rcgen::Error> {
    let key = KeyPair::generate()?;
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "sockrepl");
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok(SelfSigned {
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        identity: ServerIdentity {
            chain: vec![cert.der().clone()],
            key: key_der,
        },
    })
}

/// A certificate chain and the private key of its first certificate.
pub struct ServerIdentity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ServerIdentity {
    /// Reads `--cert FILE --key FILE`, and checks that the key belongs to
    /// the (first) certificate, so a mismatch is told before any client connects.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = read_certificates(cert)?;
        let key_der = read_private_key(key)?;
        match CertifiedKey::from_der(chain.clone(), key_der.clone_key(), &provider()) {
            Ok(_) => Ok(ServerIdentity {
                chain,
                key: key_der,
            }),
            Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            Err(other) => Err(TlsError::File {
                path: key.to_path_buf(),
                problem: FileProblem::UnusableKey(other.to_string()),
            }),
        }
    }

    /// The end-entity certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

/// Every certificate of a PEM file (`--cert` or `--ca`); at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_pem_file(path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&text).collect();
    let certs = certs.map_err(|e| file_error(path, malformed(e)))?;
    if certs.is_empty() {
        return Err(file_error(path, FileProblem::NoCertificate));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_pem_file(path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(path, FileProblem::NoPrivateKey),
        other => file_error(path, malformed(other)),
    })
}

/// The file's bytes, refused early when no PEM block starts in it.
fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let text = fs::read(path).map_err(|e| file_error(path, FileProblem::Unreadable(e)))?;
    if !contains(&text, b"-----BEGIN ") {
        return Err(file_error(path, FileProblem::NotPem));
    }
    Ok(text)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn malformed(error: pem::Error) -> FileProblem {
    FileProblem::Malformed(error.to_string())
}

fn file_error(path: &Path, problem: FileProblem) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<impl Sized, TlsError>) -> FileProblem {
        match result {
            Err(TlsError::File { problem, .. }) => problem,
            Err(other) => panic!("not a file error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_session_certificate_is_written_as_pem_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut lazy = LazySessionCert::new(dir.path());
        assert!(lazy.made().is_none(), "nothing is made before first use");
        let cert = lazy.get().unwrap();
        assert_eq!(cert.path(), dir.path().join(SESSION_CERT_FILE));
        let read = read_certificates(cert.path()).unwrap();
        assert_eq!(read, vec![cert.certificate().clone()]);
        let first_der = cert.certificate().clone();
        assert_eq!(lazy.get().unwrap().certificate(), &first_der, "made once");
    }

    #[test]
    fn the_session_certificate_names_localhost_and_both_loopbacks() {
        let dir = tempfile::tempdir().unwrap();
        let cert = SessionCert::create(dir.path()).unwrap();
        let info = super::super::CertificateInfo::from_der(cert.certificate()).unwrap();
        assert_eq!(info.names, ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(info.subject, info.issuer, "self-signed");
        assert!(info.subject.contains("CN=localhost"), "{}", info.subject);
    }

    #[test]
    fn a_missing_file_is_unreadable() {
        let missing = Path::new("/nonexistent/sockrepl/cert.pem");
        assert!(matches!(
            problem(read_certificates(missing)),
            FileProblem::Unreadable(_)
        ));
    }

    #[test]
    fn a_file_without_pem_blocks_is_not_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.der");
        fs::write(&path, [0x30, 0x82, 0x01, 0x00]).unwrap();
        assert!(matches!(
            problem(read_certificates(&path)),
            FileProblem::NotPem
        ));
    }

    #[test]
    fn a_key_given_as_certificate_holds_no_certificate_and_vice_versa() {
        let dir = tempfile::tempdir().unwrap();
        let made = SessionCert::create(dir.path()).unwrap();
        let key_path = dir.path().join("key.pem");
        let key_pem = KeyPair::generate().unwrap().serialize_pem();
        fs::write(&key_path, key_pem).unwrap();
        assert!(matches!(
            problem(read_certificates(&key_path)),
            FileProblem::NoCertificate
        ));
        assert!(matches!(
            problem(read_private_key(made.path())),
            FileProblem::NoPrivateKey
        ));
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let made = SessionCert::create(dir.path()).unwrap();
        let key_path = dir.path().join("other-key.pem");
        fs::write(&key_path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        match ServerIdentity::from_files(made.path(), &key_path) {
            Err(TlsError::KeyMismatch { cert, key }) => {
                assert_eq!(
                    (cert.as_path(), key.as_path()),
                    (made.path(), key_path.as_path())
                );
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("a foreign key was accepted"),
        }
    }

    #[test]
    fn a_matching_pair_of_files_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let now = time::OffsetDateTime::now_utc();
        let made = self_signed(&["example.test"], now, now + time::Duration::days(1)).unwrap();
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        fs::write(&cert_path, &made.pem).unwrap();
        fs::write(&key_path, &made.key_pem).unwrap();
        let identity = ServerIdentity::from_files(&cert_path, &key_path).unwrap();
        assert_eq!(identity.certificate(), made.identity.certificate());
    }
}

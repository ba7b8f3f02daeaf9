//! From the `tls` command's flags to rustls configurations.
//!
//! One rustls configuration is built per connection: the client's verifier
//! records the certificate of that one connection ([`RecordingVerifier`]),
//! and building costs little next to a handshake. What is costly, loading
//! the system's roots, happens once per process, and only when a chain
//! needs them (not one that `--ca` vouches for).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::cert::{read_certificates, ServerIdentity};
use super::error::{FileProblem, TlsError};
use super::verify::RecordingVerifier;

/// Plaintext and records rustls may hold unsent: large, so that a bulk
/// transfer writes many records per system call.
pub(crate) const SEND_BUFFER_LIMIT: usize = 256 * 1024;

/// Which certificates a client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Chains to the system's roots, or to the certificates of `ca` (`--ca FILE`).
    Verify { ca: Option<PathBuf> },
    /// `--insecure`: any certificate (still recorded and shown).
    Insecure,
}

/// `tls NAME [--sni HOST] [--alpn P,...] [--ca FILE | --insecure]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The name to send and verify; `None` verifies the peer's IP address.
    pub sni: Option<String>,
    /// ALPN protocols to offer, in order of preference.
    pub alpn: Vec<String>,
    pub trust: Trust,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            sni: None,
            alpn: Vec::new(),
            trust: Trust::Verify { ca: None },
        }
    }
}

/// `tls NAME --server [--cert FILE --key FILE] [--alpn P,...]`.
#[derive(Clone)]
pub struct ServerOptions {
    /// The certificate and key to present: from files, or the session's.
    pub identity: ServerIdentity,
    /// ALPN protocols accepted, in order of preference.
    pub alpn: Vec<String>,
}

/// rustls on ring, the one crypto provider of this crate.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Splits `--alpn h2,http/1.1` into protocol names.
pub fn parse_alpn(list: &str) -> Result<Vec<String>, TlsError> {
    let names: Vec<String> = list.split(',').map(str::to_string).collect();
    alpn_wire(&names)?;
    Ok(names)
}

/// ALPN names as rustls sends them; each must be 1 to 255 bytes.
fn alpn_wire(names: &[String]) -> Result<Vec<Vec<u8>>, TlsError> {
    names
        .iter()
        .map(|name| match name.len() {
            0 => Err(TlsError::BadAlpn("a protocol name is empty".into())),
            1..=255 => Ok(name.as_bytes().to_vec()),
            _ => Err(TlsError::BadAlpn(format!(
                "{name:?} is longer than 255 bytes"
            ))),
        })
        .collect()
}

/// What a client connection is made from.
pub(crate) struct ClientSetup {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
    pub verifier: Arc<RecordingVerifier>,
}

/// Builds the client side for a peer at `peer` (`None` for a Unix socket,
/// where a missing `--sni` means `localhost`).
pub(crate) fn client_setup(
    options: &ClientOptions,
    peer: Option<IpAddr>,
) -> Result<ClientSetup, TlsError> {
    let name = server_name(options.sni.as_deref(), peer)?;
    let verifier = Arc::new(match &options.trust {
        Trust::Insecure => RecordingVerifier::insecure(),
        Trust::Verify { ca } => {
            let given = match ca {
                Some(path) => read_certificates(path)?,
                None => Vec::new(),
            };
            let anchors = match ca {
                Some(path) => Some(anchors(path, &given)?),
                None => None,
            };
            RecordingVerifier::trusting(anchors, given)
        }
    });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Protocol(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = alpn_wire(&options.alpn)?;
    Ok(ClientSetup {
        config: Arc::new(config),
        name,
        verifier,
    })
}

/// Builds the server side.
pub(crate) fn server_config(options: &ServerOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let identity = options.identity.clone();
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Protocol(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| TlsError::Protocol(e.to_string()))?;
    config.alpn_protocols = alpn_wire(&options.alpn)?;
    // No session tickets: a sockrepl client never resumes (each connection
    // has a configuration of its own), and the tickets' bytes, arriving
    // after the handshake, would show as a receive queue that holds no data.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Checks `--sni HOST` before anything runs: a DNS name or an IP address.
pub fn check_sni(host: &str) -> Result<(), TlsError> {
    server_name(Some(host), None).map(|_| ())
}

/// `--sni HOST` as given, else the IP address connected to.
fn server_name(sni: Option<&str>, peer: Option<IpAddr>) -> Result<ServerName<'static>, TlsError> {
    match (sni, peer) {
        (Some(host), _) => ServerName::try_from(host.to_string())
            .map_err(|_| TlsError::BadServerName(host.to_string())),
        (None, Some(ip)) => Ok(ServerName::IpAddress(ip.into())),
        (None, None) => Ok(ServerName::try_from("localhost").expect("a valid DNS name")),
    }
}

/// The certificates of the `--ca` file, as trust anchors of their own.
fn anchors(path: &Path, given: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in given {
        roots.add(cert.clone()).map_err(|e| TlsError::File {
            path: path.to_path_buf(),
            problem: FileProblem::Malformed(e.to_string()),
        })?;
    }
    Ok(roots)
}

/// The system's roots, loaded on first use and kept: reading the system
/// store takes milliseconds, so a chain that `--ca` vouches for never
/// waits for it. Certificates it cannot parse are left out; none at all is
/// not an error (every chain is then of an unknown issuer).
pub(crate) fn system_roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Arc::new(roots)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_lists_split_on_commas() {
        assert_eq!(parse_alpn("h2,http/1.1").unwrap(), ["h2", "http/1.1"]);
        assert!(matches!(parse_alpn("h2,,x"), Err(TlsError::BadAlpn(_))));
        assert!(matches!(parse_alpn(""), Err(TlsError::BadAlpn(_))));
    }

    #[test]
    fn without_sni_the_name_verified_is_the_peer_address() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            server_name(None, Some(ip)).unwrap(),
            ServerName::IpAddress(ip.into())
        );
        let named = server_name(Some("example.com"), Some(ip)).unwrap();
        assert_eq!(named.to_str(), "example.com");
    }

    #[test]
    fn a_bad_sni_is_refused_by_name() {
        match server_name(Some("not a name!"), None) {
            Err(TlsError::BadServerName(name)) => assert_eq!(name, "not a name!"),
            other => panic!(
                "accepted or wrong error: {:?}",
                other.map(|n| n.to_str().into_owned())
            ),
        }
    }
}

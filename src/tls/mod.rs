//! TLS for the `tls` command (SPEC §15): rustls on the ring provider,
//! over the handles' own non-blocking kernel sockets.
//!
//! This layer knows nothing of handles, deadlines or the transcript; the
//! command layer drives it:
//!
//! - [`TlsConn::client`] / [`TlsConn::server`] from [`ClientOptions`] /
//!   [`ServerOptions`], then [`TlsConn::handshake`] with the handle's wait
//!   (or [`TlsConn::handshake_step`] and a poll loop of its own); for
//!   `--with PEER`, [`handshake_pair`] runs both ends in one thread;
//! - the result is a typed [`HandshakeInfo`] for the renderer, whose
//!   fingerprint and validity dates are fields of their own for the
//!   `--stable` placeholders;
//! - receiving fills a plaintext buffer ([`TlsConn::fill`],
//!   [`TlsConn::buffered`], [`TlsConn::consume`]) so framed receives can
//!   look before they take; an end of stream is a clean `close_notify` or a
//!   truncation ([`StreamEnd`]);
//! - sending is [`TlsConn::write`] / [`TlsConn::write_all`], closing
//!   [`TlsConn::close_notify`];
//! - the session's certificate is made on first use ([`LazySessionCert`]);
//! - every failure is a [`TlsError`] with a message and a hint.
//!
//! Files: [`config`] (flags to rustls configurations), [`cert`] (the
//! session certificate, PEM files), `verify.rs` (the client's verifier,
//! which records the certificate it is shown), [`conn`] (the connection),
//! [`pair`] (`--with`), [`info`] (what is shown), [`error`] and
//! `classify.rs` (failures), `buffer.rs` (the byte queues), [`poll`] (a
//! plain deadline wait).

mod buffer;
pub mod cert;
mod classify;
pub mod config;
pub mod conn;
pub mod error;
pub mod info;
pub mod pair;
pub mod poll;
mod verify;

#[cfg(test)]
mod openssl_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod throughput_tests;

pub use cert::{LazySessionCert, ServerIdentity, SessionCert};

/// The word `tls`, written once: the command's name, the namespace of
/// `${tls.cert}` (so a reserved name), and the layer `sockets` shows.
pub const NAME: &str = "tls";
pub use config::{check_sni, parse_alpn, ClientOptions, ServerOptions, Trust};
pub use conn::{Fill, Interest, Received, Step, StreamEnd, TlsConn};
pub use error::{Alert, FileProblem, TlsError};
pub use info::{sha256_fingerprint, CertTime, CertificateInfo, HandshakeInfo};
pub use pair::{handshake_pair, PairFailure, PairInfo};
pub use poll::{poll_until, wait_until};

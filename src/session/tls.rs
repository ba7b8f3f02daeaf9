//! What the session keeps for TLS: its own certificate, made on first use
//! (`tls --server`, `tls --with` or `${tls.cert}`), and the step that puts
//! TLS in front of a handle once its handshake is done.

use super::Session;
use crate::errors::Failure;
use crate::handle::Handle;
use crate::tls::{sha256_fingerprint, SessionCert, TlsConn};

impl Session {
    /// The session's self-signed certificate for localhost, 127.0.0.1 and
    /// ::1, made now (its PEM file in `${tmp}`) if this is the first use.
    pub fn session_cert(&mut self) -> Result<&SessionCert, Failure> {
        if self.tls_cert.is_none() {
            let dir = self.tmp_dir()?;
            let made = SessionCert::create(&dir).map_err(|e| Failure::from(&e))?;
            self.tls_cert = Some(made);
        }
        Ok(self.tls_cert.as_ref().expect("made just above"))
    }

    /// The session certificate's fingerprint, if it was made: `--stable`
    /// shows it as `<tls.cert.sha256>` wherever it appears.
    pub fn session_cert_fingerprint(&self) -> Option<String> {
        let cert = self.tls_cert.as_ref()?;
        Some(sha256_fingerprint(cert.certificate()))
    }

    /// Puts TLS, whose handshake `conn` has done, in front of the plain
    /// socket handle `name`; it keeps its name, place and settings.
    pub fn start_tls(&mut self, name: &str, conn: TlsConn) -> Result<(), Failure> {
        match self.remove(name)?.start_tls(conn) {
            Ok(handle) => {
                self.put_back(handle);
                Ok(())
            }
            Err(handle) => {
                let what = handle.io.what();
                self.put_back(handle);
                Err(Failure::usage(format!(
                    "{name} is {what}: TLS goes on a plain socket"
                )))
            }
        }
    }

    fn put_back(&mut self, handle: Handle) {
        self.handles.insert(handle.name.clone(), handle);
    }
}

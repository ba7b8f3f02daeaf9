//! `tls`: start TLS on a connected stream handle (SPEC §15), as the
//! client, as the server, or as both ends of one connection of this
//! session (`--with`).
//!
//! The handshake runs over the handle's own kernel socket with the
//! handle's timeout; once it is done the handle's bytes go through TLS
//! (`handle/tls.rs`), so every send, receive and `expect` works on it
//! unchanged. Talking plain text first and then `tls` is STARTTLS.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use super::{Command, Fits, Flag, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::handle::Handle;
use crate::outcome::{Outcome, TlsDone, TlsSide};
use crate::parser::{check_handle_name, Arg, Args, SyntaxError};
use crate::session::Session;
use crate::tls::{
    check_sni, handshake_pair, parse_alpn, CertificateInfo, ClientOptions, HandshakeInfo, Interest,
    PairFailure, ServerIdentity, ServerOptions, TlsConn, TlsError, Trust,
};
use crate::wait::{poll_many, wait_for};

pub const SPECS: &[Spec] = &[TLS];

pub const TLS: Spec = Spec {
    name: crate::tls::NAME,
    synopsis: "tls NAME [--sni HOST] [--ca FILE|--insecure] | --server [--cert F --key F] | --with PEER [--alpn P,...]",
    summary: "Start TLS on a connected stream: as client, server (--server) or both ends (--with PEER). \
              A client verifies the server's certificate against the system's roots plus --ca, for \
              --sni HOST or else the address connected to, unless --insecure; a server presents \
              --cert and --key, or the session's own certificate (${tls.cert}); with --with, PEER is \
              the server of a connection of this session; --alpn P,... offers or accepts ALPN \
              protocols. Shows the version, cipher suite, ALPN and the certificate; then every send, \
              receive and expect goes through TLS, and close sends close_notify.",
    python: "s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname='localhost')",
    example: "tls cli --ca ${tls.cert}",
    args: &[Slot::Handle(Fits::NotListening)],
    repeats: false,
    flags: &[
        Flag::with("--sni", Slot::Value),
        Flag::with("--alpn", Slot::Value),
        Flag::with("--ca", Slot::Path),
        Flag::switch("--insecure"),
        Flag::switch("--server"),
        Flag::with("--cert", Slot::Path),
        Flag::with("--key", Slot::Path),
        Flag::with("--with", Slot::Handle(Fits::NotListening)),
    ],
    scope: Scope::Language,
    parse: |args| Tls::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub struct Tls {
    name: String,
    role: Role,
    /// `--alpn P,...`: the protocols offered (client) or accepted (server).
    alpn: Option<Arg<Vec<String>>>,
}

/// Which end of the handshake this handle takes.
#[derive(Debug, Clone)]
enum Role {
    Client {
        sni: Option<Arg<String>>,
        /// `--ca FILE`, trusted besides the system's roots.
        ca: Option<Arg<PathBuf>>,
        insecure: bool,
    },
    Server {
        /// `--cert FILE --key FILE`; `None`: the session's certificate.
        files: Option<(Arg<PathBuf>, Arg<PathBuf>)>,
    },
    /// `--with PEER`: this handle the client, PEER the server.
    With { peer: String },
}

/// What waits for run time in the flags of one form, for "X goes with Y".
const CLIENT_FLAGS: [&str; 3] = ["--sni", "--ca", "--insecure"];

impl Tls {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let alpn = args.option_arg("--alpn", alpn_word)?;
        let role = if args.flag("--server") {
            parse_server(args)?
        } else if let Some(word) = args.option("--with")? {
            let peer = word
                .literal()
                .ok_or_else(|| args.usage_error("--with takes a handle name, not ${...}"))?;
            check_handle_name(peer)?;
            refuse(args, &CLIENT_FLAGS, "--with")?;
            refuse(args, &["--cert", "--key"], "--with")?;
            Role::With {
                peer: peer.to_string(),
            }
        } else {
            parse_client(args)?
        };
        let name = args.handle()?;
        if matches!(&role, Role::With { peer } if *peer == name) {
            return Err(args.usage_error("--with names the other end: a handle other than NAME"));
        }
        Ok(Tls { name, role, alpn })
    }
}

fn parse_client(args: &mut Args) -> Result<Role, SyntaxError> {
    refuse(args, &["--cert", "--key"], "the client (they go with --server)")?;
    let sni = args.option_arg("--sni", sni_word)?;
    let ca = args.option_arg("--ca", |p| Ok(PathBuf::from(p)))?;
    let insecure = args.flag("--insecure");
    if insecure && ca.is_some() {
        return Err(args.usage_error("--ca trusts a certificate, --insecure trusts any: choose one"));
    }
    Ok(Role::Client { sni, ca, insecure })
}

fn parse_server(args: &mut Args) -> Result<Role, SyntaxError> {
    refuse(args, &CLIENT_FLAGS, "--server (they are the client's)")?;
    refuse(args, &["--with"], "--server")?;
    let cert = args.option_arg("--cert", |p| Ok(PathBuf::from(p)))?;
    let key = args.option_arg("--key", |p| Ok(PathBuf::from(p)))?;
    let files = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(args.usage_error("--cert and --key go together")),
    };
    Ok(Role::Server { files })
}

/// Fails when one of `flags` was given with a form that does not take it.
fn refuse(args: &Args, flags: &[&str], form: &str) -> Result<(), SyntaxError> {
    match flags.iter().find(|flag| args.contains(flag)) {
        Some(flag) => Err(args.usage_error(&format!("{flag} does not go with {form}"))),
        None => Ok(()),
    }
}

fn alpn_word(text: &str) -> Result<Vec<String>, String> {
    parse_alpn(text).map_err(|e| with_hint(&e))
}

fn sni_word(text: &str) -> Result<String, String> {
    check_sni(text).map_err(|e| with_hint(&e))?;
    Ok(text.to_string())
}

fn with_hint(error: &TlsError) -> String {
    match error.hint() {
        Some(hint) => format!("{error}; hint: {hint}"),
        None => error.to_string(),
    }
}

impl Run for Tls {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let alpn = match &self.alpn {
            Some(arg) => session.resolve(arg)?.into_owned(),
            None => Vec::new(),
        };
        let done = match &self.role {
            Role::Client { sni, ca, insecure } => {
                let sni = resolve_optional(session, sni.as_ref())?;
                let trust = match (*insecure, resolve_optional(session, ca.as_ref())?) {
                    (true, _) => Trust::Insecure,
                    (false, ca) => Trust::Verify { ca },
                };
                let options = ClientOptions { sni, alpn, trust };
                self.client(session, &options)?
            }
            Role::Server { files } => self.server(session, files.as_ref(), alpn)?,
            Role::With { peer } => self.pair(session, peer, alpn)?,
        };
        Ok(Outcome::Tls(Box::new(done)))
    }
}

fn resolve_optional<T: Clone>(
    session: &mut Session,
    arg: Option<&Arg<T>>,
) -> Result<Option<T>, Failure> {
    arg.map(|arg| session.resolve(arg).map(|value| value.into_owned()))
        .transpose()
}

impl Tls {
    fn client(&self, session: &mut Session, options: &ClientOptions) -> Result<TlsDone, Failure> {
        let handle = session.handle(&self.name)?;
        let peer = ready_for_tls(handle)?;
        let mut conn = TlsConn::client(options, peer).map_err(|e| tls_failure(session, &e))?;
        let info = handshake(session, handle, &mut conn, SILENT_SERVER)?;
        session.start_tls(&self.name, conn)?;
        let verified_for = match options.trust {
            Trust::Insecure => None,
            Trust::Verify { .. } => info.server_name.clone(),
        };
        Ok(TlsDone {
            handle: self.name.clone(),
            side: TlsSide::Client { verified_for },
            info,
        })
    }

    fn server(
        &self,
        session: &mut Session,
        files: Option<&(Arg<PathBuf>, Arg<PathBuf>)>,
        alpn: Vec<String>,
    ) -> Result<TlsDone, Failure> {
        ready_for_tls(session.handle(&self.name)?)?;
        let identity = match files {
            Some((cert, key)) => {
                let (cert, key) = (session.resolve(cert)?, session.resolve(key)?);
                ServerIdentity::from_files(&cert, &key).map_err(|e| tls_failure(session, &e))?
            }
            None => session.session_cert()?.identity(),
        };
        let presented = CertificateInfo::from_der(identity.certificate())
            .map_err(|why| Failure::Tls(format!("the certificate cannot be read: {why}")))?;
        let options = ServerOptions { identity, alpn };
        let mut conn = TlsConn::server(&options).map_err(|e| tls_failure(session, &e))?;
        let handle = session.handle(&self.name)?;
        let info = handshake(session, handle, &mut conn, SILENT_CLIENT)?;
        session.start_tls(&self.name, conn)?;
        Ok(TlsDone {
            handle: self.name.clone(),
            side: TlsSide::Server { presented },
            info,
        })
    }

    /// `--with PEER`: both handshakes in this thread, over the two kernel
    /// sockets, PEER presenting the session's certificate and this handle
    /// verifying it against that certificate alone (and the system's roots).
    fn pair(&self, session: &mut Session, peer: &str, alpn: Vec<String>) -> Result<TlsDone, Failure> {
        let client_ip = ready_for_tls(session.handle(&self.name)?)?;
        ready_for_tls(session.handle(peer)?)?;
        check_two_ends(session.handle(&self.name)?, session.handle(peer)?)?;
        let cert = session.session_cert()?;
        let (identity, ca) = (cert.identity(), cert.path().to_path_buf());
        let client_options = ClientOptions {
            sni: None,
            alpn: alpn.clone(),
            trust: Trust::Verify { ca: Some(ca) },
        };
        let failed = |e: TlsError| tls_failure(session, &e);
        let mut client = TlsConn::client(&client_options, client_ip).map_err(failed)?;
        let mut server = TlsConn::server(&ServerOptions { identity, alpn }).map_err(failed)?;
        let (client_handle, server_handle) = (session.handle(&self.name)?, session.handle(peer)?);
        let deadline = session.deadline(client_handle).start();
        session.out.flush();
        let result = handshake_pair(
            &mut client,
            fd_of(client_handle),
            &mut server,
            fd_of(server_handle),
            |blocked| {
                let waiting: Vec<_> = blocked
                    .iter()
                    .map(|(fd, interest)| (*fd, interest.poll_events()))
                    .collect();
                poll_many(&waiting, deadline, HANDSHAKE_WAIT).map(|_| ())
            },
        );
        let info = result.map_err(|failure| match failure {
            PairFailure::Client(e) => named_failure(session, &self.name, "client", &e),
            PairFailure::Server(e) => named_failure(session, peer, "server", &e),
            PairFailure::Wait(failure) => waited(failure, SILENT_PAIR),
        })?;
        session.start_tls(&self.name, client)?;
        session.start_tls(peer, server)?;
        let verified_for = info.client.server_name.clone().unwrap_or_default();
        Ok(TlsDone {
            handle: self.name.clone(),
            side: TlsSide::Pair {
                peer: peer.to_string(),
                verified_for,
            },
            info: info.client,
        })
    }
}

/// What a handshake that ran out of time was waiting for.
const HANDSHAKE_WAIT: &str = "no complete TLS handshake";

fn fd_of(handle: &Handle) -> BorrowedFd<'_> {
    handle.io.poll_fd(libc::POLLIN)
}

/// Runs one side's handshake over the handle's socket, up to its timeout.
fn handshake(
    session: &Session,
    handle: &Handle,
    conn: &mut TlsConn,
    silent: &str,
) -> Result<HandshakeInfo, Failure> {
    let deadline = session.deadline(handle).start();
    let fd = fd_of(handle);
    session.out.flush();
    let wait = |interest: Interest| {
        wait_for(fd, interest.poll_events(), deadline, HANDSHAKE_WAIT).map_err(Stopped::Wait)
    };
    conn.handshake(fd, wait).map_err(|stopped| match stopped {
        Stopped::Tls(error @ TlsError::NotTls { .. }) if !conn.is_client() => {
            Failure::Tls(format!("{error}; hint: {PLAIN_CLIENT}"))
        }
        Stopped::Tls(error) => tls_failure(session, &error),
        Stopped::Wait(failure) => waited(failure, silent),
    })
}

/// What a server tells of a client that speaks plain text.
const PLAIN_CLIENT: &str = "a TLS client speaks first, with a ClientHello; this one sent plain \
     text (curl https://, openssl s_client and tls NAME are TLS clients; a plain-text protocol \
     starts TLS with a command such as STARTTLS first)";

/// Why a handshake stopped: TLS itself, or the wait (the timeout, Ctrl-C).
enum Stopped {
    Tls(TlsError),
    Wait(Failure),
}

impl From<TlsError> for Stopped {
    fn from(error: TlsError) -> Self {
        Stopped::Tls(error)
    }
}

/// What a handshake that timed out was waiting for, and what usually
/// causes it, for each form.
const SILENT_SERVER: &str = "the server did not complete its part; hint: is it a TLS server, \
     and running? a plain-text server that waits for the client to speak first never answers a \
     ClientHello (a STARTTLS protocol must be asked first)";
const SILENT_CLIENT: &str = "the client did not finish its part; hint: is it a TLS client? a \
     plain-text client that waits for the server to speak first never sends a ClientHello";
const SILENT_PAIR: &str = "the two ends did not finish; hint: are they the two ends of one \
     connection, and is neither holding bytes of another protocol?";

/// A timeout says what it was waiting for, and what usually causes it.
fn waited(failure: Failure, why: &str) -> Failure {
    match failure {
        Failure::Timeout { what, after, .. } => Failure::Timeout {
            what,
            after,
            detail: Some(why.to_string()),
        },
        other => other,
    }
}

/// A TLS failure as the transcript shows it: `${tmp}`'s path hidden
/// under `--stable`, as everywhere.
fn tls_failure(session: &Session, error: &TlsError) -> Failure {
    match Failure::from(error) {
        Failure::Tls(message) => Failure::Tls(session.hide_tmp(&message)),
        other => other,
    }
}

/// A failure of one end of a `--with` pair, named by its handle.
fn named_failure(session: &Session, name: &str, side: &str, error: &TlsError) -> Failure {
    match tls_failure(session, error) {
        Failure::Tls(message) => Failure::Tls(format!("{name} ({side}): {message}")),
        other => other,
    }
}

/// Checks that TLS can start on the handle: a plain, connected stream
/// socket. Returns the IP address it is connected to (`None` for a Unix
/// socket), the name a client verifies when no `--sni` says otherwise.
fn ready_for_tls(handle: &Handle) -> Result<Option<IpAddr>, Failure> {
    let name = &handle.name;
    if handle.io.layer().is_some() {
        return Err(Failure::usage(format!(
            "{name} is already a TLS connection (TLS inside TLS is not supported)"
        )));
    }
    let socket = handle.socket()?;
    if !handle.is_plain_socket() {
        return Err(Failure::usage(format!(
            "{name} is {}: TLS goes on a plain socket",
            handle.io.what()
        )));
    }
    if handle.keeps_boundaries() {
        return Err(Failure::usage(format!(
            "{name} is a datagram socket ({}): TLS runs over a stream (tcp, tcp6, unix); \
             datagrams need DTLS, another protocol",
            socket.kind
        )));
    }
    if handle.is_listening() {
        return Err(Failure::usage(format!(
            "{name} is listening: TLS runs over one connection (accept it, then tls on the new handle)"
        )));
    }
    let peer = socket.peer_addr().map_err(|_| {
        Failure::usage(format!(
            "{name} is not connected: connect it (or accept a connection) first"
        ))
    })?;
    Ok(peer.as_socket().map(|addr| addr.ip().to_canonical()))
}

/// `--with`: the two handles must be the two ends of one connection, or the
/// handshake would only wait for its timeout.
fn check_two_ends(client: &Handle, server: &Handle) -> Result<(), Failure> {
    let ends = |h: &Handle| (h.local_addr().and_then(|a| a.as_socket()), h.peer_addr());
    let (client_local, client_peer) = ends(client);
    let (server_local, server_peer) = ends(server);
    let ip_ends = client_local.is_some() && server_local.is_some();
    let joined = client_peer.and_then(|a| a.as_socket()) == server_local
        && server_peer.and_then(|a| a.as_socket()) == client_local;
    if ip_ends && !joined {
        return Err(Failure::usage(format!(
            "{} and {} are not the two ends of one connection (--with PEER: the handle accepted \
             from the connection NAME made)",
            client.name, server.name
        )));
    }
    Ok(())
}

impl crate::export::Export for Tls {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let s = out.handle(&self.name);
        let Some(crate::export::HandleKind::Socket(kind)) = out.kind_of(&self.name) else {
            out.fail(&format!("{} is not a plain socket: tls needs one", self.name));
            return Ok(());
        };
        out.helper("tls_ends");
        let alpn = match &self.alpn {
            None => "None".to_string(),
            Some(Arg::Ready(list)) => {
                let items: Vec<String> = list.iter().map(|p| crate::export::python::str_repr(p)).collect();
                format!("[{}]", items.join(", "))
            }
            Some(Arg::Later(word, _)) => format!("{}.split(',')", out.text(word)),
        };
        match &self.role {
            Role::Client { sni, ca, insecure } => {
                let sni = match sni {
                    Some(sni) => out.string_arg(sni),
                    None => "None".to_string(),
                };
                let ca = match ca {
                    Some(ca) => out.path(ca),
                    None => "None".to_string(),
                };
                let insecure = if *insecure { "True" } else { "False" };
                out.line(format!(
                    "{s} = tls_client({s}, sni={sni}, alpn={alpn}, ca={ca}, insecure={insecure})"
                ));
            }
            Role::Server { files } => {
                let (cert, key) = match files {
                    Some((cert, key)) => (out.path(cert), out.path(key)),
                    None => ("None".to_string(), "None".to_string()),
                };
                out.line(format!("{s} = tls_server({s}, {cert}, {key}, alpn={alpn})"));
            }
            Role::With { peer } => {
                let p = out.handle(peer);
                let Some(crate::export::HandleKind::Socket(peer_kind)) = out.kind_of(peer) else {
                    out.fail(&format!("{peer} is not a plain socket: tls needs one"));
                    return Ok(());
                };
                out.line(format!("{s}, {p} = handshake_pair({s}, {p}, alpn={alpn})"));
                out.set_kind(peer, crate::export::HandleKind::Tls(peer_kind));
            }
        }
        out.set_kind(&self.name, crate::export::HandleKind::Tls(kind));
        Ok(())
    }
}

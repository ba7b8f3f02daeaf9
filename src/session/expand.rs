//! Run-time `${...}`: the expansions only the running session can fill in.
//!
//! The lexer fills in script arguments and the environment at once, but a
//! handle's address (`${srv.addr}`) exists only once `bind` has run, and
//! `${tmp}` only once something asks for it. Each expansion gives two
//! texts: the value the command uses, and how the transcript shows it
//! (with `--stable` placeholders).

use socket2::SockAddr;
use std::borrow::Cow;

use super::Session;
use crate::address::format_sockaddr;
use crate::errors::Failure;
use crate::kind::Kind;
use crate::lexer::{Field, Piece, Var, Word};
use crate::parser::Arg;

impl Session {
    /// A typed argument's value, expanding and parsing its word now if it
    /// waited for run time.
    pub fn resolve<'a, T: Clone>(&mut self, arg: &'a Arg<T>) -> Result<Cow<'a, T>, Failure> {
        match arg {
            Arg::Ready(value) => Ok(Cow::Borrowed(value)),
            Arg::Later(word, parse) => {
                let (text, _) = self.expand(word)?;
                parse(&text).map(Cow::Owned).map_err(Failure::Usage)
            }
        }
    }

    /// Expands a word's run-time `${...}`: the value used, and how the
    /// transcript shows it.
    pub fn expand(&mut self, word: &Word) -> Result<(String, String), Failure> {
        let pieces = match word {
            Word::Text(text) => return Ok((text.clone(), text.clone())),
            Word::Template(pieces) => pieces,
        };
        let mut value = String::new();
        let mut shown = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    value.push_str(text);
                    shown.push_str(text);
                }
                Piece::Var(var) => {
                    let (v, s) = self.expand_var(var)?;
                    value.push_str(&v);
                    shown.push_str(&s);
                }
            }
        }
        Ok((value, shown))
    }

    fn expand_var(&mut self, var: &Var) -> Result<(String, String), Failure> {
        match var {
            Var::Tmp => {
                let dir = self.tmp_dir()?.to_string_lossy().into_owned();
                let shown = if self.stable {
                    "<tmp>".to_string()
                } else {
                    dir.clone()
                };
                Ok((dir, shown))
            }
            Var::Handle { handle, field } => {
                let socket = self.handle(handle)?.socket()?;
                let addr = match field {
                    Field::Peer => socket.peer_addr().map_err(|_| {
                        Failure::usage(format!("${{{handle}.peer}}: {handle} is not connected"))
                    })?,
                    _ => socket
                        .local_addr()
                        .map_err(|_| Failure::usage(format!("{handle} has no address")))?,
                };
                let kind = socket.kind;
                self.addr_field(handle, kind, &addr, *field)
            }
        }
    }

    fn addr_field(
        &self,
        handle: &str,
        kind: Kind,
        addr: &SockAddr,
        field: Field,
    ) -> Result<(String, String), Failure> {
        match (addr.as_socket(), field) {
            (Some(inet), Field::Host) => Ok((inet.ip().to_string(), inet.ip().to_string())),
            (Some(inet), Field::Port) => Ok((inet.port().to_string(), self.show_port(kind, inet.port()))),
            (None, Field::Host | Field::Port) => Err(Failure::usage(format!(
                "{handle} is a Unix socket: it has an address (${{{handle}.addr}}) but no host or port"
            ))),
            _ => Ok((format_sockaddr(addr), self.show_addr(kind, addr))),
        }
    }
}

//! Run-time `${...}`: the expansions only the running session can fill in.
//!
//! The lexer fills in script arguments and the environment at once, but a
//! handle's address (`${srv.addr}`) exists only once `bind` has run, a
//! variable (`${status}`) only once something set it, and `${tmp}` only
//! once something asks for it. Each expansion gives two things: the value
//! the command uses, and how the transcript shows it (with `--stable`
//! placeholders, `<status>` for a captured value).
//!
//! A word is expanded two ways. As text (an address, a number, a path) a
//! variable's bytes must be UTF-8. As DATA, each written piece has its
//! escapes decoded and a variable stands for exactly its bytes, never
//! decoded again.

use socket2::SockAddr;
use std::borrow::Cow;

use super::placeholders::Seen;
use super::Session;
use crate::address::format_sockaddr;
use crate::data::{bytes_literal, decode_escapes, printable, push_escaped, Data};
use crate::errors::Failure;
use crate::kind::Kind;
use crate::lexer::{Field, Piece, Var, Word};
use crate::parser::{Arg, DataArg};

/// `message` with every varying value inside a quoted part (`'...'`)
/// shown as the transcript shows it: a parser quotes the part of a word
/// it rejects (`bad port in '127.0.0.1:<p>': 'x' is not a number`), which
/// may be all or part of a captured value.
/// A part that already quotes the word as shown is left as it is.
fn hide_quoted(message: &str, shown_word: &str, varying: &Varying) -> String {
    if varying.is_empty() {
        return message.to_string();
    }
    let mut longest_first: Vec<&(String, String)> = varying.iter().collect();
    longest_first.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    let mut out = String::with_capacity(message.len());
    for (index, part) in message.split('\'').enumerate() {
        if index > 0 {
            out.push('\'');
        }
        if index % 2 == 0 || part == shown_word {
            out.push_str(part);
            continue;
        }
        let mut part = part.to_string();
        for (value, shown) in &longest_first {
            part = part.replace(value.as_str(), shown);
        }
        out.push_str(&part);
    }
    out
}

/// How a variable's bytes are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// In an echoed command line: escaped as in a DATA word, so the echo
    /// read back gives the same bytes.
    Echo,
    /// In `print`'s text: as it reads, with only control characters and
    /// bytes that are not UTF-8 escaped, so every line stays one line.
    Print,
}

/// One expansion, filled in.
struct Filled {
    value: Vec<u8>,
    shown: String,
    /// The value came from the network: counts that include it are
    /// placeholders under `--stable`.
    captured: bool,
}

impl Filled {
    fn text(value: String, shown: String) -> Self {
        Filled {
            value: value.into_bytes(),
            shown,
            captured: false,
        }
    }

    /// A value the kernel or the session chose (a port, `${tmp}` with its
    /// process id), shown as a placeholder under `--stable`: it differs
    /// from run to run like a captured value, so under `--stable` a count
    /// made of it is `<N>` too.
    fn varying(value: String, shown: String, stable: bool) -> Self {
        let varies = stable && value != shown;
        Filled {
            captured: varies,
            ..Filled::text(value, shown)
        }
    }
}

/// DATA, resolved: the bytes (or file), and whether a captured value is
/// part of them.
pub struct ResolvedData<'a> {
    pub data: Cow<'a, Data>,
    pub captured: bool,
    /// How the transcript shows the DATA word, when it waited for run time
    /// (`'<line>'` for a captured value under `--stable`).
    pub shown: Option<String>,
}

impl ResolvedData<'_> {
    /// The bytes as a message quotes them: the word as the transcript
    /// shows it when a captured value under `--stable` is part of them,
    /// so a failure never shows that value's bytes.
    pub fn quoted(&self, stable: bool, bytes: &[u8]) -> String {
        match &self.shown {
            Some(shown) if self.captured && stable => format!("'{shown}'"),
            _ => bytes_literal(bytes),
        }
    }
}

/// Text that a message may quote: the value and how it is shown, for each
/// expansion in a word whose value differs from run to run.
type Varying = Vec<(String, String)>;

impl Session {
    /// A typed argument's value, expanding and parsing its word now if it
    /// waited for run time.
    pub fn resolve<'a, T: Clone>(&mut self, arg: &'a Arg<T>) -> Result<Cow<'a, T>, Failure> {
        match arg {
            Arg::Ready(value) => Ok(Cow::Borrowed(value)),
            Arg::Later(word, parse) => {
                let (text, shown, varying) = self.expand_parts(word)?;
                // The message quotes the word: quote it as the transcript
                // shows it (`<NAME>` for a captured value under --stable).
                parse(&text).map(Cow::Owned).map_err(|message| {
                    let message = message.replace(&format!("'{text}'"), &format!("'{shown}'"));
                    let message = hide_quoted(&message, &shown, &varying);
                    Failure::Usage(crate::data::one_line(&message).into_owned())
                })
            }
        }
    }

    /// A typed argument's value and, when it holds a value that differs
    /// from run to run under `--stable`, how the transcript shows it
    /// (`<len>` for `${len}`): for a message that quotes the value.
    pub fn resolve_shown<T: Clone + ToString>(
        &mut self,
        arg: &Arg<T>,
    ) -> Result<(T, String), Failure> {
        let value = self.resolve(arg)?.into_owned();
        let shown = match arg {
            Arg::Later(word, _) if self.stable => {
                let (_, shown, varying) = self.expand_parts(word)?;
                match varying.is_empty() {
                    true => value.to_string(),
                    false => shown,
                }
            }
            _ => value.to_string(),
        };
        Ok((value, shown))
    }

    /// DATA's bytes, expanding its word now if it waited for run time.
    /// Inline for DATA written as it is, which most sends and expects are.
    #[inline]
    pub fn resolve_data<'a>(&mut self, arg: &'a DataArg) -> Result<ResolvedData<'a>, Failure> {
        match arg {
            DataArg::Ready(data) => Ok(ResolvedData {
                data: Cow::Borrowed(data),
                captured: false,
                shown: None,
            }),
            _ => self.resolve_data_later(arg),
        }
    }

    /// [`Session::resolve_data`] in full, out of line: it is called for
    /// DATA whose word waited for run time.
    #[inline(never)]
    fn resolve_data_later<'a>(&mut self, arg: &'a DataArg) -> Result<ResolvedData<'a>, Failure> {
        let (data, captured) = match arg {
            DataArg::Ready(data) => (Cow::Borrowed(data), false),
            DataArg::Word(word) => {
                let (bytes, shown, captured) = self.expand_data(word)?;
                return Ok(ResolvedData {
                    data: Cow::Owned(Data::Bytes(bytes)),
                    captured,
                    shown: Some(shown),
                });
            }
            DataArg::Later(arg) => {
                // `--hex ${h}`: a captured value in the word counts as in DATA.
                let captured = match arg {
                    Arg::Later(word, _) => self.holds_captured(word)?,
                    Arg::Ready(_) => false,
                };
                (self.resolve(arg)?, captured)
            }
        };
        Ok(ResolvedData {
            data,
            captured,
            shown: None,
        })
    }

    /// Whether a word holds a captured value (or, under `--stable`, one
    /// shown as a placeholder).
    fn holds_captured(&mut self, word: &Word) -> Result<bool, Failure> {
        let Word::Template(pieces) = word else {
            return Ok(false);
        };
        for piece in pieces {
            if let Piece::Var(var) = piece {
                if self.expand_var(var, Show::Echo)?.captured {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Expands a word as text: the value used, and how the transcript
    /// shows it.
    pub fn expand(&mut self, word: &Word) -> Result<(String, String), Failure> {
        let (value, shown, _) = self.expand_parts(word)?;
        Ok((value, shown))
    }

    /// Expands a word as text, also saying which of its expansions differ
    /// from run to run under `--stable`.
    fn expand_parts(&mut self, word: &Word) -> Result<(String, String, Varying), Failure> {
        let pieces = match word {
            Word::Text(text) => return Ok((text.clone(), text.clone(), Vec::new())),
            Word::Template(pieces) => pieces,
        };
        let mut value = String::new();
        let mut shown = String::new();
        let mut varying = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    value.push_str(text);
                    shown.push_str(text);
                }
                Piece::Var(var) => {
                    let filled = self.expand_var(var, Show::Echo)?;
                    let text = match String::from_utf8(filled.value) {
                        Ok(text) => text,
                        Err(e) => {
                            let held = match filled.captured && self.stable {
                                true => filled.shown,
                                false => bytes_literal(e.as_bytes()),
                            };
                            return Err(Failure::usage(format!(
                                "{} holds {held}, which is not text: use it as DATA",
                                var.source()
                            )));
                        }
                    };
                    if filled.captured && self.stable && !text.is_empty() {
                        varying.push((text.clone(), filled.shown.clone()));
                    }
                    value.push_str(&text);
                    shown.push_str(&filled.shown);
                }
            }
        }
        Ok((value, shown, varying))
    }

    /// Expands a DATA word: its bytes, how the transcript shows it, and
    /// whether a captured value is part of it.
    pub fn expand_data(&mut self, word: &Word) -> Result<(Vec<u8>, String, bool), Failure> {
        let pieces = match word {
            Word::Text(text) => {
                let bytes = decode_escapes(text).map_err(Failure::Usage)?;
                return Ok((bytes, text.clone(), false));
            }
            Word::Template(pieces) => pieces,
        };
        let mut value = Vec::new();
        let mut shown = String::new();
        let mut captured = false;
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    value.extend(decode_escapes(text).map_err(Failure::Usage)?);
                    shown.push_str(text);
                }
                Piece::Var(var) => {
                    let filled = self.expand_var(var, Show::Echo)?;
                    value.extend_from_slice(&filled.value);
                    shown.push_str(&filled.shown);
                    captured |= filled.captured;
                }
            }
        }
        Ok((value, shown, captured))
    }

    /// How the transcript shows a word, every `${...}` filled in as `show`
    /// says; a variable's bytes need not be text.
    pub fn show_word(&mut self, word: &Word, show: Show) -> Result<String, Failure> {
        // `print`'s own text is shown as a variable's is: control characters escaped.
        let written = |text: &str| match show {
            Show::Print => crate::data::one_line(text).into_owned(),
            Show::Echo => text.to_string(),
        };
        let pieces = match word {
            Word::Text(text) => return Ok(written(text)),
            Word::Template(pieces) => pieces,
        };
        let mut shown = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => shown.push_str(&written(text)),
                Piece::Var(var) => shown.push_str(&self.expand_var(var, show)?.shown),
            }
        }
        Ok(shown)
    }

    fn expand_var(&mut self, var: &Var, show: Show) -> Result<Filled, Failure> {
        match var {
            Var::Tmp => {
                let dir = self.tmp_dir()?.to_string_lossy().into_owned();
                let shown = if self.stable {
                    "<tmp>".to_string()
                } else {
                    dir.clone()
                };
                Ok(Filled::varying(dir, shown, self.stable))
            }
            Var::Argument(index) => self.source_argument(*index),
            Var::Outside(name) => Err(Failure::usage(format!(
                "${{{name}}} was not given (pass it on the command line)"
            ))),
            Var::TlsCert => {
                let path = self.session_cert()?.path().to_string_lossy().into_owned();
                let shown = match self.stable {
                    true => "<tls.cert>".to_string(),
                    false => path.clone(),
                };
                Ok(Filled::varying(path, shown, self.stable))
            }
            Var::Variable(name) => self.variable(name, show),
            Var::Length(name) => {
                let Filled {
                    value, captured, ..
                } = self.variable(name, show)?;
                let length = value.len().to_string();
                let shown = match captured && self.stable {
                    true => format!("<{name}.len>"),
                    false => length.clone(),
                };
                Ok(Filled {
                    value: length.into_bytes(),
                    shown,
                    captured,
                })
            }
            Var::Handle { handle, field } => {
                let (value, shown) = self.handle_field(handle, *field)?;
                Ok(Filled::varying(value, shown, self.stable))
            }
        }
    }

    /// The `index`th ARG of the `source` line running.
    fn source_argument(&self, index: usize) -> Result<Filled, Failure> {
        let argument = self
            .source_args
            .last()
            .and_then(|args| args.get(index - 1))
            .ok_or_else(|| Failure::usage(format!("${{{index}}}: no source line gave it")))?;
        Ok(Filled {
            value: argument.bytes.clone(),
            shown: argument.shown.clone(),
            captured: argument.captured,
        })
    }

    /// A variable's bytes, shown as `show` says, or as `<NAME>` when
    /// captured under `--stable`.
    fn variable(&self, name: &str, show: Show) -> Result<Filled, Failure> {
        let value = self.vars.get(name).ok_or_else(|| {
            Failure::usage(format!(
                "${{{name}}} has no value yet (let, --as or --set give it one)"
            ))
        })?;
        let shown = match (value.captured && self.stable, show) {
            (true, _) => format!("<{name}>"),
            (false, Show::Echo) => {
                let mut shown = String::with_capacity(value.bytes.len());
                push_escaped(&mut shown, &value.bytes);
                shown
            }
            (false, Show::Print) => printable(&value.bytes),
        };
        Ok(Filled {
            value: value.bytes.clone(),
            shown,
            captured: value.captured,
        })
    }

    fn handle_field(&self, handle: &str, field: Field) -> Result<(String, String), Failure> {
        let socket = self.handle(handle)?.socket()?;
        let addr = match field {
            Field::Peer => socket.peer_addr().map_err(|_| {
                Failure::usage(format!("${{{handle}.peer}}: {handle} is not connected"))
            })?,
            Field::From => socket.last_from().ok_or_else(|| {
                Failure::usage(format!(
                    "${{{handle}.from}}: {handle} has received no datagram yet"
                ))
            })?,
            _ => socket
                .local_addr()
                .map_err(|_| Failure::usage(format!("{handle} has no address")))?,
        };
        let (local, peer) = (socket.local_addr().ok(), socket.peer_addr().ok());
        let seen = Seen {
            local: local.as_ref(),
            peer: peer.as_ref(),
        };
        self.addr_field(handle, socket.kind, &addr, field, seen)
    }

    fn addr_field(
        &self,
        handle: &str,
        kind: Kind,
        addr: &SockAddr,
        field: Field,
        seen: Seen,
    ) -> Result<(String, String), Failure> {
        match (addr.as_socket(), field) {
            (Some(inet), Field::Host) => Ok((inet.ip().to_string(), inet.ip().to_string())),
            (Some(inet), Field::Port) => Ok((inet.port().to_string(), self.show_port(kind, inet.port(), seen))),
            (None, Field::Host | Field::Port) => Err(Failure::usage(format!(
                "{handle} is a Unix socket: it has an address (${{{handle}.addr}}) but no host or port"
            ))),
            _ => Ok((format_sockaddr(addr), self.show_addr_seen(kind, addr, seen))),
        }
    }
}

//! `send`, `sendall` and `sendto`: the commands that put bytes on a socket.

use nix::errno::Errno;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::Help;
use crate::address::Address;
use crate::data::Data;
use crate::errors::{file_error, Failure};
use crate::handle::Handle;
use crate::outcome::{Endpoint, Outcome};
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::wait::Deadline;

pub const SEND_HELP: Help = Help {
    name: "send",
    synopsis: "send NAME DATA|--hex HEX|--file PATH",
    summary:
        "One send() call: shows how many bytes the kernel took, which may be fewer than given.",
    python: "n = s.send(b'hello\\n')",
    example: "send cli 'hello\\n'",
};

pub const SENDALL_HELP: Help = Help {
    name: "sendall",
    synopsis: "sendall NAME DATA|--hex HEX|--file PATH",
    summary: "Send all of the data, calling send() as often as needed (a file is streamed with sendfile).",
    python: "s.sendall(b'Hello, world')",
    example: "sendall cli 'Hello, world'",
};

pub const SENDTO_HELP: Help = Help {
    name: "sendto",
    synopsis: "sendto NAME ADDR DATA|--hex HEX|--file PATH",
    summary: "Send one datagram to ADDR.",
    python: "s.sendto(b'ping', ('127.0.0.1', 9999))",
    example: "sendto u ${peer.addr} 'ping'",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Once,
    All,
    To,
}

#[derive(Debug, Clone)]
pub struct Send {
    mode: Mode,
    name: String,
    to: Option<Arg<Address>>,
    data: Arg<Data>,
}

/// The largest payload one datagram can carry.
const MAX_DATAGRAM: u64 = 65_535;

impl Send {
    pub fn parse(command: &str, args: &mut Args) -> Result<Self, SyntaxError> {
        let mode = match command {
            "send" => Mode::Once,
            "sendall" => Mode::All,
            _ => Mode::To,
        };
        let option = args.data_option()?;
        let name = args.handle()?;
        let to = match mode {
            Mode::To => Some(args.arg("ADDR", Address::parse)?),
            _ => None,
        };
        let data = args.data(option)?;
        Ok(Send {
            mode,
            name,
            to,
            data,
        })
    }

    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        let data = self.data.get(session)?;
        let to = match &self.to {
            Some(arg) => Some(arg.get(session)?.into_owned()),
            None => None,
        };
        let handle = session.handle(&self.name)?;
        let kind = handle.kind;
        let deadline = session.deadline(handle);
        let outcome = match (self.mode, &*data, to) {
            (Mode::To, data, to) => {
                let to = to.expect("sendto always has ADDR");
                let target = to.resolve(handle.kind)?;
                let bytes = datagram_bytes(data)?;
                let sent = session.retry(handle, libc::POLLOUT, deadline, "room to send", |s| {
                    s.send_to(&bytes, &target)
                });
                let sent = sent.map_err(send_failure)?;
                session.note_kernel_choice(&self.name);
                Outcome::SentTo {
                    sent: sent as u64,
                    to: Endpoint { addr: target, kind },
                }
            }
            (Mode::Once, Data::Bytes(bytes), _) => {
                let sent = session.retry(handle, libc::POLLOUT, deadline, "room to send", |s| {
                    s.send(bytes)
                });
                Outcome::Sent {
                    sent: sent.map_err(send_failure)? as u64,
                    of: bytes.len() as u64,
                }
            }
            (Mode::All, Data::Bytes(bytes), _) => {
                let sent = send_all(session, handle, bytes, deadline).map_err(send_failure)?;
                Outcome::Sent { sent, of: sent }
            }
            (mode, Data::File(path), _) => {
                let (sent, of) = send_file(session, handle, path, mode == Mode::All, deadline)?;
                Outcome::Sent { sent, of }
            }
        };
        Ok(outcome)
    }
}

fn send_all(
    session: &Session,
    handle: &Handle,
    bytes: &[u8],
    deadline: Deadline,
) -> Result<u64, Failure> {
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        offset += session.retry(handle, libc::POLLOUT, deadline, "room to send", |s| {
            s.send(rest)
        })?;
    }
    Ok(offset as u64)
}

/// Streams a file with sendfile(2): one call for `send`, until the end for `sendall`.
fn send_file(
    session: &Session,
    handle: &Handle,
    path: &Path,
    all: bool,
    deadline: Deadline,
) -> Result<(u64, u64), Failure> {
    let file = open_data_file(path)?;
    let size = file.metadata().map_err(Failure::from)?.len();
    let mut sent: u64 = 0;
    loop {
        let left = (size - sent).min(1 << 30) as usize;
        let n = session.retry(handle, libc::POLLOUT, deadline, "room to send", |s| {
            // SAFETY: both descriptors are open for the duration of the call;
            // a null offset makes sendfile advance the file's own position.
            let n = unsafe {
                libc::sendfile(s.as_raw_fd(), file.as_raw_fd(), std::ptr::null_mut(), left)
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as u64)
            }
        });
        let n = n.map_err(|f| {
            send_failure(f).with_hint(|_| Some(format!("{sent} of {size} bytes were sent first")))
        })?;
        sent += n;
        if !all || n == 0 || sent >= size {
            return Ok((sent, size));
        }
    }
}

/// A datagram's bytes: a file is read whole, as it must fit in one datagram.
pub fn datagram_bytes(data: &Data) -> Result<Vec<u8>, Failure> {
    match data {
        Data::Bytes(bytes) => Ok(bytes.clone()),
        Data::File(path) => {
            let mut bytes = Vec::new();
            open_data_file(path)?
                .take(MAX_DATAGRAM + 1)
                .read_to_end(&mut bytes)
                .map_err(Failure::from)?;
            if bytes.len() as u64 > MAX_DATAGRAM {
                return Err(Failure::usage(format!(
                    "{} is larger than one datagram can carry ({MAX_DATAGRAM} bytes)",
                    path.display()
                )));
            }
            Ok(bytes)
        }
    }
}

pub fn open_data_file(path: &Path) -> Result<File, Failure> {
    File::open(path).map_err(|e| Failure::usage(file_error("read", path, &e)))
}

fn send_failure(failure: Failure) -> Failure {
    failure.with_hint(|errno| {
        Some(match errno {
            Errno::EPIPE => {
                "the connection is closed for sending (the peer closed or reset it, you shut down write, or it never connected)"
                    .into()
            }
            Errno::ECONNRESET => "the peer reset the connection".into(),
            Errno::EDESTADDRREQ | Errno::ENOTCONN => {
                "the socket is not connected: connect first, or use sendto".into()
            }
            Errno::EMSGSIZE => "too large for one datagram".into(),
            Errno::ECONNREFUSED => {
                "a previous datagram was refused: nothing listens at the peer's port".into()
            }
            Errno::EAGAIN => "the send buffer is full and the socket is non-blocking".into(),
            _ => return None,
        })
    })
}

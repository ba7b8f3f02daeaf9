//! Every command of the language: one file per command or small family,
//! each with its `parse` (words into a typed command) and its `apply` (run
//! against the session), dispatched through [`Command`].

pub mod accept;
pub mod bind;
pub mod close;
pub mod connect;
pub mod expect;
pub mod fails;
pub mod help;
pub mod listen;
pub mod names;
pub mod poll;
pub mod recv;
pub mod require;
pub mod send;
pub mod session;
pub mod shutdown;
pub mod socket;
pub mod sockets;
pub mod sockopt;
pub mod source;
pub mod timeouts;

use crate::errors::Failure;
use crate::lexer::Word;
use crate::outcome::Outcome;
use crate::parser::{did_you_mean, Args, SyntaxError};
use crate::session::Session;

/// The help of one command: the same text `help` shows and the docs use.
#[derive(Debug, Clone, Copy)]
pub struct Help {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub summary: &'static str,
    pub python: &'static str,
    pub example: &'static str,
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub enum Command {
    Socket(socket::Socket),
    SocketPair(socket::SocketPair),
    Bind(bind::Bind),
    Listen(listen::Listen),
    Accept(accept::Accept),
    Connect(connect::Connect),
    Send(send::Send),
    Recv(recv::Recv),
    Shutdown(shutdown::Shutdown),
    Close(close::Close),
    SetSockOpt(sockopt::SetSockOpt),
    GetSockOpt(sockopt::GetSockOpt),
    SetTimeout(timeouts::SetTimeout),
    SetBlocking(timeouts::SetBlocking),
    Name(names::Name),
    Poll(poll::Poll),
    Sockets(sockets::Sockets),
    Expect(expect::Expect),
    ExpectEof(expect::ExpectEof),
    Fails(fails::Fails),
    Require(require::Require),
    Timeout(timeouts::Timeout),
    Sleep(session::Sleep),
    Print(session::Print),
    Source(source::Source),
    Help(help::HelpCommand),
    Exit(session::Exit),
}

/// Every command's help, in the order `help` lists them.
pub const HELP: &[Help] = &[
    socket::HELP,
    socket::PAIR_HELP,
    bind::HELP,
    listen::HELP,
    accept::HELP,
    connect::HELP,
    connect::EX_HELP,
    send::SEND_HELP,
    send::SENDALL_HELP,
    send::SENDTO_HELP,
    recv::RECV_HELP,
    recv::RECVFROM_HELP,
    recv::RECVALL_HELP,
    shutdown::HELP,
    close::HELP,
    sockopt::SET_HELP,
    sockopt::GET_HELP,
    timeouts::SETTIMEOUT_HELP,
    timeouts::SETBLOCKING_HELP,
    names::SOCKNAME_HELP,
    names::PEERNAME_HELP,
    poll::HELP,
    sockets::HELP,
    expect::HELP,
    expect::EOF_HELP,
    fails::HELP,
    require::HELP,
    timeouts::TIMEOUT_HELP,
    session::SLEEP_HELP,
    session::PRINT_HELP,
    source::HELP,
    help::HELP,
    session::EXIT_HELP,
    session::QUIT_HELP,
];

pub fn help_for(name: &str) -> Option<&'static Help> {
    HELP.iter().find(|h| h.name == name)
}

pub fn command_names() -> impl Iterator<Item = &'static str> {
    HELP.iter().map(|h| h.name)
}

impl Command {
    /// Parses a line's words (the first is the command name).
    pub fn parse(words: &[Word]) -> Result<Command, SyntaxError> {
        let (first, rest) = words
            .split_first()
            .ok_or_else(|| SyntaxError::new("empty command"))?;
        let name = first
            .literal()
            .ok_or_else(|| SyntaxError::new("a command name cannot use ${...}"))?;
        let mut args = Args::new(name, rest);
        if !takes_free_words(name) {
            args.reject_unknown_options()?;
        }
        let command = Self::parse_named(name, &mut args)?;
        args.finish()?;
        Ok(command)
    }

    fn parse_named(name: &str, args: &mut Args) -> Result<Command, SyntaxError> {
        use Command as C;
        Ok(match name {
            "socket" => C::Socket(socket::Socket::parse(args)?),
            "socketpair" => C::SocketPair(socket::SocketPair::parse(args)?),
            "bind" => C::Bind(bind::Bind::parse(args)?),
            "listen" => C::Listen(listen::Listen::parse(args)?),
            "accept" => C::Accept(accept::Accept::parse(args)?),
            "connect" | "connect_ex" => {
                C::Connect(connect::Connect::parse(args, name == "connect_ex")?)
            }
            "send" | "sendall" | "sendto" => C::Send(send::Send::parse(name, args)?),
            "recv" | "recvfrom" | "recvall" => C::Recv(recv::Recv::parse(name, args)?),
            "shutdown" => C::Shutdown(shutdown::Shutdown::parse(args)?),
            "close" => C::Close(close::Close::parse(args)?),
            "setsockopt" => C::SetSockOpt(sockopt::SetSockOpt::parse(args)?),
            "getsockopt" => C::GetSockOpt(sockopt::GetSockOpt::parse(args)?),
            "settimeout" => C::SetTimeout(timeouts::SetTimeout::parse(args)?),
            "setblocking" => C::SetBlocking(timeouts::SetBlocking::parse(args)?),
            "getsockname" | "getpeername" => C::Name(names::Name::parse(name, args)?),
            "poll" => C::Poll(poll::Poll::parse(args)?),
            "sockets" => C::Sockets(sockets::Sockets),
            "expect" => C::Expect(expect::Expect::parse(args)?),
            "expect_eof" => C::ExpectEof(expect::ExpectEof::parse(args)?),
            "fails" => C::Fails(fails::Fails::parse(args)?),
            "require" => C::Require(require::Require::parse(args)?),
            "timeout" => C::Timeout(timeouts::Timeout::parse(args)?),
            "sleep" => C::Sleep(session::Sleep::parse(args)?),
            "print" => C::Print(session::Print::parse(args)),
            "source" => C::Source(source::Source::parse(args)?),
            "help" => C::Help(help::HelpCommand::parse(args)?),
            "exit" => C::Exit(session::Exit::parse(args)?),
            "quit" => C::Exit(session::Exit { status: 0 }),
            _ => return Err(unknown_command(name)),
        })
    }

    /// Runs the command. `source` is run by the interpreter, which owns
    /// the line-by-line loop.
    pub fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        use Command as C;
        match self {
            C::Socket(c) => c.apply(session),
            C::SocketPair(c) => c.apply(session),
            C::Bind(c) => c.apply(session),
            C::Listen(c) => c.apply(session),
            C::Accept(c) => c.apply(session),
            C::Connect(c) => c.apply(session),
            C::Send(c) => c.apply(session),
            C::Recv(c) => c.apply(session),
            C::Shutdown(c) => c.apply(session),
            C::Close(c) => c.apply(session),
            C::SetSockOpt(c) => c.apply(session),
            C::GetSockOpt(c) => c.apply(session),
            C::SetTimeout(c) => c.apply(session),
            C::SetBlocking(c) => c.apply(session),
            C::Name(c) => c.apply(session),
            C::Poll(c) => c.apply(session),
            C::Sockets(c) => c.apply(session),
            C::Expect(c) => c.apply(session),
            C::ExpectEof(c) => c.apply(session),
            C::Fails(c) => c.apply(session),
            C::Require(c) => Ok(c.apply()),
            C::Timeout(c) => c.apply(session),
            C::Sleep(c) => c.apply(session),
            C::Print(c) => c.apply(session),
            C::Source(_) => Err(Failure::usage("source runs only from the interpreter")),
            C::Help(c) => Ok(c.apply()),
            C::Exit(c) => Ok(Outcome::Exit(c.status)),
        }
    }
}

/// Commands whose words may be any data or text, where `--word` is data.
fn takes_free_words(name: &str) -> bool {
    matches!(
        name,
        "send" | "sendall" | "sendto" | "expect" | "print" | "fails"
    )
}

fn unknown_command(name: &str) -> SyntaxError {
    let mut message = format!("unknown command '{name}'");
    if let Some(suggestion) = did_you_mean(name, command_names()) {
        message.push_str(&format!(" (did you mean '{suggestion}'?)"));
    } else {
        message.push_str(" (type 'help' for the list)");
    }
    SyntaxError::new(message)
}

//! `trace on [--pcap FILE]` / `trace off`: show, under each command, the
//! packets it caused, as Wireshark beside the code would (SPEC §16). The
//! capture and the lines are `crate::trace`'s; this is the switch.

use std::path::PathBuf;

use super::{Command, Flag, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Arg, Args, SyntaxError};
use crate::session::Session;
use crate::trace::{failure, Tracer};

pub const SPECS: &[Spec] = &[TRACE];

pub const TRACE: Spec = Spec {
    name: "trace",
    synopsis: "trace on|off [--pcap FILE]",
    summary: "Show under each command the packets it caused on the session's sockets (flags, \
              relative seq/ack, lengths); --pcap also writes them to FILE for Wireshark. \
              Needs root or CAP_NET_RAW, or --netns.",
    python: "(tcpdump -i lo -w FILE in a shell, or Wireshark)",
    example: "trace on --pcap handshake.pcap",
    args: &[Slot::Choice(&["on", "off"])],
    repeats: false,
    flags: &[Flag::with("--pcap", Slot::Path)],
    scope: Scope::Language,
    parse: |args| Trace::parse(args).map(Command::from),
};

#[derive(Debug, Clone)]
pub enum Trace {
    On { pcap: Option<Arg<PathBuf>> },
    Off,
}

impl Trace {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let pcap = args.option_arg("--pcap", |p| Ok(PathBuf::from(p)))?;
        match args.literal("on|off")? {
            "on" => Ok(Trace::On { pcap }),
            "off" if pcap.is_none() => Ok(Trace::Off),
            "off" => Err(args.usage_error("--pcap goes with trace on")),
            other => Err(args.usage_error(&format!("trace is 'on' or 'off', not '{other}'"))),
        }
    }
}

impl Run for Trace {
    fn apply(&self, session: &mut Session) -> Result<Outcome, Failure> {
        match self {
            Trace::On { pcap } => start(session, pcap.as_ref()),
            Trace::Off => stop(session),
        }
    }
}

fn start(session: &mut Session, pcap: Option<&Arg<PathBuf>>) -> Result<Outcome, Failure> {
    if session.trace.is_some() {
        return Err(Failure::usage("trace is on already (trace off first)"));
    }
    let pcap = match pcap {
        Some(arg) => Some(session.resolve(arg)?.into_owned()),
        None => None,
    };
    let tracer = Tracer::start(session, pcap.as_deref()).map_err(failure)?;
    session.trace = Some(Box::new(tracer));
    Ok(Outcome::Text(match &pcap {
        Some(path) => format!(
            "tracing the session's packets, and writing them to {}",
            session.show_path(path)
        ),
        None => "tracing the session's packets".to_string(),
    }))
}

fn stop(session: &mut Session) -> Result<Outcome, Failure> {
    let tracer = session
        .trace
        .take()
        .ok_or_else(|| Failure::usage("trace is not on"))?;
    let pcap = tracer.pcap().map(|path| session.show_path(path));
    tracer.finish().map_err(failure)?;
    Ok(Outcome::Text(match pcap {
        Some(path) => format!("trace off; the packets are in {path}"),
        None => "trace off".to_string(),
    }))
}

impl crate::export::Export for Trace {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let on = matches!(self, Trace::On { .. });
        if on == out.tracing {
            out.fail(if on { "trace is already on" } else { "trace is not on" });
            return Ok(());
        }
        out.tracing = on;
        match self {
            Trace::On { pcap } => {
                let write = match pcap {
                    Some(Arg::Ready(path)) => format!(" -w {}", path.display()),
                    Some(Arg::Later(..)) => " -w FILE".to_string(),
                    None => String::new(),
                };
                out.line(format!(
                    "# trace on: to watch these packets, run in another terminal: sudo tcpdump -i lo -n{write}"
                ));
                out.helper("capture");
                out.line("check_capture()");
                if let Some(pcap) = pcap {
                    let path = out.path(pcap);
                    out.line(format!("open({path}, 'wb').close()  # the capture file must be writable"));
                }
            }
            Trace::Off => out.line("# trace off: stop the tcpdump"),
        }
        Ok(())
    }
}

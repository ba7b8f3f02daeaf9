//! `require`: skip the rest of a script on a machine that lacks something.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv6Addr, SocketAddr};

use super::{Command, Run, Scope, Slot, Spec};
use crate::errors::Failure;
use crate::outcome::Outcome;
use crate::parser::{Args, SyntaxError};
use crate::session::Session;

pub const SPECS: &[Spec] = &[REQUIRE];

pub const REQUIRE: Spec = Spec {
    name: "require",
    synopsis: "require ipv6|raw|unix|icmp|capture",
    summary: "Skip the rest of the script (status 0, counted as skipped by test) when the machine \
              lacks IPv6, raw sockets (privilege), Unix sockets, ping sockets or the right to \
              capture packets (trace).",
    python: "pytest.skip(...)",
    example: "require raw",
    args: &[Slot::Choice(&["ipv6", "raw", "unix", "icmp", "capture"])],
    repeats: false,
    flags: &[],
    scope: Scope::Language,
    parse: |args| Require::parse(args).map(Command::from),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Ipv6,
    Raw,
    Unix,
    Icmp,
    /// The right to capture packets, which `trace` needs.
    Capture,
}

#[derive(Debug, Clone)]
pub struct Require {
    feature: Feature,
}

impl Require {
    pub fn parse(args: &mut Args) -> Result<Self, SyntaxError> {
        let feature = match args.literal("ipv6|raw|unix|icmp|capture")? {
            "ipv6" => Feature::Ipv6,
            "raw" => Feature::Raw,
            "unix" => Feature::Unix,
            "icmp" => Feature::Icmp,
            "capture" => Feature::Capture,
            other => return Err(args.usage_error(&format!("cannot require '{other}'"))),
        };
        Ok(Require { feature })
    }

}

impl Run for Require {
    fn apply(&self, _: &mut Session) -> Result<Outcome, Failure> {
        Ok(match missing(self.feature) {
            None => Outcome::Text(format!("{}: available", name(self.feature))),
            Some(reason) => Outcome::Skip(reason),
        })
    }
}

fn name(feature: Feature) -> &'static str {
    match feature {
        Feature::Ipv6 => "ipv6",
        Feature::Raw => "raw",
        Feature::Unix => "unix",
        Feature::Icmp => "icmp",
        Feature::Capture => "capture",
    }
}

/// Why the feature is missing, or `None` when it works here.
fn missing(feature: Feature) -> Option<String> {
    let missing = match feature {
        Feature::Ipv6 => {
            let works = Socket::new(Domain::IPV6, Type::DGRAM, None)
                .and_then(|s| s.bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into()))
                .is_ok();
            (!works).then_some("no IPv6 loopback (::1) on this machine")
        }
        Feature::Raw => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
            .is_err()
            .then_some("raw sockets need root or CAP_NET_RAW"),
        Feature::Unix => Socket::new(Domain::UNIX, Type::STREAM, None)
            .is_err()
            .then_some("no Unix domain sockets on this machine"),
        Feature::Icmp => Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))
            .is_err()
            .then_some(
                "ping sockets are not allowed for this group (sysctl net.ipv4.ping_group_range)",
            ),
        // The same refusal `trace on` would meet, naming both ways around it.
        Feature::Capture => {
            return crate::capture::Capture::open(&[], None)
                .err()
                .map(|error| error.to_string())
        }
    };
    missing.map(str::to_string)
}

impl crate::export::Export for Require {
    fn export(&self, out: &mut crate::export::Program) -> Result<(), crate::export::Refused> {
        let (test, what) = match self.feature {
            Feature::Ipv6 => (
                "socket.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(('::1', 0))",
                "no IPv6 on this machine",
            ),
            Feature::Raw => (
                "socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()",
                "raw sockets need root or CAP_NET_RAW",
            ),
            Feature::Unix => (
                "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()",
                "no Unix sockets here",
            ),
            Feature::Icmp => (
                "socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()",
                "ping sockets are not allowed (net.ipv4.ping_group_range)",
            ),
            Feature::Capture => (
                "socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()",
                "capturing packets needs root or CAP_NET_RAW",
            ),
        };
        out.line("try:");
        out.line(format!("    {test}"));
        out.line("except OSError:");
        out.line(format!("    print('skipped: {what}')"));
        out.line("    sys.exit(0)  # a skipped run ends with status 0");
        Ok(())
    }
}

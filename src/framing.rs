//! Framed receives: up to a delimiter, a pattern or a count, and not a
//! byte more.
//!
//! `recvline`, `recvuntil`, `recvn` and `expect --re` look at the bytes
//! that have arrived without taking them ([`Handle::look`]: `MSG_PEEK` on
//! a socket), find where their frame ends, and take exactly that many
//! ([`Handle::take`]). Whatever follows stays unread, so `poll`, `sockets`
//! and the next command see it. A failure (a timeout, the peer's end of
//! stream, `--max` bytes without the end) says everything that arrived.

use std::time::Duration;

use crate::errors::Failure;
use crate::handle::{Handle, More, View};
use crate::session::{wait_label, Session};
use crate::wait::Deadline;

/// The most bytes a framed receive looks at unless `--max` says otherwise.
pub const DEFAULT_MAX: usize = 64 * 1024;

/// The most a failure message quotes of what arrived.
pub const SHOWN_ARRIVED: usize = 1024;

/// How long a match that more bytes could still lengthen waits for them.
const SETTLE: Duration = Duration::from_millis(200);

/// Where a frame ends in the bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// The frame is the first N bytes.
    Found(usize),
    /// The first N bytes make a frame, but more bytes could make a longer
    /// one (a pattern such as `\d+` at the end of what arrived).
    Candidate(usize),
    /// No frame yet.
    More,
}

/// Why no frame was taken.
#[derive(Debug)]
pub enum Stop {
    /// The timeout ran out.
    Timeout(Failure),
    /// The peer closed before the frame was complete.
    Ended,
    /// `limit` bytes arrived without the frame's end.
    Overrun,
    /// Anything else: a system error, Ctrl-C, a non-blocking handle.
    Failed(Failure),
}

/// A framed receive that stopped: why, and every byte that had arrived
/// (none of them taken).
#[derive(Debug)]
pub struct Stopped {
    pub stop: Stop,
    pub arrived: Vec<u8>,
}

/// Looks at the unread bytes of `handle` until `find` says where the frame
/// ends, then takes exactly those bytes. `find` gets the bytes of the
/// frame so far and whether the peer has closed (nothing more will come).
///
/// Nothing is taken until the frame is complete, so a failure leaves every
/// byte for the next command, with one exception: when the kernel will
/// send nothing more until what it holds is read (a TCP receive window
/// the frame so far has filled), those bytes are taken (they belong to the
/// frame whatever comes next). Bytes after the frame's end are never taken.
pub fn receive_frame(
    session: &Session,
    handle: &Handle,
    limit: usize,
    deadline: Deadline,
    what: &str,
    mut find: impl FnMut(&[u8], bool) -> Search,
) -> Result<Vec<u8>, Stopped> {
    // The frame so far: `taken` bytes already read, then the unread view.
    let mut seen: Vec<u8> = Vec::new();
    let mut taken = 0;
    let mut fresh = false;
    let mut settled_at: Option<usize> = None;
    // The peer closed: what is queued is all there will be.
    let mut peer_done = false;
    loop {
        let view = match look(handle, limit - taken, fresh) {
            Ok(view) => view,
            Err(failure) => return Err(stopped(Stop::Failed(failure), seen)),
        };
        let ended = view.ended || peer_done;
        fresh = view.fresh;
        // Nothing taken yet: the frame so far is the view itself, searched
        // where it is, so a line costs its own length, not the view's.
        let (count, search) = if taken == 0 {
            (view.bytes.len(), find(&view.bytes, ended))
        } else {
            seen.truncate(taken);
            seen.extend_from_slice(&view.bytes);
            (seen.len(), find(&seen, ended))
        };
        let accept = match search {
            Search::Found(n) => Some(n),
            Search::Candidate(n) if ended || count >= limit || settled_at == Some(count) => Some(n),
            _ => None,
        };
        if taken == 0 {
            seen.clear();
            seen.extend_from_slice(&view.bytes[..accept.map_or(count, |n| n.min(count))]);
        }
        drop(view);
        if let Some(n) = accept {
            return match handle.take(n - taken) {
                Ok(_) => {
                    seen.truncate(n);
                    Ok(seen)
                }
                Err(e) => Err(stopped(Stop::Failed(e.into()), seen)),
            };
        }
        if !fresh {
            // What the last look kept may be old: ask the kernel first.
            fresh = true;
            continue;
        }
        if count >= limit {
            seen.extend(unread_beyond(handle, count - taken));
            return Err(stopped(Stop::Overrun, seen));
        }
        if ended {
            return Err(stopped(Stop::Ended, seen));
        }
        if !handle.blocking() {
            let would_block = Failure::sys(nix::errno::Errno::EAGAIN);
            return Err(stopped(Stop::Failed(would_block), seen));
        }
        session.out.flush();
        let (wait_until, settling) = match search {
            Search::Candidate(_) => (deadline.earlier(SETTLE), true),
            _ => (deadline, false),
        };
        let _label = crate::wait::waiting_for(|| wait_label(handle, libc::POLLIN));
        match handle.wait_for_more(count - taken, wait_until, what) {
            Ok(More::Arrived) => {}
            Ok(More::Ended) => peer_done = true,
            Ok(More::Stalled) => {
                if let Err(e) = handle.take(count - taken) {
                    return Err(stopped(Stop::Failed(e.into()), seen));
                }
                taken = count;
            }
            Err(Failure::Timeout { .. }) if settling => {
                // Nothing more came while settling, even if the settling
                // ran to the deadline: the match stands.
                settled_at = Some(count);
            }
            Err(Failure::Timeout { .. }) => {
                return Err(stopped(Stop::Timeout(deadline.timeout(what)), seen))
            }
            Err(other) => return Err(stopped(Stop::Failed(other), seen)),
        }
    }
}

/// Up to [`SHOWN_ARRIVED`] more bytes queued after the first `queued`,
/// without taking them: a failure shows all that arrived, not only what
/// the look was allowed to see.
fn unread_beyond(handle: &Handle, queued: usize) -> Vec<u8> {
    match handle.look(queued + SHOWN_ARRIVED + 1, true) {
        Ok(view) if view.bytes.len() > queued => view.bytes[queued..].to_vec(),
        _ => Vec::new(),
    }
}

fn look(handle: &Handle, limit: usize, fresh: bool) -> Result<View<'_>, Failure> {
    loop {
        match handle.look(limit, fresh) {
            Ok(view) => return Ok(view),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn stopped(stop: Stop, arrived: Vec<u8>) -> Stopped {
    Stopped { stop, arrived }
}

/// Everything that arrived, for a failure message: a bytes literal of up
/// to [`SHOWN_ARRIVED`] bytes, then a count of the rest.
pub fn describe_arrived(arrived: &[u8]) -> String {
    if arrived.is_empty() {
        return "nothing had arrived".to_string();
    }
    let shown = &arrived[..arrived.len().min(SHOWN_ARRIVED)];
    let mut text = format!(
        "{} had arrived: {}",
        count(arrived.len()),
        crate::data::bytes_literal(shown)
    );
    if arrived.len() > shown.len() {
        text.push_str(&format!(" and {} more bytes", arrived.len() - shown.len()));
    }
    text
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// Where `delimiter` ends first in `seen`.
pub fn find_delimiter(seen: &[u8], delimiter: &[u8]) -> Search {
    if delimiter.len() == 1 {
        return match memchr(delimiter[0], seen) {
            Some(at) => Search::Found(at + 1),
            None => Search::More,
        };
    }
    match seen
        .windows(delimiter.len())
        .position(|window| window == delimiter)
    {
        Some(at) => Search::Found(at + delimiter.len()),
        None => Search::More,
    }
}

fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_delimiter() {
        assert_eq!(find_delimiter(b"ab\ncd\n", b"\n"), Search::Found(3));
        assert_eq!(find_delimiter(b"ab\r\ncd", b"\r\n"), Search::Found(4));
        assert_eq!(find_delimiter(b"ab\r", b"\r\n"), Search::More);
        assert_eq!(find_delimiter(b"", b"\n"), Search::More);
    }

    #[test]
    fn a_failure_shows_what_arrived_up_to_a_kilobyte() {
        assert_eq!(describe_arrived(b""), "nothing had arrived");
        assert_eq!(
            describe_arrived(b"-ERR x"),
            "6 bytes had arrived: b'-ERR x'"
        );
        let long = vec![b'a'; 1500];
        let text = describe_arrived(&long);
        assert!(text.starts_with("1500 bytes had arrived: b'aaa"));
        assert!(text.ends_with("' and 476 more bytes"));
    }
}

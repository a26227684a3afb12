//! The exporter's connections, all served by one thread with poll(2), so
//! that no number of silent or slow clients can keep a good one waiting:
//! each connection is a small state machine (reading its head, waiting
//! for the main loop's metrics, writing the answer) with a deadline; at
//! most [`MAX_CONNECTIONS`] are kept, and a new client takes the place of
//! the one that has been sending its head the longest. Clients are read
//! and written as they are ready, never waited for.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use rtools_core::render::prometheus::Flavor;

use super::http::{self, Request, Status};

/// Connections kept at once; each holds a file descriptor and at most
/// [`http::MAX_REQUEST`] bytes of head.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a connection waits for the main loop's metrics before it
/// answers 503 (the main loop is attaching, or printing a summary).
pub const SCRAPE_WAIT: Duration = Duration::from_secs(10);

/// New connections taken per turn of the loop, so a flood of them still
/// lets the others be read.
const ACCEPTS_PER_TURN: usize = 1024;

/// A request for the metrics, answered by the main loop.
pub struct Scrape {
    pub flavor: Flavor,
    /// None: the main loop could not read the maps.
    pub reply: mpsc::SyncSender<Option<String>>,
}

/// How the server reaches the main loop: scrapes go over `scrapes`, and a
/// byte on `wake` tells it some wait; it writes a byte to the server's
/// `answered` socket when it has answered.
pub struct Links {
    pub scrapes: Sender<Scrape>,
    pub wake: UnixStream,
    pub answered: UnixStream,
}

enum State {
    /// The head so far.
    Reading(Vec<u8>),
    /// The main loop is asked for the metrics.
    Waiting(Receiver<Option<String>>, Flavor),
    /// The answer, and how much of it is sent.
    Writing(Vec<u8>, usize),
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// When the current state's time started (each has its deadline).
    since: Instant,
}

impl Conn {
    fn deadline(&self) -> Instant {
        self.since
            + match self.state {
                State::Waiting(..) => SCRAPE_WAIT,
                _ => http::DEADLINE,
            }
    }

    fn answer(&mut self, outcome: Result<(&str, &[u8]), Status>, now: Instant) {
        self.state = State::Writing(http::response(outcome), 0);
        self.since = now;
    }
}

/// What became of a connection after a turn.
#[derive(PartialEq)]
enum Next {
    Keep,
    Close,
}

/// Serves `listener` until the process ends.
pub fn run(listener: TcpListener, links: Links) {
    let _ = listener.set_nonblocking(true);
    let _ = links.answered.set_nonblocking(true);
    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        let now = Instant::now();
        conns.retain_mut(|c| expire(c, now) == Next::Keep);
        fds.clear();
        fds.push(poll_in(listener.as_raw_fd()));
        fds.push(poll_in(links.answered.as_raw_fd()));
        for c in &conns {
            let events = match c.state {
                State::Reading(_) => libc::POLLIN,
                State::Writing(..) => libc::POLLOUT,
                State::Waiting(..) => 0,
            };
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        let next = conns.iter().map(Conn::deadline).min();
        let timeout = next.map_or(1000, |d| {
            d.saturating_duration_since(now).as_millis().min(1000) as i32 + 1
        });
        // SAFETY: fds is a valid array of pollfd of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, timeout) };
        if ready < 0 {
            continue;
        }
        let now = Instant::now();
        if fds[1].revents != 0 {
            let mut drain = [0u8; 64];
            while matches!((&links.answered).read(&mut drain), Ok(n) if n > 0) {}
        }
        // Connections first (their fds are at 2.. in order), then new ones.
        let mut turn = fds[2..].iter().map(|f| f.revents);
        conns.retain_mut(|c| {
            let revents = turn.next().unwrap_or(0);
            step(c, revents, &links, now) == Next::Keep
        });
        if fds[0].revents != 0 {
            accept(&listener, &mut conns, now);
        }
    }
}

fn poll_in(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Takes every waiting client; past [`MAX_CONNECTIONS`] a new one takes
/// the place of the client that has been sending its head the longest
/// (a client being answered keeps its place; if all are, the new one is
/// closed).
fn accept(listener: &TcpListener, conns: &mut Vec<Conn>, now: Instant) {
    for _ in 0..ACCEPTS_PER_TURN {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => continue,
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        if conns.len() >= MAX_CONNECTIONS {
            let oldest = conns
                .iter()
                .enumerate()
                .filter(|(_, c)| matches!(c.state, State::Reading(_)))
                .min_by_key(|(_, c)| c.since)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => drop(conns.swap_remove(i)),
                None => continue,
            }
        }
        conns.push(Conn {
            stream,
            state: State::Reading(Vec::new()),
            since: now,
        });
    }
}

/// A connection past its deadline: a client still sending its head is
/// told 408, one waiting for metrics 503; one that does not take its
/// answer is closed.
fn expire(c: &mut Conn, now: Instant) -> Next {
    if now < c.deadline() {
        return Next::Keep;
    }
    match c.state {
        State::Reading(_) => c.answer(Err(Status::Timeout), now),
        State::Waiting(..) => c.answer(Err(Status::Unavailable), now),
        State::Writing(..) => return Next::Close,
    }
    // One try to send the short answer; the client has no more time.
    write_some(c);
    Next::Close
}

/// One turn of a connection: what it sent read, its metrics taken from
/// the main loop, its answer written, as far as each can go now.
fn step(c: &mut Conn, revents: libc::c_short, links: &Links, now: Instant) -> Next {
    if let State::Reading(sent) = &mut c.state {
        if revents == 0 {
            return Next::Keep;
        }
        let mut chunk = [0u8; 4096];
        loop {
            let room = http::MAX_REQUEST - sent.len();
            let want = room.min(chunk.len());
            match c.stream.read(&mut chunk[..want]) {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    sent.extend_from_slice(&chunk[..n]);
                    if sent.len() >= http::MAX_REQUEST {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Next::Close,
            }
        }
        match http::request_in(sent) {
            None => return Next::Keep,
            Some(Request::Index) => c.answer(
                Ok(("text/html; charset=utf-8", http::INDEX.as_bytes())),
                now,
            ),
            Some(Request::Refused(status)) => c.answer(Err(status), now),
            Some(Request::Metrics(flavor)) => {
                let (reply, answer) = mpsc::sync_channel(1);
                if links.scrapes.send(Scrape { flavor, reply }).is_err() {
                    c.answer(Err(Status::Unavailable), now);
                } else {
                    // A full socket already holds a wakeup: nothing lost.
                    let _ = (&links.wake).write(&[1]);
                    c.state = State::Waiting(answer, flavor);
                    c.since = now;
                }
            }
        }
    }
    if let State::Waiting(answer, flavor) = &c.state {
        match answer.try_recv() {
            Err(TryRecvError::Empty) => return Next::Keep,
            Ok(Some(text)) => {
                let flavor = *flavor;
                c.answer(Ok((flavor.content_type(), text.as_bytes())), now);
            }
            Ok(None) | Err(TryRecvError::Disconnected) => c.answer(Err(Status::Unavailable), now),
        }
    }
    write_some(c)
}

/// Writes what the socket takes of the answer; closes when all is sent.
fn write_some(c: &mut Conn) -> Next {
    let State::Writing(out, sent) = &mut c.state else {
        return Next::Keep;
    };
    while *sent < out.len() {
        match c.stream.write(&out[*sent..]) {
            Ok(0) => return Next::Close,
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
            Err(_) => return Next::Close,
        }
    }
    Next::Close
}

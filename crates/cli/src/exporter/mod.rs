//! `--listen`: serves the tool's counts to Prometheus while it traces.
//!
//! A thread accepts connections and gives each its own thread, at most
//! [`MAX_CONNECTIONS`] at once (more are closed unanswered), each bounded
//! in size and time by [`http`]. The BPF maps belong to the main loop, so
//! a connection asking for metrics hands a [`Scrape`] to it over a channel
//! and wakes it through a socket; the main loop renders between its other
//! work and hands the text back. Tracing itself never waits for a client:
//! the programs count in the kernel whatever the exporter does.

pub mod address;
mod http;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rtools_core::render::prometheus::Flavor;

use http::{Request, Status};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a connection waits for the main loop's metrics before it
/// answers 503 (the main loop is attaching, or printing a summary).
const SCRAPE_WAIT: Duration = Duration::from_secs(10);

/// A request for the metrics, answered by the main loop.
struct Scrape {
    flavor: Flavor,
    /// None: the main loop could not read the maps.
    reply: SyncSender<Option<String>>,
}

/// A bound exporter: the address it serves, and the scrapes waiting for
/// the main loop.
pub struct Exporter {
    addr: SocketAddr,
    scrapes: Receiver<Scrape>,
    wake: UnixStream,
}

/// Binds `addr` and starts serving (`--listen`), or says why it cannot.
pub fn bind(addr: SocketAddr) -> anyhow::Result<Exporter> {
    Exporter::listen(addr).map_err(|e| {
        let what = match e.kind() {
            io::ErrorKind::AddrInUse => {
                "; stop what holds the port or choose another with --listen"
            }
            io::ErrorKind::AddrNotAvailable => {
                "; give an address of this machine, or :PORT for loopback"
            }
            io::ErrorKind::PermissionDenied => {
                "; ports below 1024 need CAP_NET_BIND_SERVICE: choose a higher one"
            }
            _ => "",
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}{what}")
    })
}

impl Exporter {
    /// Binds `addr` and starts serving; scrapes wait for [`Exporter::serve`].
    pub fn listen(addr: SocketAddr) -> io::Result<Exporter> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_writer.set_nonblocking(true)?;
        let (send, scrapes) = mpsc::channel();
        let context = Arc::new(Context {
            scrapes: send,
            wake: wake_writer,
            active: AtomicUsize::new(0),
        });
        thread::Builder::new()
            .name("exporter".into())
            .spawn(move || accept(&listener, &context))?;
        Ok(Exporter {
            addr,
            scrapes,
            wake,
        })
    }

    /// The address it listens on (its port, where 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Readable when scrapes wait.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Answers every scrape waiting, each with `render` of its flavor
    /// (None: 503).
    pub fn serve(&self, mut render: impl FnMut(Flavor) -> Option<String>) {
        let mut drain = [0u8; 64];
        while matches!((&self.wake).read(&mut drain), Ok(n) if n > 0) {}
        while let Ok(scrape) = self.scrapes.try_recv() {
            // The connection may have given up waiting: nothing to do.
            let _ = scrape.reply.send(render(scrape.flavor));
        }
    }
}

/// What connection threads share.
struct Context {
    scrapes: Sender<Scrape>,
    wake: UnixStream,
    active: AtomicUsize,
}

fn accept(listener: &TcpListener, context: &Arc<Context>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if context.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            context.active.fetch_sub(1, Ordering::SeqCst);
            // Closed unanswered: a client holding the others' places gets
            // no more by opening more.
            continue;
        }
        let shared = Arc::clone(context);
        let spawned = thread::Builder::new()
            .name("exporter-conn".into())
            .spawn(move || {
                serve_connection(conn, &shared);
                shared.active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The closure never ran: give its place back. (Rare: the
            // system is out of threads.)
            context.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_connection(mut conn: TcpStream, context: &Context) {
    let Some(request) = http::read_request(&mut conn) else {
        return;
    };
    let metrics;
    let outcome = match request {
        Request::Index => Ok(("text/html; charset=utf-8", http::INDEX.as_bytes())),
        Request::Refused(status) => Err(status),
        Request::Metrics(flavor) => match scrape(context, flavor) {
            Some(text) => {
                metrics = text;
                Ok((flavor.content_type(), metrics.as_bytes()))
            }
            None => Err(Status::Unavailable),
        },
    };
    let _ = http::respond(&mut conn, outcome);
}

/// The metrics from the main loop, or None if it does not answer in time.
fn scrape(context: &Context, flavor: Flavor) -> Option<String> {
    let (reply, answer) = mpsc::sync_channel(1);
    context.scrapes.send(Scrape { flavor, reply }).ok()?;
    // A full socket already holds a wakeup: nothing lost.
    let _ = (&context.wake).write(&[1]);
    answer.recv_timeout(SCRAPE_WAIT).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::time::Instant;

    /// An exporter on a free loopback port whose main loop answers
    /// scrapes with `body` for `duration`, on its own thread.
    fn serving(body: &'static str, duration: Duration) -> SocketAddr {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let exporter = Exporter::listen("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(exporter.addr()).unwrap();
            let end = Instant::now() + duration;
            while Instant::now() < end {
                exporter.serve(|flavor| Some(format!("{body} {flavor:?}\n")));
                thread::sleep(Duration::from_millis(5));
            }
        });
        rx.recv().unwrap()
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scrapes_are_answered_by_the_main_loop_in_their_flavor() {
        let addr = serving("m", Duration::from_secs(5));
        let text = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("text/plain; version=0.0.4"), "{text}");
        assert!(text.ends_with("\r\n\r\nm Text\n"), "{text}");
        let text = get(
            addr,
            "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n",
        );
        assert!(text.ends_with("m OpenMetrics\n"), "{text}");
        assert!(get(addr, "GET / HTTP/1.1\r\n\r\n").contains("href=\"/metrics\""));
        assert!(get(addr, "GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    }

    #[test]
    fn silent_clients_are_cut_off_and_others_still_served() {
        let addr = serving("m", Duration::from_secs(8));
        // More silent clients than there are places: the extra ones are
        // closed at once, the rest at the deadline.
        let started = Instant::now();
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS + 4)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut first = std::io::BufReader::new(&silent[0]);
        let mut line = String::new();
        first.read_line(&mut line).unwrap();
        assert_eq!(line, "HTTP/1.1 408 Request Timeout\r\n");
        let waited = started.elapsed();
        assert!(
            waited >= http::DEADLINE - Duration::from_millis(50),
            "{waited:?}"
        );
        assert!(
            waited < http::DEADLINE + Duration::from_secs(2),
            "{waited:?}"
        );
        // Their places are free again.
        thread::sleep(Duration::from_millis(100));
        let text = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    }

    #[test]
    fn a_main_loop_that_does_not_answer_gives_503() {
        let exporter = Exporter::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let context = Context {
            scrapes: mpsc::channel().0,
            wake: UnixStream::pair().unwrap().0,
            active: AtomicUsize::new(0),
        };
        // The receiving end is gone: no answer.
        assert_eq!(scrape(&context, Flavor::Text), None);
        // A busy port is a one-line error that says what to do.
        let err = bind(exporter.addr()).err().unwrap().to_string();
        assert!(
            err.starts_with(&format!("cannot listen on {}: ", exporter.addr())),
            "{err}"
        );
        assert!(err.ends_with("; stop what holds the port or choose another with --listen"));
    }
}

//! `--listen`: serves the tool's counts to Prometheus while it traces.
//!
//! One thread serves every connection (`server.rs`: poll(2), a deadline
//! each, at most [`server::MAX_CONNECTIONS`] kept, a new client taking the
//! place of the slowest), each exchange bounded by [`http`]. The BPF maps
//! belong to the main loop, so a connection asking for metrics hands a
//! [`Scrape`] to it over a channel and wakes it through a socket; the main
//! loop renders between its other work, hands the text back and wakes the
//! server. Tracing itself never waits for a client: the programs count in
//! the kernel whatever the exporter does.

pub mod address;
mod http;
mod server;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver};
use std::thread;

use rtools_core::render::prometheus::Flavor;

use server::Scrape;

/// A bound exporter: the address it serves, and the scrapes waiting for
/// the main loop.
pub struct Exporter {
    addr: SocketAddr,
    scrapes: Receiver<Scrape>,
    wake: UnixStream,
    /// Tells the server that scrapes were answered.
    answered: UnixStream,
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
        let (answered_reader, answered) = UnixStream::pair()?;
        for socket in [&wake, &wake_writer, &answered] {
            socket.set_nonblocking(true)?;
        }
        let (send, scrapes) = mpsc::channel();
        let links = server::Links {
            scrapes: send,
            wake: wake_writer,
            answered: answered_reader,
        };
        thread::Builder::new()
            .name("exporter".into())
            .spawn(move || server::run(listener, links))?;
        Ok(Exporter {
            addr,
            scrapes,
            wake,
            answered,
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
        let mut any = false;
        while let Ok(scrape) = self.scrapes.try_recv() {
            // The connection may have given up waiting: nothing to do.
            let _ = scrape.reply.send(render(scrape.flavor));
            any = true;
        }
        if any {
            // A full socket already holds a wakeup: nothing lost.
            let _ = (&self.answered).write(&[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

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
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
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
        let absolute = get(addr, &format!("GET http://{addr}/metrics HTTP/1.1\r\n\r\n"));
        assert!(absolute.ends_with("m Text\n"), "{absolute}");
    }

    #[test]
    fn silent_clients_are_cut_off_at_the_deadline() {
        let addr = serving("m", Duration::from_secs(8));
        let started = Instant::now();
        let silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
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
    }

    /// Issue 25: 16 idle connections locked every other client out (a
    /// thread each, 16 at most). With a thousand silent clients and fifty
    /// sending a byte a second, every good scrape is answered within 1 s.
    #[test]
    fn a_good_client_is_served_whatever_others_do() {
        rtools_bpf::system::raise_fd_limit();
        let addr = serving("m", Duration::from_secs(30));
        let silent: Vec<TcpStream> = (0..1000)
            .filter_map(|_| TcpStream::connect(addr).ok())
            .collect();
        assert!(silent.len() >= 900, "{} connected", silent.len());
        let slow: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dripping = {
            let stop = std::sync::Arc::clone(&stop);
            thread::spawn(move || {
                let head = b"GET /metrics HTTP/1.1\r\nX: ";
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for mut s in &slow {
                        let _ = s.write(&head[i % head.len()..][..1]);
                    }
                    i += 1;
                    thread::sleep(Duration::from_secs(1));
                }
            })
        };
        for _ in 0..10 {
            let started = Instant::now();
            let text = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
            let took = started.elapsed();
            assert!(text.ends_with("m Text\n"), "{text}");
            assert!(took < Duration::from_secs(1), "a good scrape took {took:?}");
            // New silent clients keep coming: they push out the oldest.
            for _ in 0..100 {
                let _ = TcpStream::connect(addr);
            }
            thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        dripping.join().unwrap();
        drop(silent);
    }

    #[test]
    fn a_busy_port_is_a_one_line_error() {
        let exporter = Exporter::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let err = bind(exporter.addr()).err().unwrap().to_string();
        assert!(
            err.starts_with(&format!("cannot listen on {}: ", exporter.addr())),
            "{err}"
        );
        assert!(err.ends_with("; stop what holds the port or choose another with --listen"));
    }
}

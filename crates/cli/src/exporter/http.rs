//! One HTTP/1.1 exchange on one connection, bounded so that no client can
//! hold the exporter: the request head must arrive whole, within
//! [`MAX_REQUEST`] bytes and [`MAX_HEADERS`] headers, in [`DEADLINE`];
//! the answer must be taken in [`DEADLINE`] too. httparse reads the head;
//! only `GET /metrics` and `GET /` answer, anything else is 404 or 405.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use rtools_core::render::prometheus::Flavor;

/// The most a request head may take, in bytes.
pub const MAX_REQUEST: usize = 8192;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 100;
/// How long a client has to send its request, and again to take the
/// answer: a client that sends nothing, or a byte a second, is cut off.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// What the client asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics`, with the flavor its Accept header asks for.
    Metrics(Flavor),
    /// `GET /`: a page with a link to /metrics.
    Index,
    /// An answer that needs no metrics: an error status.
    Refused(Status),
}

/// An error status and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    Timeout,
    HeadTooLarge,
    Unavailable,
}

impl Status {
    fn line(self) -> (u16, &'static str) {
        match self {
            Status::BadRequest => (400, "Bad Request"),
            Status::NotFound => (404, "Not Found"),
            Status::MethodNotAllowed => (405, "Method Not Allowed"),
            Status::Timeout => (408, "Request Timeout"),
            Status::HeadTooLarge => (431, "Request Header Fields Too Large"),
            Status::Unavailable => (503, "Service Unavailable"),
        }
    }
}

/// Reads one request head from `conn` within the bounds; None when the
/// client went away before sending one.
pub fn read_request(conn: &mut (impl Read + Timed)) -> Option<Request> {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(left).is_err() {
            return Some(Request::Refused(Status::Timeout));
        }
        match conn.read(&mut buf[len..]) {
            Ok(0) => return None,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Some(Request::Refused(Status::Timeout));
            }
            Err(_) => return None,
        }
        if let Some(request) = parse(&buf[..len]) {
            return Some(request);
        }
        if len == buf.len() {
            return Some(Request::Refused(Status::HeadTooLarge));
        }
    }
}

/// The request in `head`, or None while it is incomplete.
fn parse(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Ok(httparse::Status::Complete(_)) => Some(route(&req)),
        Err(httparse::Error::TooManyHeaders) => Some(Request::Refused(Status::HeadTooLarge)),
        Err(_) => Some(Request::Refused(Status::BadRequest)),
    }
}

fn route(req: &httparse::Request<'_, '_>) -> Request {
    let path = req.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    let known = matches!(path, "/metrics" | "/");
    match (req.method, known) {
        (_, false) => Request::Refused(Status::NotFound),
        (Some("GET"), true) if path == "/" => Request::Index,
        (Some("GET"), true) => {
            let accept = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            Request::Metrics(Flavor::from_accept(accept))
        }
        (_, true) => Request::Refused(Status::MethodNotAllowed),
    }
}

/// The index page.
pub const INDEX: &str = "<html><head><title>rtools exporter</title></head>\
<body><h1>rtools exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

/// Writes a whole response: status 200 with `body` of `content_type`, or
/// an error status with its reason as the body. Gives up at the deadline.
pub fn respond(
    conn: &mut (impl Write + Timed),
    outcome: Result<(&str, &[u8]), Status>,
) -> io::Result<()> {
    let (code, reason, content_type, body) = match outcome {
        Ok((content_type, body)) => (200, "OK", content_type, body),
        Err(status) => {
            let (code, reason) = status.line();
            (code, reason, "text/plain; charset=utf-8", reason.as_bytes())
        }
    };
    let allow = if code == 405 { "Allow: GET\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    let deadline = Instant::now() + DEADLINE;
    for chunk in [head.as_bytes()].into_iter().chain(body.chunks(64 * 1024)) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        conn.set_write_timeout(left)?;
        conn.write_all(chunk)?;
    }
    conn.flush()
}

/// A connection whose reads and writes can be given a time limit.
pub trait Timed {
    fn set_read_timeout(&mut self, limit: Duration) -> io::Result<()>;
    fn set_write_timeout(&mut self, limit: Duration) -> io::Result<()>;
}

impl Timed for std::net::TcpStream {
    fn set_read_timeout(&mut self, limit: Duration) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, Some(limit))
    }
    fn set_write_timeout(&mut self, limit: Duration) -> io::Result<()> {
        std::net::TcpStream::set_write_timeout(self, Some(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Option<Request> {
        parse(text.as_bytes())
    }

    #[test]
    fn only_get_of_metrics_and_the_index_answer() {
        assert_eq!(
            request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request::Metrics(Flavor::Text))
        );
        assert_eq!(
            request("GET /metrics?x=1 HTTP/1.1\r\nACCEPT: application/openmetrics-text; version=1.0.0\r\n\r\n"),
            Some(Request::Metrics(Flavor::OpenMetrics))
        );
        assert_eq!(request("GET / HTTP/1.0\r\n\r\n"), Some(Request::Index));
        assert_eq!(
            request("GET /other HTTP/1.1\r\n\r\n"),
            Some(Request::Refused(Status::NotFound))
        );
        assert_eq!(
            request("POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::Refused(Status::MethodNotAllowed))
        );
        assert_eq!(
            request("DELETE / HTTP/1.1\r\n\r\n"),
            Some(Request::Refused(Status::MethodNotAllowed))
        );
        assert_eq!(request("GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(
            request("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"),
            Some(Request::Refused(Status::BadRequest))
        );
        assert_eq!(
            request("\x00\x01\x02 garbage\r\n\r\n"),
            Some(Request::Refused(Status::BadRequest))
        );
    }

    #[test]
    fn too_many_headers_are_refused() {
        let mut text = String::from("GET /metrics HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: y\r\n"));
        }
        assert_eq!(
            request(&format!("{text}\r\n")),
            Some(Request::Refused(Status::HeadTooLarge))
        );
        // The most allowed is fine.
        let fewer = text.replacen("X-0: y\r\n", "", 1);
        assert_eq!(
            request(&format!("{fewer}\r\n")),
            Some(Request::Metrics(Flavor::Text))
        );
    }

    /// A client that sends `input` and keeps what it is sent.
    struct Client {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
        /// Reads after the input is used up time out instead of ending.
        stall: bool,
        /// Errors the next reads return, first to last.
        errors: Vec<io::ErrorKind>,
        /// The read time limits set, and the sizes written.
        limits: Vec<Duration>,
        writes: Vec<usize>,
    }

    impl Read for Client {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.errors.is_empty() {
                return Err(self.errors.remove(0).into());
            }
            let n = self.input.read(buf)?;
            if n == 0 && self.stall {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }
    }

    impl Write for Client {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes.push(buf.len());
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Timed for Client {
        fn set_read_timeout(&mut self, limit: Duration) -> io::Result<()> {
            self.limits.push(limit);
            Ok(())
        }
        fn set_write_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    fn client(input: &[u8], stall: bool) -> Client {
        Client {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
            stall,
            errors: Vec::new(),
            limits: Vec::new(),
            writes: Vec::new(),
        }
    }

    #[test]
    fn every_read_has_a_time_limit_and_errors_end_the_exchange() {
        let mut c = client(b"GET / HTTP/1.1\r\n\r\n", true);
        c.errors = vec![io::ErrorKind::Interrupted];
        assert_eq!(read_request(&mut c), Some(Request::Index));
        // A limit before each read, the interrupted one too, within the
        // deadline.
        assert_eq!(c.limits.len(), 2, "{:?}", c.limits);
        assert!(c.limits.iter().all(|l| !l.is_zero() && *l <= DEADLINE));
        // A client that resets is gone: no answer, no waiting.
        let mut c = client(b"GET / HTTP/1.1\r\n\r\n", true);
        c.errors = vec![io::ErrorKind::ConnectionReset];
        assert_eq!(read_request(&mut c), None);
        assert_eq!(c.limits.len(), 1);
        let mut c = client(b"", true);
        c.errors = vec![io::ErrorKind::TimedOut];
        assert_eq!(
            read_request(&mut c),
            Some(Request::Refused(Status::Timeout))
        );
    }

    #[test]
    fn sockets_get_the_time_limits() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut conn = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let limit = Duration::from_millis(1500);
        Timed::set_read_timeout(&mut conn, limit).unwrap();
        Timed::set_write_timeout(&mut conn, limit).unwrap();
        assert_eq!(conn.read_timeout().unwrap(), Some(limit));
        assert_eq!(conn.write_timeout().unwrap(), Some(limit));
    }

    #[test]
    fn bodies_go_out_in_large_chunks() {
        let mut c = client(b"", false);
        let body = vec![b'x'; 64 * 1024 + 1];
        respond(&mut c, Ok(("text/plain", &body))).unwrap();
        // The head, a 64 KiB chunk, the last byte.
        assert_eq!(c.writes.len(), 3, "{:?}", c.writes);
        assert_eq!(c.writes[1..], [64 * 1024, 1]);
    }

    #[test]
    fn heads_past_the_limit_or_the_deadline_are_refused() {
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST + 10, b'a');
        assert_eq!(
            read_request(&mut client(&big, true)),
            Some(Request::Refused(Status::HeadTooLarge))
        );
        assert_eq!(
            read_request(&mut client(b"GET /metr", true)),
            Some(Request::Refused(Status::Timeout))
        );
        assert_eq!(read_request(&mut client(b"GET /metr", false)), None);
        assert_eq!(
            read_request(&mut client(b"GET / HTTP/1.1\r\n\r\n", true)),
            Some(Request::Index)
        );
    }

    #[test]
    fn responses_say_their_length_and_close() {
        let mut c = client(b"", false);
        respond(&mut c, Ok(("text/plain", b"a 1\n"))).unwrap();
        assert_eq!(
            String::from_utf8(c.output).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
             Connection: close\r\n\r\na 1\n"
        );
        let mut c = client(b"", false);
        respond(&mut c, Err(Status::MethodNotAllowed)).unwrap();
        let text = String::from_utf8(c.output).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: GET\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nMethod Not Allowed"), "{text}");
    }
}

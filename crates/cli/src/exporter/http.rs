//! One HTTP/1.1 exchange, bounded so that no client can hold the exporter:
//! the request head must arrive whole, within [`MAX_REQUEST`] bytes and
//! [`MAX_HEADERS`] headers, in [`DEADLINE`]; the answer must be taken in
//! [`DEADLINE`] too (`server.rs` keeps the time). httparse reads the head;
//! only `GET /metrics` and `GET /` answer, anything else is 404 or 405.

use std::time::Duration;

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

/// The request in the bytes a client sent so far: None while its head is
/// incomplete (and within [`MAX_REQUEST`] bytes).
pub fn request_in(sent: &[u8]) -> Option<Request> {
    match parse(sent) {
        None if sent.len() >= MAX_REQUEST => Some(Request::Refused(Status::HeadTooLarge)),
        parsed => parsed,
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
    // HTTP/1.1 servers take the absolute form too: http://host:port/path.
    let path = match path.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => {
            rest.find('/').map_or("/", |at| &rest[at..])
        }
        _ => path,
    };
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

/// A whole response: status 200 with `body` of `content_type`, or an
/// error status with its reason as the body; the connection closes after.
pub fn response(outcome: Result<(&str, &[u8]), Status>) -> Vec<u8> {
    let (code, reason, content_type, body) = match outcome {
        Ok((content_type, body)) => (200, "OK", content_type, body),
        Err(status) => {
            let (code, reason) = status.line();
            (code, reason, "text/plain; charset=utf-8", reason.as_bytes())
        }
    };
    let allow = if code == 405 { "Allow: GET\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
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

    /// Issue 25: HTTP/1.1 requires servers to take the absolute form.
    #[test]
    fn absolute_uris_name_their_path() {
        assert_eq!(
            request("GET http://127.0.0.1:9090/metrics HTTP/1.1\r\n\r\n"),
            Some(Request::Metrics(Flavor::Text))
        );
        assert_eq!(
            request("GET HTTP://host/ HTTP/1.1\r\n\r\n"),
            Some(Request::Index)
        );
        assert_eq!(
            request("GET http://host HTTP/1.1\r\n\r\n"),
            Some(Request::Index)
        );
        assert_eq!(
            request("GET http://host/other HTTP/1.1\r\n\r\n"),
            Some(Request::Refused(Status::NotFound))
        );
    }

    #[test]
    fn heads_past_the_limit_are_refused() {
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST, b'a');
        assert_eq!(
            request_in(&big),
            Some(Request::Refused(Status::HeadTooLarge))
        );
        assert_eq!(request_in(&big[..MAX_REQUEST - 1]), None);
        assert_eq!(request_in(b"GET / HTTP/1.1\r\n\r\n"), Some(Request::Index));
    }

    #[test]
    fn responses_say_their_length_and_close() {
        let ok = response(Ok(("text/plain", b"a 1\n")));
        assert_eq!(
            String::from_utf8(ok).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\
             Connection: close\r\n\r\na 1\n"
        );
        let text = String::from_utf8(response(Err(Status::MethodNotAllowed))).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: GET\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nMethod Not Allowed"), "{text}");
    }
}

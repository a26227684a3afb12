//! A real Prometheus server for the exporter tests (Debian's `prometheus`,
//! installed by scripts/test-deps.sh): run by hand on loopback with a
//! temporary storage directory, scraping every second, and asked through
//! its HTTP query API. Also a plain HTTP GET for the exporters themselves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Whether Debian's prometheus package is there; tests that need it skip
/// (loudly, or fail under RTOOLS_TEST_NO_SKIP) without it.
pub fn installed() -> bool {
    Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists()
}

/// A running Prometheus server, stopped and its storage removed on drop.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus with configuration `config` (YAML), once it says
    /// it is ready.
    pub fn start(config: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("rtools-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let addr = free_port();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let server = Prometheus { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(addr, "/-/ready").map(|(code, _)| code) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready:\n{}",
                server.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The samples of instant query `promql`: each series' labels and value.
    pub fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let (code, body) = get(self.addr, &path).expect("prometheus answers");
        let reply: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(code, 200, "{promql}: {body}");
        let result = reply["data"]["result"]
            .as_array()
            .expect("a vector")
            .clone();
        result
            .into_iter()
            .map(|sample| {
                let value = sample["value"][1].as_str().unwrap().parse().unwrap();
                (sample["metric"].clone(), value)
            })
            .collect()
    }

    /// Queries `promql` until `done` holds for its samples (scrapes come
    /// every second); panics with the last ones after 30 s.
    pub fn wait_for(
        &self,
        promql: &str,
        done: impl Fn(&[(Value, f64)]) -> bool,
    ) -> Vec<(Value, f64)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let samples = self.query(promql);
            if done(&samples) {
                return samples;
            }
            assert!(
                Instant::now() < deadline,
                "{promql} never held: {samples:?}\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback address with a port free a moment ago.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET path` over HTTP/1.0: the status and the body, or None when the
/// server is not there.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    get_with(addr, path, &[])
}

/// [`get`] with extra header lines.
pub fn get_with(addr: SocketAddr, path: &str, headers: &[&str]) -> Option<(u16, String)> {
    let mut conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").ok()?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Percent-encodes a query string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

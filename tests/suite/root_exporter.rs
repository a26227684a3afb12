//! `--listen` scraped by a real Prometheus server: exact counts through
//! its query API, two exporters summed, funclatency's histograms in the
//! right buckets; hostile clients, a busy port, exited processes, and the
//! example systemd unit's command.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::prometheus::{self, get, get_with, Prometheus, PROMTOOL};
use super::support::{require_root, skip, testprog_path, Tracer, Workload};

/// The example configuration of contrib/, scraping `targets` every second.
fn config(targets: &[SocketAddr]) -> String {
    let example = include_str!("../../contrib/prometheus.yml");
    let listed: String = targets
        .iter()
        .map(|t| format!("          - {t}\n"))
        .collect();
    let replaced = example
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        .replace(
            "          - host-a.example.org:9435\n          - host-b.example.org:9435\n",
            &listed,
        );
    assert!(
        replaced.contains(&listed),
        "contrib/prometheus.yml changed shape"
    );
    replaced
}

/// Prometheus scraping `targets`, once it sees every one of them up.
fn prometheus_for(targets: &[SocketAddr]) -> Prometheus {
    let server = Prometheus::start(&config(targets));
    server.wait_for(r#"up{job="rtools"}"#, |s| {
        s.len() == targets.len() && s.iter().all(|(_, v)| *v == 1.0)
    });
    server
}

macro_rules! require_prometheus {
    () => {
        if !prometheus::installed() {
            skip(
                module_path!(),
                "prometheus is not installed (scripts/test-deps.sh)",
            );
            return;
        }
    };
}

fn label<'a>(metric: &'a Value, name: &str) -> &'a str {
    metric[name].as_str().unwrap_or_default()
}

/// What a client that misbehaves is answered, if anything.
fn misbehave(addr: SocketAddr, send: &[u8], pause: Duration) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for &b in send {
        if conn.write_all(&[b]).is_err() {
            break;
        }
        thread::sleep(pause);
    }
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    reply.lines().next().unwrap_or_default().to_string()
}

#[test]
fn root_prometheus_sums_exact_counts_of_two_exporters() {
    let _bpf = require_root!();
    require_prometheus!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let mut a = Workload::start(&["funcs", "4999", "0", "0"]);
    let mut b = Workload::start(&["funcs", "3001", "0", "0"]);
    let listen = ["--listen", "127.0.0.1:0"];
    let ta = Tracer::start(&[&["funccount"], &listen[..], &["-p", &a.pid_str(), &spec]].concat());
    let tb = Tracer::start(&[&["funccount"], &listen[..], &["-p", &b.pid_str(), &spec]].concat());
    let (addr_a, addr_b) = (ta.metrics_addr(), tb.metrics_addr());
    let server = prometheus_for(&[addr_a, addr_b]);

    // While the work runs, clients that misbehave: silent, a byte a
    // second, garbage, too many headers, the wrong method and path.
    let hostile = thread::spawn(move || {
        let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
        [
            misbehave(addr_a, b"", Duration::ZERO),
            misbehave(addr_a, b"GET /metrics", Duration::from_millis(400)),
            misbehave(addr_a, b"\x16\x03\x01 not http\r\n\r\n", Duration::ZERO),
            misbehave(
                addr_a,
                format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes(),
                Duration::ZERO,
            ),
            misbehave(addr_a, b"PUT /metrics HTTP/1.1\r\n\r\n", Duration::ZERO),
            misbehave(addr_a, b"GET /admin HTTP/1.1\r\n\r\n", Duration::ZERO),
        ]
    });
    a.run();
    b.run();
    let answers = hostile.join().unwrap();
    assert_eq!(
        answers,
        [
            "HTTP/1.1 408 Request Timeout",
            "HTTP/1.1 408 Request Timeout",
            "HTTP/1.1 400 Bad Request",
            "HTTP/1.1 431 Request Header Fields Too Large",
            "HTTP/1.1 405 Method Not Allowed",
            "HTTP/1.1 404 Not Found",
        ]
    );

    let query = r#"rtools_calls_total{probe="rtools_test_one"}"#;
    let samples = server.wait_for(query, |s| {
        s.len() == 2 && s.iter().map(|(_, v)| v).sum::<f64>() == 8000.0
    });
    for (metric, value) in &samples {
        let expected = if label(metric, "instance") == addr_a.to_string() {
            4999.0
        } else {
            assert_eq!(label(metric, "instance"), addr_b.to_string());
            3001.0
        };
        assert_eq!(*value, expected, "{samples:?}");
        assert_eq!(label(metric, "__name__"), "rtools_calls_total");
    }
    let summed = server.query(r#"sum by (probe) (rtools_calls_total{probe="rtools_test_one"})"#);
    assert_eq!(summed.len(), 1, "{summed:?}");
    assert_eq!(summed[0].1, 8000.0);
    assert_eq!(label(&summed[0].0, "probe"), "rtools_test_one");
    for (_, v) in server.query("rtools_probes_attached") {
        assert_eq!(v, 1.0);
    }
    let build = server.query(&format!(
        r#"rtools_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    ));
    assert_eq!(build.len(), 2, "{build:?}");

    // promtool takes what the exporter serves; OpenMetrics on request.
    let (code, text) = get(addr_a, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(text.contains("rtools_calls_total{probe=\"rtools_test_one\"} 4999\n"));
    let file = std::env::temp_dir().join(format!("rtools-scrape-{}", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    let check = std::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(
        check.status.success() && check.stdout.is_empty(),
        "{check:?}"
    );
    let (_, open) = get_with(
        addr_a,
        "/metrics",
        &["Accept: application/openmetrics-text"],
    )
    .unwrap();
    assert!(open.ends_with("# EOF\n") && open.contains("# TYPE rtools_calls counter\n"));

    let done = ta.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(done.table()["rtools_test_one"], 4999);
    assert_eq!(tb.stop().table()["rtools_test_one"], 3001);
    a.exit();
    b.exit();
}

/// A histogram's cumulative count at each upper bound, in seconds.
fn buckets(server: &Prometheus, probe: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = server
        .query(&format!(
            r#"rtools_function_latency_seconds_bucket{{probe="{probe}"}}"#
        ))
        .iter()
        .map(|(m, v)| (label(m, "le").parse().unwrap(), *v))
        .collect();
    out.sort_by(|x, y| x.0.total_cmp(&y.0));
    out
}

fn count_up_to(buckets: &[(f64, f64)], le_ns: u64) -> f64 {
    let le = le_ns as f64 / 1e9;
    buckets
        .iter()
        .find(|(b, _)| (b - le).abs() < le * 1e-9)
        .unwrap_or_else(|| panic!("no bucket le={le} in {buckets:?}"))
        .1
}

#[test]
fn root_prometheus_reads_funclatency_histograms() {
    let _bpf = require_root!();
    require_prometheus!();
    let mut w = Workload::start(&["latency", "37", "211"]);
    let spec = format!("{}:lat_2*", testprog_path());
    let t = Tracer::start(&[
        "funclatency",
        "-F",
        "--listen",
        "127.0.0.1:0",
        "-p",
        &w.pid_str(),
        &spec,
    ]);
    let server = prometheus_for(&[t.metrics_addr()]);
    w.run();
    let counts = server.wait_for("rtools_function_latency_seconds_count", |s| {
        s.iter().map(|(_, v)| v).sum::<f64>() == 248.0
    });
    assert_eq!(counts.len(), 2, "{counts:?}");
    for (metric, value) in &counts {
        let expected = match label(metric, "probe") {
            "lat_2ms" => 37.0,
            "lat_20us" => 211.0,
            other => panic!("series for {other}: {counts:?}"),
        };
        assert_eq!(*value, expected, "{counts:?}");
    }
    // Calls spin at least their length: none below it; strays only above
    // (preempted: on a busy machine a good share of them), most within
    // twice their bucket.
    let slow = buckets(&server, "lat_2ms");
    assert_eq!(count_up_to(&slow, 1 << 20), 0.0, "{slow:?}"); // 1.05 ms
    assert!(count_up_to(&slow, 1 << 22) >= 19.0, "{slow:?}"); // 4.19 ms
    let fast = buckets(&server, "lat_20us");
    assert_eq!(count_up_to(&fast, 1 << 14), 0.0, "{fast:?}"); // 16.4 us
    assert!(count_up_to(&fast, 1 << 16) >= 106.0, "{fast:?}"); // 65.5 us
    let median = |probe: &str| {
        let q = server.query(&format!(
            r#"histogram_quantile(0.5, rtools_function_latency_seconds_bucket{{probe="{probe}"}})"#
        ));
        assert_eq!(q.len(), 1, "{q:?}");
        q[0].1
    };
    // Prometheus interpolates inside the bucket: the median lies between
    // the bounds of the bucket the calls fill, or (busy) up to two above.
    let m = median("lat_2ms");
    assert!(
        (0.001048576..=0.008388608).contains(&m),
        "median of lat_2ms: {m}"
    );
    let m = median("lat_20us");
    assert!(
        (0.000016384..=0.000131072).contains(&m),
        "median of lat_20us: {m}"
    );
    let sum = server.query(r#"rtools_function_latency_seconds_sum{probe="lat_2ms"}"#);
    assert!((0.074..0.5).contains(&sum[0].1), "{sum:?}");
    let lost = server.query("sum(rtools_lost_events_total)");
    assert_eq!(lost[0].1, 0.0, "{lost:?}");
    assert_eq!(t.stop().code, Some(0));
    w.exit();
}

/// Issue 25: 16 idle connections locked good clients out of a real
/// exporter. With a thousand silent clients (more arriving all the time)
/// and fifty sending a byte a second, each good scrape is answered within
/// a second with exact counts, and rtools' descriptors stay bounded.
#[test]
fn root_exporter_serves_good_scrapes_under_a_flood_of_bad_clients() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let t = Tracer::start(&["funccount", "--listen", "127.0.0.1:0", &spec]);
    let addr = t.metrics_addr();
    let mut w = Workload::start(&["funcs", "1009", "0", "0"]);
    w.run();
    let silent: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    let slow: Vec<TcpStream> = (0..50)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", t.pid()))
            .unwrap()
            .count()
    };
    for round in 0..8 {
        for mut s in &slow {
            let _ = s.write(&b"GET /metrics HTTP/1.1\r\n"[round % 24..][..1]);
        }
        let started = Instant::now();
        let (code, text) = get(addr, "/metrics").unwrap();
        let took = started.elapsed();
        assert_eq!(code, 200);
        assert!(took < Duration::from_secs(1), "round {round}: {took:?}");
        assert!(
            text.contains("rtools_calls_total{probe=\"rtools_test_one\"} 1009\n"),
            "{text}"
        );
        // The server keeps 256 connections at most, plus rtools' own.
        assert!(fds() < 256 + 200, "{} descriptors", fds());
        for _ in 0..100 {
            let _ = TcpStream::connect(addr);
        }
        thread::sleep(Duration::from_millis(500));
    }
    drop((silent, slow));
    assert_eq!(t.stop().table()["rtools_test_one"], 1009);
    w.exit();
}

/// Issue 25: funclatency's probe label was the pattern as typed (a path)
/// where funccount's is the function: both name the function now.
#[test]
fn root_funclatency_labels_its_probe_by_the_function_as_funccount_does() {
    let _bpf = require_root!();
    let mut w = Workload::start(&["latency", "3", "5"]);
    let spec = format!("{}:lat_2ms", testprog_path());
    let t = Tracer::start(&[
        "funclatency",
        "--listen",
        "127.0.0.1:0",
        "-p",
        &w.pid_str(),
        &spec,
    ]);
    w.run();
    let (code, text) = get(t.metrics_addr(), "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        text.contains("rtools_function_latency_seconds_count{probe=\"lat_2ms\"} 3\n"),
        "{text}"
    );
    assert_eq!(t.stop().code, Some(0));
    w.exit();
}

#[test]
fn root_exporter_forgets_exited_processes_and_refuses_a_busy_port() {
    let _bpf = require_root!();
    let spec = format!("{}:rtools_test_one", testprog_path());
    let t = Tracer::start_with_env(
        &["funccount", "-P", "--listen", "127.0.0.1:0", &spec],
        &[("RTOOLS_TEST_SWEEP_MS", "100")],
    );
    let addr = t.metrics_addr();
    let mut w = Workload::start(&["funcs", "7", "0", "0"]);
    let pid = w.pid_str();
    w.run();
    let series = format!("rtools_calls_total{{probe=\"rtools_test_one\",pid=\"{pid}\",comm=\"rtools-testprog\"}} 7\n");
    let (_, text) = get(addr, "/metrics").unwrap();
    assert!(text.contains(&series), "{series} not in {text}");
    w.exit();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, text) = get(addr, "/metrics").unwrap();
        assert_eq!(code, 200);
        if !text.contains(&format!("pid=\"{pid}\"")) {
            break;
        }
        assert!(Instant::now() < deadline, "pid {pid} still served:\n{text}");
        thread::sleep(Duration::from_millis(100));
    }

    // The port is taken: a one-line error, exit 1, before attaching.
    let started = Instant::now();
    let busy = super::support::run(&["funccount", "--listen", &addr.to_string(), &spec]);
    assert_eq!(busy.code, Some(1), "{busy:#?}");
    assert_eq!(busy.stderr.lines().count(), 1, "{busy:#?}");
    assert!(
        busy.stderr
            .starts_with(&format!("funccount: error: cannot listen on {addr}: "))
            && busy
                .stderr
                .trim_end()
                .ends_with("choose another with --listen"),
        "{busy:#?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The first exporter still serves, and prints no row for the dead.
    assert_eq!(get(addr, "/metrics").unwrap().0, 200);
    let done = t.stop();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(!done.stdout.contains(&pid), "{}", done.stdout);
}

#[test]
fn root_the_example_unit_runs_an_exporter() {
    let _bpf = require_root!();
    let unit = include_str!("../../contrib/rtools-exporter.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/rtools "))
        .expect("ExecStart runs /usr/bin/rtools");
    let mut args: Vec<&str> = exec
        .split_whitespace()
        .map(|a| {
            if a == "0.0.0.0:9435" {
                "127.0.0.1:0"
            } else {
                a
            }
        })
        .collect();
    assert!(args.contains(&"127.0.0.1:0"), "{exec}");
    args.extend(["-d", "3"]);
    let t = Tracer::start(&args);
    let (code, text) = get(t.metrics_addr(), "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        text.contains("# TYPE rtools_calls_total counter\n"),
        "{text}"
    );
    assert!(text.contains("rtools_probes_attached 1\n"), "{text}");
    let done = t.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
}

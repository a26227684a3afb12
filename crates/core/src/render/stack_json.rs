//! stackcount's `--json`: one object per interval. Fields: `time`,
//! `timestamp`, `pattern`, `stacks` (each `comm`, `pid` with -P, `kernel`
//! and `user` frame names leaf first, `count`), `lost`.

use serde_json::{json, Value};

use crate::stacks::{Frame, StackRow};

fn names(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|f| f.name.as_str()).collect()
}

pub fn render(rows: &[StackRow], pattern: &str, time: &str, timestamp: f64, lost: u64) -> String {
    let stacks: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "comm": r.comm,
                "kernel": names(&r.kernel),
                "user": names(&r.user),
                "count": r.count,
            });
            if let Some(pid) = r.pid {
                v["pid"] = json!(pid);
            }
            v
        })
        .collect();
    json!({
        "time": time,
        "timestamp": timestamp,
        "pattern": pattern,
        "stacks": stacks,
        "lost": lost,
    })
    .to_string()
}

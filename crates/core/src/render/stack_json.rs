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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::stack_text::tests::sample_rows;

    #[test]
    fn every_field_is_there() {
        let mut rows = sample_rows();
        rows[0].pid = None;
        let v: Value = serde_json::from_str(&render(&rows, "p:gamma", "12:00:00", 1.5, 7)).unwrap();
        assert_eq!(
            v,
            json!({
                "time": "12:00:00",
                "timestamp": 1.5,
                "pattern": "p:gamma",
                "lost": 7,
                "stacks": [
                    {"comm": "rtools-testprog", "kernel": [], "user": ["gamma", "delta", "main"], "count": 1009},
                    {"comm": "rtools-testprog", "pid": 4242,
                     "kernel": ["__x64_sys_getppid", "do_syscall_64"],
                     "user": ["getppid", "main"], "count": 3001},
                ]
            })
        );
    }
}

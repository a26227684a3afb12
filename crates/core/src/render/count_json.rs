//! funccount's `--json`: one object per interval, on one line.
//!
//! Stable fields: `time` (local HH:MM:SS), `timestamp` (Unix seconds),
//! `pattern`, `rows` (each `func`, `count`, and `comm`/`pid`/`tid`/`cpu`/
//! `cgroup` (its path) when grouped), `lost` (events not counted: group table full).

use serde_json::{json, Map, Value};

use crate::count::{CountRow, GroupBy};

pub struct IntervalInfo<'a> {
    pub pattern: &'a str,
    pub time: &'a str,
    pub timestamp: f64,
    pub lost: u64,
}

pub fn render(rows: &[CountRow], group_by: GroupBy, info: &IntervalInfo<'_>) -> String {
    let id_field = match group_by {
        GroupBy::Pid => Some("pid"),
        GroupBy::Tid => Some("tid"),
        GroupBy::Cpu => Some("cpu"),
        GroupBy::None | GroupBy::Comm | GroupBy::Cgroup => None,
    };
    let name_field = if group_by == GroupBy::Cgroup {
        "cgroup"
    } else {
        "comm"
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            obj.insert("func".into(), json!(row.func));
            if let Some(comm) = &row.comm {
                obj.insert(name_field.into(), json!(comm));
            }
            if let (Some(field), Some(id)) = (id_field, row.id) {
                obj.insert(field.into(), json!(id));
            }
            obj.insert("count".into(), json!(row.count));
            Value::Object(obj)
        })
        .collect();
    json!({
        "time": info.time,
        "timestamp": info.timestamp,
        "pattern": info.pattern,
        "rows": rows,
        "lost": info.lost,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_rows_and_group_fields() {
        let rows = [CountRow {
            func: "f".into(),
            comm: Some("bash".into()),
            id: Some(7),
            count: 11,
        }];
        let info = IntervalInfo {
            pattern: "c:f",
            time: "01:02:03",
            timestamp: 1.5,
            lost: 0,
        };
        let v: Value = serde_json::from_str(&render(&rows, GroupBy::Pid, &info)).unwrap();
        assert_eq!(
            v["rows"][0],
            json!({"func": "f", "comm": "bash", "pid": 7, "count": 11})
        );
        assert_eq!(v["pattern"], "c:f");
        assert_eq!(v["lost"], 0);
        assert_eq!(v["time"], "01:02:03");
    }
}

//! trace's lines, as BCC's trace prints them: an optional time column
//! (`-T` clock, `-t` seconds since the start, `-t -u` Unix time), an
//! optional CPU column (`-C`), then `PID TID COMM FUNC -` and the message;
//! stacks (`-K`, `-U`) below, a frame a line, then a blank line. Lines
//! are bytes: a message holds what `%s` and `%c` were given, as printf's.

use std::fmt::Write as _;
use std::io::Write as _;

/// Which columns come before PID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub time: Option<TimeColumn>,
    pub cpu: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeColumn {
    /// `-T`: HH:MM:SS.
    Clock,
    /// `-t`: seconds since tracing started.
    SinceStart,
    /// `-t -u`: seconds since the epoch.
    Unix,
}

/// The header line: the message column is `-` when any probe prints one.
pub fn header(cols: &Columns, any_format: bool) -> String {
    let mut out = String::new();
    match cols.time {
        Some(TimeColumn::Unix) => out.push_str(&format!("{:<17} ", "TIME")),
        Some(_) => out.push_str(&format!("{:<8} ", "TIME")),
        None => {}
    }
    if cols.cpu {
        out.push_str(&format!("{:<3} ", "CPU"));
    }
    let dash = if any_format { "-" } else { "" };
    let _ = writeln!(
        out,
        "{:<7} {:<7} {:<15} {:<16} {dash}",
        "PID", "TID", "COMM", "FUNC"
    );
    out
}

/// One event's line.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// The time column's text, as [`time_text`] makes it.
    pub time: &'a str,
    pub cpu: u32,
    pub tgid: u32,
    pub tid: u32,
    pub comm: &'a str,
    pub func: &'a str,
    pub message: &'a [u8],
}

/// The time column's text (BCC cuts it to the column's width).
pub fn time_text(col: TimeColumn, clock: &str, since_start: f64, unix: f64) -> String {
    match col {
        TimeColumn::Clock => clock.chars().take(8).collect(),
        TimeColumn::SinceStart => format!("{since_start:.6}").chars().take(8).collect(),
        TimeColumn::Unix => format!("{unix:.6}").chars().take(17).collect(),
    }
}

pub fn line(cols: &Columns, l: &Line<'_>, out: &mut Vec<u8>) {
    match cols.time {
        Some(TimeColumn::Unix) => {
            let _ = write!(out, "{:<17} ", l.time);
        }
        Some(_) => {
            let _ = write!(out, "{:<8} ", l.time);
        }
        None => {}
    }
    if cols.cpu {
        let _ = write!(out, "{:<3} ", l.cpu);
    }
    let _ = write!(
        out,
        "{:<7} {:<7} {:<15} {:<16} ",
        l.tgid, l.tid, l.comm, l.func
    );
    out.extend_from_slice(l.message);
    out.push(b'\n');
}

/// A stack under its line: each frame indented 8, its address first with
/// `-a`; a stack the kernel could not take is its error code, as BCC
/// prints it.
pub fn stack(frames: Result<&[(u64, String)], i32>, addresses: bool, out: &mut Vec<u8>) {
    match frames {
        Err(code) => {
            let _ = writeln!(out, "        {code}");
        }
        Ok(frames) => {
            for (addr, name) in frames {
                out.extend_from_slice(b"        ");
                if addresses {
                    let _ = write!(out, "{addr:16x} ");
                }
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_line_as_bcc_prints_them() {
        let cols = Columns::default();
        assert_eq!(
            header(&cols, true),
            "PID     TID     COMM            FUNC             -\n"
        );
        assert_eq!(
            header(&cols, false),
            "PID     TID     COMM            FUNC             \n"
        );
        let mut out = Vec::new();
        line(
            &cols,
            &Line {
                time: "",
                cpu: 0,
                tgid: 1234,
                tid: 1235,
                comm: "testprog",
                func: "trace_target",
                message: b"i=7 s=x",
            },
            &mut out,
        );
        assert_eq!(
            out,
            b"1234    1235    testprog        trace_target     i=7 s=x\n"
        );
    }

    #[test]
    fn time_and_cpu_columns() {
        let cols = Columns {
            time: Some(TimeColumn::SinceStart),
            cpu: true,
        };
        assert_eq!(
            header(&cols, true),
            "TIME     CPU PID     TID     COMM            FUNC             -\n"
        );
        let t = time_text(TimeColumn::SinceStart, "", 1.5, 0.0);
        assert_eq!(t, "1.500000");
        assert_eq!(
            time_text(TimeColumn::SinceStart, "", 123.25, 0.0),
            "123.2500"
        );
        assert_eq!(
            time_text(TimeColumn::Clock, "12:34:56", 0.0, 0.0),
            "12:34:56"
        );
        assert_eq!(
            time_text(TimeColumn::Unix, "", 0.0, 1_764_600_000.5),
            "1764600000.500000"
        );
        let mut out = Vec::new();
        line(
            &cols,
            &Line {
                time: &t,
                cpu: 1,
                tgid: 1,
                tid: 1,
                comm: "init",
                func: "f",
                message: b"",
            },
            &mut out,
        );
        assert_eq!(
            out,
            b"1.500000 1   1       1       init            f                \n"
        );
        let unix = Columns {
            time: Some(TimeColumn::Unix),
            cpu: false,
        };
        assert!(header(&unix, false).starts_with("TIME              PID"));
    }

    #[test]
    fn stacks_frame_by_frame() {
        let frames = [(0xffff_1234u64, "vfs_read+0x4 [kernel]".to_string())];
        let mut out = Vec::new();
        stack(Ok(&frames), false, &mut out);
        assert_eq!(out, b"        vfs_read+0x4 [kernel]\n");
        out.clear();
        stack(Ok(&frames), true, &mut out);
        assert_eq!(out, b"                ffff1234 vfs_read+0x4 [kernel]\n");
        out.clear();
        stack(Err(-14), false, &mut out);
        assert_eq!(out, b"        -14\n");
    }
}

//! stackcount's multi-line output, as BCC prints it: per stack, kernel
//! frames leaf first, `    --` between kernel and user frames with -d, user
//! frames leaf first, `    comm [pid]` with -P, the count, a blank line.

use std::fmt::Write;

use crate::stacks::{Frame, StackRow};

#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// -d: a delimiter between the kernel and the user stack.
    pub delimiter: bool,
    /// Both stacks are collected (neither -K nor -U): then the delimiter
    /// is printed even where the kernel stack is empty, as BCC does.
    pub both_stacks: bool,
    /// -s: `name+0xoffset`.
    pub offsets: bool,
    /// -v: the raw address before each frame.
    pub addresses: bool,
}

/// How BCC writes one frame name (`ksym`/`sym` with show_offset).
pub fn frame_name(frame: &Frame, offsets: bool) -> String {
    match (offsets, frame.offset) {
        (true, Some(off)) => format!("{}+{off:#x}", frame.name),
        _ => frame.name.clone(),
    }
}

pub fn render(rows: &[StackRow], time: Option<&str>, opts: TextOptions) -> String {
    let mut out = String::from("\n");
    if let Some(time) = time {
        let _ = writeln!(out, "{time:<8}");
    }
    let frame = |out: &mut String, f: &Frame| {
        out.push_str("  ");
        if opts.addresses {
            let _ = write!(out, "{:<16x} ", f.addr);
        }
        let _ = writeln!(out, "{}", frame_name(f, opts.offsets));
    };
    for row in rows {
        row.kernel.iter().for_each(|f| frame(&mut out, f));
        if opts.delimiter && opts.both_stacks {
            out.push_str("    --\n");
        }
        row.user.iter().for_each(|f| frame(&mut out, f));
        if let Some(pid) = row.pid {
            let _ = writeln!(out, "    {} [{pid}]", row.comm);
        }
        let _ = writeln!(out, "    {}\n", row.count);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::golden;

    pub(crate) fn sample_rows() -> Vec<StackRow> {
        let f = |name: &str, addr: u64, offset: u64| Frame {
            addr,
            name: name.into(),
            offset: Some(offset),
        };
        vec![
            StackRow {
                comm: "rtools-testprog".into(),
                pid: Some(4242),
                kernel: vec![],
                user: vec![
                    f("gamma", 0x5555_0000_1000, 0),
                    f("delta", 0x5555_0000_1100, 0x1d),
                    f("main", 0x5555_0000_1200, 0x80),
                ],
                count: 1009,
            },
            StackRow {
                comm: "rtools-testprog".into(),
                pid: Some(4242),
                kernel: vec![
                    f("__x64_sys_getppid", 0xffff_ffff_8100_0000, 0x4),
                    f("do_syscall_64", 0xffff_ffff_8100_1000, 0x55),
                ],
                user: vec![
                    f("getppid", 0x7f00_0000_0000, 0xb),
                    f("main", 0x5555_0000_1200, 0x80),
                ],
                count: 3001,
            },
        ]
    }

    #[test]
    fn text_layout_matches_the_golden_files() {
        let rows = sample_rows();
        golden::check(
            "stack_text_plain.txt",
            &render(&rows, None, TextOptions::default()),
        );
        let all = TextOptions {
            delimiter: true,
            both_stacks: true,
            offsets: true,
            addresses: true,
        };
        golden::check(
            "stack_text_all_options.txt",
            &render(&rows, Some("12:34:56"), all),
        );
    }

    #[test]
    fn the_delimiter_needs_both_stacks() {
        let rows = sample_rows();
        let delimiter_only = TextOptions {
            delimiter: true,
            ..TextOptions::default()
        };
        assert!(!render(&rows, None, delimiter_only).contains("    --"));
        let both = TextOptions {
            delimiter: true,
            both_stacks: true,
            ..TextOptions::default()
        };
        assert_eq!(render(&rows, None, both).matches("    --\n").count(), 2);
    }
}

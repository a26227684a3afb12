//! funccount's table, as BCC prints it:
//! `print("%-36s %8s" % ("FUNC", "COUNT"))`, rows `"%-36s %8d"`.

use std::fmt::Write;

use crate::count::{CountRow, GroupBy};

/// One interval's table: a blank line, the time with `-T`, the heading,
/// then the rows. With `-P`/`--by` the group columns sit between FUNC and
/// COUNT.
pub fn render(rows: &[CountRow], group_by: GroupBy, time: Option<&str>) -> String {
    let mut out = String::from("\n");
    if let Some(time) = time {
        let _ = writeln!(out, "{time:<8}");
    }
    let _ = writeln!(
        out,
        "{}",
        line("FUNC", group_by, group_by.name_heading(), "", "COUNT")
    );
    for row in rows {
        let comm = row.comm.as_deref().unwrap_or("");
        let id = row.id.map(|id| id.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}",
            line(&row.func, group_by, comm, &id, &row.count.to_string())
        );
    }
    out
}

fn line(func: &str, group_by: GroupBy, comm: &str, id: &str, count: &str) -> String {
    let mut s = format!("{func:<36}");
    if group_by == GroupBy::Cgroup {
        let _ = write!(s, " {comm:<40}");
    } else if group_by.has_comm() {
        let _ = write!(s, " {comm:<16}");
    }
    if let Some(heading) = group_by.id_heading() {
        let id = if id.is_empty() { heading } else { id };
        let _ = write!(s, " {id:>7}");
    }
    let _ = write!(s, " {count:>8}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(func: &str, comm: Option<&str>, id: Option<u32>, count: u64) -> CountRow {
        CountRow {
            func: func.to_string(),
            comm: comm.map(str::to_string),
            id,
            count,
        }
    }

    #[test]
    fn plain_table_matches_bcc() {
        let rows = [
            row("vfs_write", None, None, 3),
            row("vfs_read", None, None, 22),
        ];
        let expected = "\n\
FUNC                                    COUNT\n\
vfs_write                                   3\n\
vfs_read                                   22\n";
        assert_eq!(render(&rows, GroupBy::None, None), expected);
    }

    #[test]
    fn timestamp_line_comes_first() {
        let out = render(&[], GroupBy::None, Some("12:34:56"));
        assert_eq!(
            out,
            "\n12:34:56\nFUNC                                    COUNT\n"
        );
    }

    #[test]
    fn per_process_columns() {
        let rows = [row("sys_enter_getppid", Some("bash"), Some(4242), 7919)];
        let out = render(&rows, GroupBy::Pid, None);
        let expected = "\n\
FUNC                                 COMM                 PID    COUNT\n\
sys_enter_getppid                    bash                4242     7919\n";
        assert_eq!(out, expected);
        let out = render(&[row("f", None, Some(1), 5)], GroupBy::Cpu, None);
        assert_eq!(out, "\nFUNC                                     CPU    COUNT\nf                                          1        5\n");
    }
}

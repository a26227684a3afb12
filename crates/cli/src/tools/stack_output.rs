//! stackcount's printing: each interval's stacks (BCC's text, folded,
//! JSON), the flame graph, and the report of stacks not counted.

use anyhow::Context;
use rtools_bpf::stack::StackCounter;
use rtools_core::render::{flamegraph, stack_folded, stack_json, stack_text};
use rtools_core::stacks::StackRow;

use crate::error::usage;
use crate::output;
use crate::output::say;
use crate::tools::stackcount::StackcountArgs;

pub fn print_interval(args: &StackcountArgs, rows: &[StackRow], lost: u64) {
    let (time, timestamp) = output::now();
    if args.common.json {
        output::stdout(&(stack_json::render(rows, &args.pattern, &time, timestamp, lost) + "\n"));
    } else if args.folded {
        output::stdout(&stack_folded::render(rows, folded_delimiter(args)));
    } else {
        let opts = stack_text::TextOptions {
            delimiter: args.delimited,
            both_stacks: !args.user_stacks_only && !args.kernel_stacks_only,
            offsets: args.offset,
            addresses: args.common.verbose,
        };
        output::stdout(&stack_text::render(
            rows,
            args.intervals.timestamp.then_some(time.as_str()),
            opts,
        ));
    }
}

/// Whether folded lines carry BCC's `-` between user and kernel frames:
/// with -d where both kinds are taken, whether or not one is empty.
fn folded_delimiter(args: &StackcountArgs) -> bool {
    args.delimited && !args.user_stacks_only && !args.kernel_stacks_only
}

/// Fails before tracing, not after, when the flame graph can't be written.
pub fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let existed = path.exists();
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => usage(format!(
            "cannot write the flame graph to {}: {e}: give a writable --flamegraph path",
            path.display()
        )),
    }
}

pub fn write_flamegraph(
    path: &std::path::Path,
    rows: &[StackRow],
    args: &StackcountArgs,
) -> anyhow::Result<()> {
    let lines: Vec<String> = rows
        .iter()
        .map(|r| stack_folded::line(r, folded_delimiter(args)))
        .collect();
    let title = format!("stackcount {}", args.pattern);
    let svg = flamegraph::svg(&lines, &title).map_err(anyhow::Error::msg)?;
    std::fs::write(path, svg)
        .with_context(|| format!("writing the flame graph to {}", path.display()))?;
    say!(
        "stackcount: wrote {} ({} stacks)",
        path.display(),
        rows.len()
    );
    Ok(())
}

/// One line on stderr if any stack could not be recorded.
pub fn report_lost(counter: &StackCounter<'_>) -> anyhow::Result<()> {
    let lost = counter.lost()?;
    if lost.total() > 0 {
        say!(
            "stackcount: warning: {} stacks lost: {} hash collisions and {} with the stack map full \
             (counted under [lost stack: ...]; raise --stack-storage-size), {} unreadable, \
             {} with the count table full, {} copied stacks with the ring buffer full \
             (raise --copy-buffer-size)",
            lost.total(),
            lost.collisions,
            lost.map_full,
            lost.unreadable,
            lost.table_full,
            lost.samples_full
        );
    }
    Ok(())
}

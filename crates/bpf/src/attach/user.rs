//! User functions: uprobe.multi links of up to 128 functions (made by the
//! link keeper, keeper.rs, where there is one), else a uprobe each.

use std::os::fd::AsFd;
use std::path::PathBuf;

use libbpf_rs::{UprobeMultiOpts, UprobeOpts};
use rtools_core::targets::{Attach, Target};

use super::multi::{attach_split, SplitError};
use super::{AttachOptions, Attached, Programs, Step};
use crate::error::BpfError;
use crate::keeper;
use crate::kernel_probes;
use crate::links::Attachment;

/// Uprobes per uprobe.multi link: one link's attach is one system call
/// that cannot be interrupted, so thousands go in batches.
const UPROBE_BATCH: usize = keeper::MAX_BATCH;

/// A uprobe target's file offset and its USDT semaphore's (0: none).
fn uprobe_offsets(target: &Target) -> (usize, usize) {
    match &target.attach {
        Attach::Uprobe {
            offset, ref_ctr, ..
        } => (*offset as usize, *ref_ctr as usize),
        _ => unreachable!("uprobe groups hold uprobe targets"),
    }
}

/// uprobe.multi links of [`UPROBE_BATCH`] functions where the kernel has
/// them, else one uprobe per function (and for USDT sites with a
/// semaphore, which the keeper's links do not carry). Interruptible
/// between links.
pub(super) fn attach_uprobes(
    progs: &Programs<'_, '_>,
    targets: &[Target],
    binary: &PathBuf,
    ret: bool,
    slots: &[usize],
    opts: &AttachOptions,
    out: &mut Attached,
) -> Result<(), BpfError> {
    let pid = opts.pid.map_or(-1, |p| p as i32);
    let how = if ret { "uretprobe" } else { "uprobe" };
    let mut single = slots.to_vec();
    let semaphores = slots.iter().any(|&s| uprobe_offsets(&targets[s]).1 != 0);
    if let (true, false, Some(uprobe_multi)) = (
        kernel_probes::uprobe_multi(),
        semaphores,
        progs.uprobe_multi,
    ) {
        single.clear();
        for (i, batch) in slots.chunks(UPROBE_BATCH).enumerate() {
            let split = attach_split(batch, &opts.stop, |batch| {
                let offsets: Vec<u64> = batch
                    .iter()
                    .map(|&s| uprobe_offsets(&targets[s]).0 as u64)
                    .collect();
                let cookies: Vec<u64> = batch.iter().map(|&s| s as u64).collect();
                // Through the keeper where there is one (see keeper.rs).
                let prog = uprobe_multi.as_fd();
                if let Some(made) =
                    keeper::uprobe_multi(prog, binary, &offsets, &cookies, ret, pid.max(0) as u32)
                {
                    return Ok(Attachment::Fd(made?));
                }
                let opts = UprobeMultiOpts {
                    offsets: offsets.iter().map(|&o| o as usize).collect(),
                    cookies,
                    retprobe: ret,
                    ..Default::default()
                };
                let link = uprobe_multi.attach_uprobe_multi_with_opts(pid, binary, "", opts)?;
                Ok(Attachment::Libbpf(link))
            });
            match split {
                Ok(split) => out.split(targets, split, &format!("{how}.multi")),
                Err(SplitError::Interrupted) => return Err(BpfError::Interrupted),
                // The mechanism is missing: every function on its own.
                Err(SplitError::Unsupported(e)) if i == 0 => {
                    out.plan.push(Step::OneEach { how, error: e.text });
                    single = slots.to_vec();
                    break;
                }
                Err(SplitError::Unsupported(e)) => {
                    batch
                        .iter()
                        .for_each(|&s| out.skipped(&targets[s], e.clone()));
                }
            }
        }
    }
    for slot in single {
        opts.stop.check()?;
        let Some(uprobe) = progs.uprobe else {
            out.skipped(&targets[slot], super::NOT_FOR_THIS_TOOL);
            continue;
        };
        let (offset, ref_ctr_offset) = uprobe_offsets(&targets[slot]);
        let opts = UprobeOpts {
            cookie: slot as u64,
            retprobe: ret,
            ref_ctr_offset,
            ..Default::default()
        };
        match uprobe.attach_uprobe_with_opts(pid, binary, offset, opts) {
            Ok(link) => {
                out.link(Attachment::Libbpf(link));
                out.planned(slot, &targets[slot], how);
            }
            Err(e) => out.skipped(&targets[slot], &e),
        }
    }
    Ok(())
}

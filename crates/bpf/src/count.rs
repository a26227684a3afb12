//! The counting program (count.bpf.c): load it, attach it to every target,
//! read the totals.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, OpenObject};
use rtools_core::count::{CountKey, GroupBy};
use rtools_core::targets::Target;

use crate::attach::{self, event_programs, set_autoload, AttachOptions, Attached, Needs};
use crate::error::{map_error, BpfError};
use crate::exited;
use crate::map_types;
use crate::percpu;
use crate::skel::count::{types, CountSkel, CountSkelBuilder};
use crate::task_filters::{open_filtered, TaskFilters};

/// count.h's `enum group_by`, as the skeleton generates it.
fn group_code(group_by: GroupBy) -> types::group_by {
    match group_by {
        GroupBy::None => types::group_by::GROUP_NONE,
        GroupBy::Comm => types::group_by::GROUP_COMM,
        GroupBy::Pid => types::group_by::GROUP_PID,
        GroupBy::Tid => types::group_by::GROUP_TID,
        GroupBy::Cpu => types::group_by::GROUP_CPU,
        GroupBy::Cgroup => types::group_by::GROUP_CGROUP,
    }
}

#[derive(Debug, Clone, Default)]
pub struct CountConfig {
    pub filters: TaskFilters,
    pub group_by: GroupBy,
    /// Whether the counts of exited processes stay in the totals (the
    /// summaries' sum) or are forgotten (an exporter's series end).
    pub keep_exited: bool,
    pub attach: AttachOptions,
}

/// A loaded and attached counting program.
pub struct Counter<'obj> {
    skel: CountSkel<'obj>,
    attached: Attached,
    slots: u32,
    group_by: GroupBy,
    keep_exited: bool,
    /// Counts of the keys of exited processes, moved out of the map.
    retired: HashMap<CountKey, u64>,
}

impl<'obj> Counter<'obj> {
    /// Loads the program for `targets` and attaches it to each of them.
    pub fn start(
        storage: &'obj mut MaybeUninit<OpenObject>,
        targets: &[Target],
        config: &CountConfig,
    ) -> Result<Counter<'obj>, BpfError> {
        let load_err = BpfError::Load;
        let mut open = open_filtered!(CountSkelBuilder, storage, &config.filters, |rodata| {
            rodata.group_by = group_code(config.group_by);
            rodata.single_slot = targets.len() == 1;
        });
        let slots = targets.len() as u32;
        open.maps
            .counts
            .set_max_entries(slots.max(1))
            .map_err(load_err)?;
        // Distinct (probe, group) pairs held before further ones are
        // counted as lost; keys of exited processes are retired.
        let groups = if config.group_by == GroupBy::None {
            1
        } else {
            exited::max_keys()
        };
        open.maps
            .group_counts
            .set_max_entries(groups)
            .map_err(load_err)?;

        let needs = Needs::of(targets);
        set_autoload!(open.progs, needs);
        open.progs
            .rt_template
            .set_autoload(needs.kernel || needs.raw_tracepoint_template);
        let skel = open.load().map_err(load_err)?;
        config.filters.apply_cgroup(&skel.maps.cgroup_filter)?;

        let programs = event_programs!(skel, rt_template);
        let attached = attach::attach_all(&programs, targets, &config.attach)?;
        Ok(Counter {
            skel,
            attached,
            slots,
            group_by: config.group_by,
            keep_exited: config.keep_exited,
            retired: HashMap::new(),
        })
    }

    pub fn attached(&self) -> &Attached {
        &self.attached
    }

    /// Every counter's total since attach.
    pub fn totals(&self) -> Result<HashMap<CountKey, u64>, BpfError> {
        if self.group_by == GroupBy::None {
            self.slot_totals()
        } else {
            self.group_totals()
        }
    }

    fn slot_totals(&self) -> Result<HashMap<CountKey, u64>, BpfError> {
        let map = &self.skel.maps.counts;
        (0..self.slots)
            .map(|slot| {
                let total = percpu::sum_at(map, slot, "counts")?;
                let key = CountKey {
                    slot,
                    ..CountKey::default()
                };
                Ok((key, total))
            })
            .collect()
    }

    fn group_totals(&self) -> Result<HashMap<CountKey, u64>, BpfError> {
        let map = &self.skel.maps.group_counts;
        let mut totals = self.retired.clone();
        for raw in map.keys() {
            let total = percpu::sum(map, &raw, "group_counts")?;
            *totals.entry(parse_group_key(&raw)).or_insert(0) += total;
        }
        Ok(totals)
    }

    /// Moves the counts of processes (threads with `--by tid`) that have
    /// exited out of the map, so that it never fills up with the dead; the
    /// totals keep them unless `keep_exited` is off. Returns how many keys
    /// were retired.
    pub fn retire_exited(&mut self) -> Result<usize, BpfError> {
        if !matches!(self.group_by, GroupBy::Pid | GroupBy::Tid) {
            return Ok(0);
        }
        let map = &self.skel.maps.group_counts;
        let gone: Vec<Vec<u8>> = map
            .keys()
            .filter(|raw| !exited::alive(parse_group_key(raw).id))
            .collect();
        for raw in &gone {
            // The process is gone: nothing adds to its counter any more.
            let total = percpu::sum(map, raw, "group_counts")?;
            map.delete(raw).map_err(map_error("group_counts"))?;
            if self.keep_exited {
                *self.retired.entry(parse_group_key(raw)).or_insert(0) += total;
            }
        }
        Ok(gone.len())
    }

    /// Events that found the grouped counters full.
    pub fn lost(&self) -> Result<u64, BpfError> {
        percpu::sum_at(&self.skel.maps.lost, 0, "lost")
    }

    /// Detaches everything (in parallel) and unloads; returns the time the
    /// detach took.
    /// Detaches every probe; the maps stay readable (the final summary
    /// is read after, so rtools' own work no longer feeds the probes).
    pub fn stop(&mut self) -> std::time::Duration {
        self.attached.links.detach()
    }

    pub fn detach(mut self) -> std::time::Duration {
        let took = self.stop();
        drop(self.skel);
        took
    }
}

/// The map's `struct group_key` (count.h), through the generated type.
fn parse_group_key(raw: &[u8]) -> CountKey {
    let key: types::group_key =
        map_types::read(raw).expect("group_counts' keys are struct group_key");
    CountKey {
        slot: key.slot,
        id: key.id,
        comm: map_types::comm(&key.comm),
        cgroup: key.cgroup,
    }
}

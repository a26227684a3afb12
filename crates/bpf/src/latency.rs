//! The latency program (latency.bpf.c): entry and return probes on every
//! matched function, log2 histograms per function.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};
use rtools_core::hist::{Histogram, BUCKETS};
use rtools_core::targets::{Attach, Target};

use crate::attach::{self, AttachOptions, Attached, Needs, Programs, Step};
use crate::error::{map_error, BpfError};
use crate::exited;
use crate::map_types::{self, array_len};
use crate::percpu;
use crate::skel::latency::{types, LatencySkel, LatencySkelBuilder};
use crate::task_filters::{open_filtered, TaskFilters};

/// How many nested calls a thread's stack times (latency.h's MAX_NEST).
pub const MAX_NEST: usize = array_len!(types::entry_stack, slots);

// latency.h's BUCKETS must be the log2 histogram's.
const _: () = assert!(array_len!(types::pid_hist, buckets) == BUCKETS);

#[derive(Debug, Clone)]
pub struct LatencyConfig {
    pub filters: TaskFilters,
    /// Histograms per function and process (BCC's sections for user
    /// functions), read with [`LatencyCounter::pid_histograms`].
    pub per_pid: bool,
    /// 1, 1000 or 1000000: the unit of the histograms, in nanoseconds.
    pub unit_ns: u64,
    pub attach: AttachOptions,
}

/// Calls not timed since attach, by reason (latency.h's `enum latency_lost`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    pub no_entry: u64,
    pub missed_returns: u64,
    pub too_deep: u64,
    pub table_full: u64,
}

/// A per-process histogram's key: (slot, tgid).
pub type PidSlot = (u32, u32);

pub struct LatencyCounter<'obj> {
    skel: LatencySkel<'obj>,
    per_pid: bool,
    /// Histograms of exited processes, moved out of `pid_hists`.
    retired: HashMap<PidSlot, Histogram>,
    _thread_exit: libbpf_rs::Link,
    returns: Attached,
    entries: Attached,
    slots: u32,
}

/// The targets again, as return probes.
fn returns_of(targets: &[Target]) -> Vec<Target> {
    targets
        .iter()
        .map(|t| {
            let mut t = t.clone();
            match &mut t.attach {
                Attach::Kernel { ret, .. } | Attach::Uprobe { ret, .. } => *ret = true,
                _ => {}
            }
            t
        })
        .collect()
}

impl<'obj> LatencyCounter<'obj> {
    /// Loads the program and attaches return probes, then entry probes, to
    /// every target (functions only).
    pub fn start(
        storage: &'obj mut MaybeUninit<OpenObject>,
        targets: &[Target],
        config: &LatencyConfig,
    ) -> Result<LatencyCounter<'obj>, BpfError> {
        let load_err = BpfError::Load;
        let mut open = open_filtered!(LatencySkelBuilder, storage, &config.filters, |rodata| {
            rodata.unit_ns = config.unit_ns;
            rodata.per_pid = config.per_pid;
        });
        let slots = targets.len() as u32;
        open.maps
            .hist
            .set_max_entries(slots * BUCKETS as u32)
            .map_err(load_err)?;
        open.maps
            .total_ns
            .set_max_entries(slots.max(1))
            .map_err(load_err)?;
        open.maps
            .lost
            .set_max_entries(types::latency_lost::LATENCY_LOST_REASONS.0)
            .map_err(load_err)?;
        let pid_keys = if config.per_pid {
            exited::max_keys()
        } else {
            1
        };
        open.maps
            .pid_hists
            .set_max_entries(pid_keys)
            .map_err(load_err)?;

        let needs = Needs::of(targets);
        let p = &mut open.progs;
        for (prog, wanted) in [
            (&mut p.latency_entry_kprobe, needs.kernel),
            (&mut p.latency_return_kprobe, needs.kernel),
            (&mut p.latency_entry_kprobe_multi, needs.kernel),
            (&mut p.latency_return_kprobe_multi, needs.kernel),
            (&mut p.latency_entry_tracing, needs.kernel),
            (&mut p.latency_return_tracing, needs.kernel),
            (&mut p.latency_entry_uprobe, needs.uprobe),
            (&mut p.latency_return_uprobe, needs.uprobe),
            (&mut p.latency_entry_uprobe_multi, needs.uprobe_multi),
            (&mut p.latency_return_uprobe_multi, needs.uprobe_multi),
        ] {
            prog.set_autoload(wanted);
        }
        let skel = open.load().map_err(load_err)?;
        config.filters.apply_cgroup(&skel.maps.cgroup_filter)?;

        let p = &skel.progs;
        let programs = |entry: bool| {
            let pick = |e, r| Some(if entry { e } else { r });
            Programs {
                kprobe: pick(&p.latency_entry_kprobe, &p.latency_return_kprobe),
                kprobe_multi: pick(
                    &p.latency_entry_kprobe_multi,
                    &p.latency_return_kprobe_multi,
                ),
                tracing_template: pick(&p.latency_entry_tracing, &p.latency_return_tracing),
                uprobe: pick(&p.latency_entry_uprobe, &p.latency_return_uprobe),
                uprobe_multi: pick(
                    &p.latency_entry_uprobe_multi,
                    &p.latency_return_uprobe_multi,
                ),
                ..Programs::default()
            }
        };
        // Threads' call stacks are freed as threads exit.
        let thread_exit =
            skel.progs
                .latency_thread_exit
                .attach()
                .map_err(|source| BpfError::AttachFor {
                    what: "sched:sched_process_exit".into(),
                    source,
                })?;
        // Returns first: every entry timed from now on has its return probe.
        let returns = attach::attach_all(&programs(false), &returns_of(targets), &config.attach)?;
        let entries = attach::attach_all(&programs(true), targets, &config.attach)?;
        Ok(LatencyCounter {
            skel,
            per_pid: config.per_pid,
            retired: HashMap::new(),
            _thread_exit: thread_exit,
            returns,
            entries,
            slots,
        })
    }

    /// The entry attachments (plan, warnings); returns mirror them.
    pub fn attached(&self) -> &Attached {
        &self.entries
    }

    pub fn return_plan(&self) -> &[Step] {
        &self.returns.plan
    }

    /// Every function's histogram since attach, by slot.
    pub fn histograms(&self) -> Result<Vec<Histogram>, BpfError> {
        (0..self.slots)
            .map(|slot| {
                let mut hist = Histogram {
                    total_ns: percpu::sum_at(&self.skel.maps.total_ns, slot, "total_ns")?,
                    ..Histogram::default()
                };
                for (b, bucket) in hist.buckets.iter_mut().enumerate() {
                    *bucket = percpu::sum_at(
                        &self.skel.maps.hist,
                        slot * BUCKETS as u32 + b as u32,
                        "hist",
                    )?;
                }
                Ok(hist)
            })
            .collect()
    }

    /// Every (slot, process) histogram since attach (with `per_pid`).
    pub fn pid_histograms(&self) -> Result<HashMap<PidSlot, Histogram>, BpfError> {
        let mut all = self.retired.clone();
        for (key, hist) in self.read_pid_hists(|_| true)? {
            all.entry(key).or_default().add(&hist);
        }
        Ok(all)
    }

    /// Moves the histograms of processes that have exited out of the map,
    /// so that it never fills up with the dead; the totals keep them. A
    /// no-op without per-process histograms.
    pub fn retire_exited(&mut self) -> Result<usize, BpfError> {
        if !self.per_pid {
            return Ok(0);
        }
        let gone = self.read_pid_hists(|(_, tgid)| !exited::alive(tgid))?;
        for ((slot, tgid), hist) in &gone {
            let raw = [slot.to_ne_bytes(), tgid.to_ne_bytes()].concat();
            self.skel
                .maps
                .pid_hists
                .delete(&raw)
                .map_err(map_error("pid_hists"))?;
            self.retired.entry((*slot, *tgid)).or_default().add(hist);
        }
        Ok(gone.len())
    }

    /// The histograms in `pid_hists` whose (slot, tgid) passes `wanted`,
    /// summed over CPUs.
    fn read_pid_hists(
        &self,
        wanted: impl Fn(PidSlot) -> bool,
    ) -> Result<Vec<(PidSlot, Histogram)>, BpfError> {
        let map = &self.skel.maps.pid_hists;
        let mut out = Vec::new();
        for raw in map.keys() {
            let key: types::pid_key =
                map_types::read(&raw).expect("pid_hists' keys are struct pid_key");
            let key = (key.slot, key.tgid);
            if !wanted(key) {
                continue;
            }
            let values = map
                .lookup_percpu(&raw, MapFlags::ANY)
                .map_err(map_error("pid_hists"))?
                .unwrap_or_default();
            let mut hist = Histogram::default();
            for cpu in &values {
                let value: types::pid_hist =
                    map_types::read(cpu).expect("pid_hists' values are struct pid_hist");
                for (sum, n) in hist.buckets.iter_mut().zip(value.buckets) {
                    *sum += n;
                }
                hist.total_ns += value.total_ns;
            }
            out.push((key, hist));
        }
        Ok(out)
    }

    pub fn lost(&self) -> Result<Lost, BpfError> {
        let reason = |i: types::latency_lost| percpu::sum_at(&self.skel.maps.lost, i.0, "lost");
        Ok(Lost {
            no_entry: reason(types::latency_lost::LOST_NO_ENTRY)?,
            missed_returns: reason(types::latency_lost::LOST_MISSED_RETURN)?,
            too_deep: reason(types::latency_lost::LOST_TOO_DEEP)?,
            table_full: reason(types::latency_lost::LOST_TABLE_FULL)?,
        })
    }

    /// Detaches every probe, entries first; the maps stay readable (the
    /// final summary is read after).
    pub fn stop(&mut self) -> std::time::Duration {
        self.entries.links.detach() + self.returns.links.detach()
    }

    pub fn detach(mut self) -> std::time::Duration {
        let took = self.stop();
        drop(self.skel);
        took
    }
}

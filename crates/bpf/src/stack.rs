//! The stack-counting program (stack.bpf.c): load, attach, read the
//! counted stacks as raw addresses.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::rc::Rc;

use libbpf_rs::libbpf_sys::BPF_STACK_BUILD_ID_VALID;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};
use rtools_core::stacks;
use rtools_core::targets::{Attach, Target};

use crate::attach::{self, event_programs, set_autoload, AttachOptions, Attached, Needs};
use crate::error::{map_error, BpfError};
use crate::exited;
use crate::map_types;
use crate::percpu;
use crate::skel::stack::{types, StackSkel, StackSkelBuilder};
use crate::stack_samples::{self, SampledKey, Samples, UserUnwind};
use crate::symbolize::Symbols;
use crate::task_filters::{open_filtered, TaskFilters};

/// BCC's default stack map size.
pub const DEFAULT_STACK_STORAGE: u32 = 16384;
/// The most frames the kernel will unwind (PERF_MAX_STACK_DEPTH).
pub const MAX_DEPTH: u32 = 127;

/// The most user stacks kept as build ids (each up to 4 KB).
const MAX_BUILD_ID_STACKS: u32 = 16384;

/// The user stack copied per event by default (--stack-copy-size), and the
/// most (the program's STACK_COPY_MAX).
pub const DEFAULT_STACK_COPY: u32 = 16384;
pub const MAX_STACK_COPY: u32 = types::stack_copy::STACK_COPY_MAX.0;

/// The copied stacks' ring buffer by default: about 1,000 copies of the
/// default size, 500 of the largest.
pub const DEFAULT_COPY_BUFFER: u32 = 16 << 20;

/// The bytes of stack copied for --stack-copy-size `asked`: whole pages
/// (the program reads pages from the one the stack pointer is on).
pub fn copy_size(asked: u32) -> u32 {
    asked
        .clamp(1, MAX_STACK_COPY)
        .next_multiple_of(rtools_core::arch::PAGE_SIZE)
}

/// The ring-buffer room one copied stack takes: the record (its header and
/// the copy) and the ring buffer's own 8-byte header.
pub fn copy_record_size(stack_copy: u32) -> u32 {
    let head = std::mem::offset_of!(types::user_sample, stack) as u32;
    (head + copy_size(stack_copy)).next_multiple_of(8) + 8
}

/// The most records one wakeup takes from the ring buffers: a flood of
/// events then still leaves the loop to print, sweep and stop.
const RECORDS_PER_WAKE: usize = 4096;

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub filters: TaskFilters,
    pub kernel: bool,
    pub user: bool,
    pub storage_size: u32,
    pub max_depth: u32,
    /// How user stacks are walked, and how much of each is copied where
    /// they are unwound in user space.
    pub unwind: UserUnwind,
    pub stack_copy: u32,
    /// The ring buffer the copies go through: a power of two, pages.
    pub copy_buffer: u32,
    pub attach: AttachOptions,
}

/// One counted stack, before symbolization; frames leaf first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawStack {
    pub slot: u32,
    pub tgid: u32,
    pub comm: String,
    pub kernel: Vec<u64>,
    pub user: Vec<u64>,
    /// The return address at the stack pointer of an entry uprobe.
    pub entry_return: u64,
    /// Where the stack map could not take a stack: the marker frame it is
    /// counted under (`stacks::lost_marker`).
    pub kernel_lost: Option<&'static str>,
    pub user_lost: Option<&'static str>,
    /// Where a user stack unwound from a copy ended early: the marker
    /// frame that goes after its outermost frame.
    pub user_end: Option<&'static str>,
    /// The user stack as (build id, file offset) frames, leaf first, where
    /// the kernel could tell them (None for a frame it could not): how a
    /// process that exited before its mappings were read is symbolized.
    pub user_files: Vec<Option<FileFrame>>,
    /// How many times the process had run exec when a copied stack was
    /// taken: which of its images it ran (None for the stack map's, which
    /// do not say: the process's latest mappings name them).
    pub execs: Option<u32>,
}

/// A frame as the file it ran from, named by build id, and the offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileFrame {
    pub build_id: Vec<u8>,
    pub offset: u64,
}

/// Stacks not counted, by reason (stack.h's `enum lost_reason`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    pub collisions: u64,
    pub map_full: u64,
    pub unreadable: u64,
    pub table_full: u64,
    /// Copied stacks the ring buffer had no room for.
    pub samples_full: u64,
}

impl Lost {
    pub fn total(&self) -> u64 {
        self.collisions + self.map_full + self.unreadable + self.table_full + self.samples_full
    }
}

pub struct StackCounter<'obj> {
    skel: StackSkel<'obj>,
    /// With copied stacks: rt_exec's link (execs counted while it lives).
    _execs: Option<Link>,
    attached: Attached,
    /// Counts of the stacks of exited processes, moved out of the map.
    retired: HashMap<RawStack, u64>,
    /// The ring buffers: the processes the program sees for the first
    /// time (its `new_pids` map, into `seen`) and the copied stacks.
    rings: RingBuffer<'static>,
    seen: Rc<RefCell<Vec<u32>>>,
    /// With --user-stacks dwarf or auto: the copied stacks, counted.
    samples: Option<Samples>,
}

impl<'obj> StackCounter<'obj> {
    /// Loads and attaches. With -p and copied stacks the process is set up
    /// first (its mappings captured in `symbols`): its copies stop at its
    /// stack's end from the first, and under auto all its events take the
    /// walk it needs.
    pub fn start(
        storage: &'obj mut MaybeUninit<OpenObject>,
        targets: &[Target],
        config: &StackConfig,
        symbols: &mut Symbols,
    ) -> Result<StackCounter<'obj>, BpfError> {
        symbols.know_files(targets.iter().filter_map(|t| match &t.attach {
            Attach::Uprobe { binary, .. } | Attach::Usdt { binary, .. } => Some(binary.as_path()),
            _ => None,
        }));
        let load_err = BpfError::Load;
        let mut open = open_filtered!(StackSkelBuilder, storage, &config.filters, |rodata| {
            rodata.kernel_stacks = config.kernel;
            rodata.user_stacks = config.user;
            rodata.unwind_mode = match config.unwind {
                UserUnwind::FramePointers => types::user_unwind::UNWIND_FP,
                UserUnwind::Dwarf => types::user_unwind::UNWIND_DWARF,
                UserUnwind::Auto => types::user_unwind::UNWIND_AUTO,
            };
            rodata.stack_copy_size = copy_size(config.stack_copy);
            // Woken an eighth full: room left for the time the loader
            // takes to wake.
            rodata.samples_wake_bytes = u64::from(config.copy_buffer / 8);
        });
        open.maps
            .counts
            // Distinct (probe, process, stacks) keys counted before further
            // ones are reported lost; keys of exited processes are retired.
            .set_max_entries(exited::max_keys())
            .map_err(load_err)?;
        let traces = &mut open.maps.stack_traces;
        traces
            .set_max_entries(config.storage_size)
            .map_err(load_err)?;
        traces
            .set_value_size(config.max_depth.clamp(1, MAX_DEPTH) * 8)
            .map_err(load_err)?;
        open.maps
            .lost
            .set_max_entries(types::lost_reason::LOST_REASONS.0)
            .map_err(load_err)?;
        // Entries are made only for new (process, stack) keys and are not
        // preallocated (4 KB each); retired with their keys.
        open.maps
            .build_ids
            .set_max_entries(exited::max_keys().min(MAX_BUILD_ID_STACKS))
            .map_err(load_err)?;

        let sampling = config.user && config.unwind != UserUnwind::FramePointers;
        if sampling {
            open.maps
                .user_samples
                .set_max_entries(config.copy_buffer)
                .map_err(load_err)?;
        }

        let needs = Needs::of(targets);
        set_autoload!(open.progs, needs);
        open.progs
            .rt_tracing
            .set_autoload(needs.kernel || needs.raw_tracepoint_template);
        open.progs.rt_exec.set_autoload(sampling);
        let skel = open.load().map_err(load_err)?;
        config.filters.apply_cgroup(&skel.maps.cgroup_filter)?;

        let seen = Rc::new(RefCell::new(Vec::new()));
        let samples = sampling
            .then(|| Samples::new(config.unwind, config.max_depth.clamp(1, MAX_DEPTH) as usize));
        let rings = ring_buffers(&skel, Rc::clone(&seen), samples.as_ref())?;
        // Execs counted from before the first event: a process that runs
        // one is set up again before its next stack is unwound.
        let execs = sampling
            .then(|| skel.progs.rt_exec.attach())
            .transpose()
            .map_err(|source| BpfError::AttachFor {
                what: "sched:sched_process_exec".into(),
                source,
            })?;
        let mut counter = StackCounter {
            skel,
            _execs: execs,
            attached: Attached::default(),
            retired: HashMap::new(),
            rings,
            seen,
            samples,
        };
        if let (Some(samples), Some(pid)) = (&mut counter.samples, config.filters.pid) {
            samples.set_up(pid, symbols);
            counter.hand_over_processes()?;
        }
        let programs = event_programs!(counter.skel, rt_tracing);
        counter.attached = attach::attach_all(&programs, targets, &config.attach)?;
        Ok(counter)
    }

    pub fn attached(&self) -> &Attached {
        &self.attached
    }

    /// Readable when the program has announced new processes or sent
    /// copied stacks.
    pub fn announcements_fd(&self) -> RawFd {
        self.rings.epoll_fd()
    }

    /// Takes what the ring buffers hold (a bounded number of records: call
    /// again while the fd is readable), and returns the processes the
    /// program saw for the first time, so their maps can be read while
    /// they live.
    pub fn new_processes(&self) -> Vec<u32> {
        let _ = self.rings.consume_raw_n(RECORDS_PER_WAKE);
        self.seen.borrow_mut().drain(..).collect()
    }

    /// Unwinds and counts the copied stacks taken so far (all that the
    /// ring buffer holds when `drain`), with the mappings `symbols`
    /// captured; under auto, hands the program the processes that need no
    /// copies.
    pub fn count_samples(&mut self, symbols: &mut Symbols, drain: bool) -> Result<(), BpfError> {
        let Some(samples) = &mut self.samples else {
            return Ok(());
        };
        loop {
            // Stopped at a new process's record: set it up, read on.
            let taken = self.rings.consume_raw_n(RECORDS_PER_WAKE);
            samples.count(symbols);
            if taken != stack_samples::STOP && (!drain || taken < RECORDS_PER_WAKE as i32) {
                break;
            }
        }
        self.hand_over_processes()
    }

    /// Tells the program which processes the kernel can walk (auto), and
    /// where the main stacks of those set up end.
    fn hand_over_processes(&mut self) -> Result<(), BpfError> {
        let Some(samples) = &mut self.samples else {
            return Ok(());
        };
        for pid in samples.take_frame_pointer_pids() {
            self.skel
                .maps
                .fp_pids
                .update(&pid.to_ne_bytes(), &[1u8], MapFlags::ANY)
                .map_err(map_error("fp_pids"))?;
        }
        for (pid, top) in samples.take_stack_tops() {
            self.skel
                .maps
                .stack_tops
                .update(&pid.to_ne_bytes(), &top.to_ne_bytes(), MapFlags::ANY)
                .map_err(map_error("stack_tops"))?;
        }
        Ok(())
    }

    /// How many events' user stacks were unwound from copies.
    pub fn unwound_from_copies(&self) -> u64 {
        self.samples
            .as_ref()
            .map_or(0, |s| s.counts().values().sum())
    }

    /// Whether stacks are copied: the program then wakes the loader only
    /// as its ring buffer fills, and the loader polls it between.
    pub fn copies_stacks(&self) -> bool {
        self.samples.is_some()
    }

    /// What unwinding copied stacks noted since the last call (for -v).
    pub fn take_unwind_notes(&mut self) -> Vec<String> {
        self.samples
            .as_mut()
            .map(Samples::take_notes)
            .unwrap_or_default()
    }

    /// Every counted stack with its total since attach.
    pub fn totals(&self) -> Result<HashMap<RawStack, u64>, BpfError> {
        let mut totals = self.retired.clone();
        if let Some(samples) = &self.samples {
            let mut kernel_stacks = HashMap::new();
            for (key, &count) in samples.counts().iter() {
                let stack = self.sampled_stack(key, &mut kernel_stacks)?;
                *totals.entry(stack).or_insert(0) += count;
            }
        }
        self.read_counts(
            |_| true,
            |stack, count| {
                *totals.entry(stack).or_insert(0) += count;
            },
        )?;
        Ok(totals)
    }

    /// Moves the stacks of processes that have exited out of the counts
    /// map (their frames are read first), so that it never fills up with
    /// the dead; the totals keep them. Returns how many keys were retired.
    pub fn retire_exited(&mut self) -> Result<usize, BpfError> {
        let mut found = HashMap::new();
        let gone = self.read_counts(
            |key| !exited::alive(key.tgid),
            |stack, count| {
                *found.entry(stack).or_insert(0) += count;
            },
        )?;
        for raw in &gone {
            // The process is gone: nothing adds to this key any more.
            self.skel
                .maps
                .counts
                .delete(raw)
                .map_err(map_error("counts"))?;
            // Its build-id stack went into the retired RawStack; another
            // slot's key may have shared it, hence no error if gone.
            let key = parse_key(raw);
            let bid_key = build_id_key(key.tgid, key.user_stack_id);
            let _ = self.skel.maps.build_ids.delete(map_types::bytes(&bid_key));
        }
        for (stack, count) in found {
            *self.retired.entry(stack).or_insert(0) += count;
        }
        if let Some(samples) = &mut self.samples {
            // Their samples are counted (the caller takes the ring buffer
            // first); the counts stay, the modules go.
            samples.forget_exited(|pid| !exited::alive(pid));
        }
        Ok(gone.len())
    }

    /// A counted copy's stack: its kernel frames from the stack map, its
    /// user frames as unwound.
    fn sampled_stack(
        &self,
        key: &SampledKey,
        kernel_stacks: &mut HashMap<i32, Vec<u64>>,
    ) -> Result<RawStack, BpfError> {
        Ok(RawStack {
            slot: key.slot,
            tgid: key.tgid,
            comm: key.comm(),
            kernel: self.stack_frames(key.kernel_stack_id, kernel_stacks)?,
            user: key.user.frames.clone(),
            entry_return: 0,
            kernel_lost: stacks::lost_marker(key.kernel_stack_id),
            user_lost: None,
            user_end: key.user.end,
            user_files: Vec::new(),
            execs: Some(key.execs),
        })
    }

    /// The addresses of stack `id` in the stack map (none for an error
    /// id), through `cache`.
    fn stack_frames(
        &self,
        id: i32,
        cache: &mut HashMap<i32, Vec<u64>>,
    ) -> Result<Vec<u64>, BpfError> {
        if id < 0 {
            return Ok(Vec::new());
        }
        if let Some(found) = cache.get(&id) {
            return Ok(found.clone());
        }
        let addrs: Vec<u64> = self
            .skel
            .maps
            .stack_traces
            .lookup(&id.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_error("stack_traces"))?
            .map(|bytes| {
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                    .take_while(|&a| a != 0)
                    .collect()
            })
            .unwrap_or_default();
        cache.insert(id, addrs.clone());
        Ok(addrs)
    }

    /// The build-id frames kept for (tgid, user stack id), if any.
    fn build_id_frames(
        &self,
        tgid: u32,
        stack_id: i32,
    ) -> Result<Vec<Option<FileFrame>>, BpfError> {
        if stack_id < 0 {
            return Ok(Vec::new());
        }
        let key = build_id_key(tgid, stack_id);
        let value = self
            .skel
            .maps
            .build_ids
            .lookup(map_types::bytes(&key), MapFlags::ANY)
            .map_err(map_error("build_ids"))?;
        let Some(stack) = value.and_then(|v| map_types::read::<types::build_id_stack>(&v)) else {
            return Ok(Vec::new());
        };
        Ok(stack
            .frames
            .iter()
            .take(stack.nr as usize)
            .map(|f| {
                (f.status == BPF_STACK_BUILD_ID_VALID as i32).then(|| FileFrame {
                    build_id: f.build_id.to_vec(),
                    // SAFETY: a valid frame holds a file offset (the
                    // union's other member, ip, is for BPF_STACK_BUILD_ID_IP).
                    offset: unsafe { f.__anon_bpf_stack_build_id_1.offset },
                })
            })
            .collect())
    }

    /// Reads the counts whose key passes `wanted`, with their frames, into
    /// `found`; returns the raw keys read.
    fn read_counts(
        &self,
        wanted: impl Fn(&Key) -> bool,
        mut found: impl FnMut(RawStack, u64),
    ) -> Result<Vec<Vec<u8>>, BpfError> {
        let counts = &self.skel.maps.counts;
        let mut stacks: HashMap<i32, Vec<u64>> = HashMap::new();
        // Build-id frames are read only for processes gone by now: those
        // are the ones whose mappings rtools may have missed (4 KB each,
        // so not for every key at every interval).
        let mut gone: HashMap<u32, bool> = HashMap::new();
        let mut files: HashMap<(u32, i32), Vec<Option<FileFrame>>> = HashMap::new();
        let mut read = Vec::new();
        for raw in counts.keys() {
            let key = parse_key(&raw);
            if !wanted(&key) {
                continue;
            }
            let Some(value) = counts
                .lookup(&raw, MapFlags::ANY)
                .map_err(map_error("counts"))?
            else {
                continue;
            };
            let count = u64::from_ne_bytes(value[..8].try_into().expect("8-byte count"));
            let mut frames = |id: i32| self.stack_frames(id, &mut stacks);
            let stack = RawStack {
                slot: key.slot,
                tgid: key.tgid,
                kernel: frames(key.kernel_stack_id)?,
                user: frames(key.user_stack_id)?,
                entry_return: key.entry_return,
                kernel_lost: stacks::lost_marker(key.kernel_stack_id),
                user_lost: stacks::lost_marker(key.user_stack_id),
                user_end: None,
                execs: None,
                user_files: {
                    let tgid = key.tgid;
                    if *gone.entry(tgid).or_insert_with(|| !exited::alive(tgid)) {
                        let id = (tgid, key.user_stack_id);
                        match files.entry(id) {
                            Entry::Occupied(known) => known.get().clone(),
                            Entry::Vacant(new) => {
                                new.insert(self.build_id_frames(id.0, id.1)?).clone()
                            }
                        }
                    } else {
                        Vec::new()
                    }
                },
                comm: key.comm,
            };
            found(stack, count);
            read.push(raw);
        }
        Ok(read)
    }

    /// Stacks not counted since attach, by reason.
    pub fn lost(&self) -> Result<Lost, BpfError> {
        let reason =
            |index: types::lost_reason| percpu::sum_at(&self.skel.maps.lost, index.0, "lost");
        Ok(Lost {
            collisions: reason(types::lost_reason::LOST_STACK_COLLISION)?,
            map_full: reason(types::lost_reason::LOST_STACK_FULL)?,
            unreadable: reason(types::lost_reason::LOST_STACK_FAULT)?,
            table_full: reason(types::lost_reason::LOST_COUNTS_FULL)?,
            samples_full: reason(types::lost_reason::LOST_SAMPLES_FULL)?,
        })
    }

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

/// The build_ids map's key for (tgid, user stack id).
fn build_id_key(tgid: u32, user_stack_id: i32) -> types::build_id_key {
    types::build_id_key {
        tgid,
        user_stack_id,
    }
}

/// The ring buffers, read through one epoll fd: every process the program
/// announces (its `new_pids` map) goes to `seen`, and, where stacks are
/// copied, every copy to `samples` (unwound in the callback).
fn ring_buffers(
    skel: &StackSkel<'_>,
    seen: Rc<RefCell<Vec<u32>>>,
    samples: Option<&Samples>,
) -> Result<RingBuffer<'static>, BpfError> {
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&skel.maps.new_pids, move |data: &[u8]| {
            if let Ok(pid) = data[..4].try_into().map(u32::from_ne_bytes) {
                seen.borrow_mut().push(pid);
            }
            0
        })
        .map_err(map_error("new_pids"))?;
    if let Some(samples) = samples {
        builder
            .add(&skel.maps.user_samples, samples.callback())
            .map_err(map_error("user_samples"))?;
    }
    builder.build().map_err(map_error("ring buffers"))
}

struct Key {
    slot: u32,
    tgid: u32,
    kernel_stack_id: i32,
    user_stack_id: i32,
    entry_return: u64,
    comm: String,
}

/// The map's `struct stack_key` (stack.h), through the generated type.
fn parse_key(raw: &[u8]) -> Key {
    let key: types::stack_key =
        map_types::read(raw).expect("the counts map's keys are struct stack_key");
    Key {
        slot: key.slot,
        tgid: key.tgid,
        kernel_stack_id: key.kernel_stack_id,
        user_stack_id: key.user_stack_id,
        entry_return: key.entry_return,
        comm: map_types::comm(&key.comm),
    }
}

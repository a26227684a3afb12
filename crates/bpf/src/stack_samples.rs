//! Copied user stacks (`--user-stacks dwarf|auto`): the events stack.bpf.c
//! sends with their user registers and the top of their stack, unwound per
//! process with the mapped files' CFI (core's `unwind`) and counted here,
//! as the stack map counts the others.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::offset_of;
use std::rc::Rc;

use rtools_core::unwind::{Mapped, Regs, Unwinder, Unwound};

use crate::map_types;
use crate::skel::stack::types::user_sample;
use crate::symbolize::{Rereads, Symbols};

/// How user stacks are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserUnwind {
    /// The kernel follows frame pointers (BCC's, bpftrace's way).
    #[default]
    FramePointers,
    /// Every user stack copied out and unwound from CFI.
    Dwarf,
    /// Frame pointers for the processes whose every mapped file keeps
    /// them, DWARF for the others.
    Auto,
}

/// One event as the program sent it, but its stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleHead {
    pub slot: u32,
    pub tgid: u32,
    pub kernel_stack_id: i32,
    pub comm: [i8; 16],
    pub regs: Regs,
    /// Where the copied stack starts (the page of `regs.sp`).
    pub stack_start: u64,
    /// How many times the process ran exec since rtools started.
    pub execs: u32,
}

/// A `struct user_sample` as the ring buffer hands it: the header, and as
/// many stack bytes as `stack_size` says (which the record must hold).
pub fn parse(data: &[u8]) -> Option<(SampleHead, &[u8])> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_ne_bytes(data.get(at..at + 8)?.try_into().ok()?));
    let head = offset_of!(user_sample, stack);
    let size = u32_at(offset_of!(user_sample, stack_size))? as usize;
    let comm_at = offset_of!(user_sample, comm);
    let mut comm = [0i8; 16];
    for (c, &b) in comm.iter_mut().zip(data.get(comm_at..comm_at + 16)?) {
        *c = b as i8;
    }
    let sample = SampleHead {
        slot: u32_at(offset_of!(user_sample, slot))?,
        tgid: u32_at(offset_of!(user_sample, tgid))?,
        kernel_stack_id: u32_at(offset_of!(user_sample, kernel_stack_id))? as i32,
        comm,
        regs: Regs {
            ip: u64_at(offset_of!(user_sample, ip))?,
            sp: u64_at(offset_of!(user_sample, sp))?,
            bp: u64_at(offset_of!(user_sample, bp))?,
        },
        stack_start: u64_at(offset_of!(user_sample, stack_start))?,
        execs: u32_at(offset_of!(user_sample, execs))?,
    };
    Some((sample, data.get(head..head.checked_add(size)?)?))
}

/// What a sampled event is counted under: the key of the stack map's
/// counts with the unwound user stack in place of its stack id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SampledKey {
    pub slot: u32,
    pub tgid: u32,
    pub comm: [i8; 16],
    pub kernel_stack_id: i32,
    pub user: Unwound,
    /// The process's execs when it was taken: the image it ran.
    pub execs: u32,
}

impl SampledKey {
    pub fn comm(&self) -> String {
        map_types::comm(&self.comm)
    }
}

/// What the callback returns to stop the ring buffer's reading (libbpf
/// stops at a negative value, the record taken).
pub const STOP: i32 = -libc::EAGAIN;

/// A sample left for [`Samples::count`], its stack copied.
struct Pending {
    head: SampleHead,
    stack: Vec<u8>,
    /// Its process is set up, but the stack left the files it was set up
    /// with: its mappings are to be read again first.
    reread: bool,
}

/// What the ring buffer's callback and the loader share.
struct Shared {
    unwinder: Unwinder,
    counts: HashMap<SampledKey, u64>,
    /// Samples whose process is to be set up (its mappings are read
    /// outside the callback).
    pending: Vec<Pending>,
    /// When processes' mappings were last read again.
    rereads: Rereads,
    /// How many execs each process had run when it was set up.
    execs: HashMap<u32, u32>,
    max_depth: usize,
}

impl Shared {
    /// One record from the ring buffer: unwound where it lies if its
    /// process is set up and the stack stays in the files it was set up
    /// with; else kept for [`Samples::count`], and the reading stopped
    /// (STOP) so that its process is set up (again) before more of its
    /// records would have to be copied. Records read after one is kept,
    /// before [`Samples::count`] runs (the ring buffers are read in more
    /// than one place), are kept too: their process may be the one to set
    /// up.
    fn take(&mut self, data: &[u8]) -> i32 {
        let Some((head, stack)) = parse(data) else {
            return 0;
        };
        let mut reread = false;
        if self.unwinder.knows(head.tgid) && !self.ran_exec(&head) {
            let user = self.unwind(&head, stack);
            reread = self.unwinder.strays(head.tgid, &user) && self.rereads.due(head.tgid);
            if !reread && self.pending.is_empty() {
                self.count(head, user);
                return 0;
            }
        }
        self.pending.push(Pending {
            head,
            stack: stack.to_vec(),
            reread,
        });
        STOP
    }

    /// Whether `head`'s process ran exec since it was set up.
    fn ran_exec(&self, head: &SampleHead) -> bool {
        self.execs.get(&head.tgid).copied().unwrap_or(0) != head.execs
    }

    fn unwind(&mut self, head: &SampleHead, stack: &[u8]) -> Unwound {
        self.unwinder.unwind(
            head.tgid,
            head.regs,
            head.stack_start,
            stack,
            self.max_depth,
        )
    }

    fn count(&mut self, head: SampleHead, user: Unwound) {
        let key = SampledKey {
            slot: head.slot,
            tgid: head.tgid,
            comm: head.comm,
            kernel_stack_id: head.kernel_stack_id,
            user,
            execs: head.execs,
        };
        *self.counts.entry(key).or_insert(0) += 1;
    }
}

/// The copied stacks: unwound and counted as the ring buffer hands them
/// over.
pub struct Samples {
    shared: Rc<RefCell<Shared>>,
    mode: UserUnwind,
    /// Processes found to keep frame pointers throughout (auto), to hand
    /// to the program.
    frame_pointer_pids: Vec<u32>,
    /// Where processes' main stacks end, to hand to the program.
    stack_tops: Vec<(u32, u64)>,
    notes: Vec<String>,
}

impl Samples {
    pub fn new(mode: UserUnwind, max_depth: usize) -> Samples {
        Samples {
            shared: Rc::new(RefCell::new(Shared {
                unwinder: Unwinder::default(),
                counts: HashMap::new(),
                pending: Vec::new(),
                rereads: Rereads::default(),
                execs: HashMap::new(),
                max_depth,
            })),
            mode,
            frame_pointer_pids: Vec::new(),
            stack_tops: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The ring buffer's callback.
    pub fn callback(&self) -> impl FnMut(&[u8]) -> i32 + 'static {
        let shared = Rc::clone(&self.shared);
        move |data| shared.borrow_mut().take(data)
    }

    /// Sets up the processes seen for the first time (from the mappings
    /// `symbols` captures, now if not before), and again those that ran
    /// exec or whose stacks left them (their mappings read again), and
    /// counts their samples.
    pub fn count(&mut self, symbols: &mut Symbols) {
        let pending = std::mem::take(&mut self.shared.borrow_mut().pending);
        for Pending {
            head,
            stack,
            reread,
        } in pending
        {
            let pid = head.tgid;
            let (known, exec, image) = {
                let shared = self.shared.borrow();
                let image = shared.execs.get(&pid).copied().unwrap_or(0);
                (shared.unwinder.knows(pid), shared.ran_exec(&head), image)
            };
            if !known {
                self.set_up(pid, symbols);
            } else if (exec && symbols.reread_after_exec(pid, image))
                || (reread && symbols.reread(pid))
            {
                let why = if exec {
                    "it ran exec"
                } else {
                    "a stack left the files first mapped"
                };
                self.notes
                    .push(format!("pid {pid}: mappings read again ({why})"));
                self.set_up(pid, symbols);
            }
            let mut shared = self.shared.borrow_mut();
            shared.execs.insert(pid, head.execs);
            let user = shared.unwind(&head, &stack);
            shared.count(head, user);
        }
        let notes = self.shared.borrow_mut().unwinder.take_notes();
        self.notes.extend(notes);
    }

    /// The counts so far.
    pub fn counts(&self) -> std::cell::Ref<'_, HashMap<SampledKey, u64>> {
        std::cell::Ref::map(self.shared.borrow(), |s| &s.counts)
    }

    /// Sets up `pid` for unwinding from the mappings `symbols` captures
    /// (under auto, noting it among the frame-pointer processes if every
    /// file it maps keeps them).
    pub fn set_up(&mut self, pid: u32, symbols: &mut Symbols) {
        symbols.remember(pid);
        let Some(maps) = symbols.maps(pid) else {
            // Gone: its stacks end in PROCESS_GONE.
            self.shared.borrow_mut().unwinder.add_gone(pid);
            return;
        };
        let mapped: Vec<Mapped<'_>> = maps
            .mappings
            .iter()
            .map(|m| Mapped {
                start: m.start,
                end: m.end,
                offset: m.offset,
                path: &m.path,
                name: &m.mapped,
                file: (m.dev, m.inode),
            })
            .collect();
        let vdso = maps.vdso.map(|(start, end)| start..end);
        self.stack_tops
            .extend(maps.stack.map(|(_, end)| (pid, end)));
        let frame_pointers = self
            .shared
            .borrow_mut()
            .unwinder
            .add_process(pid, &mapped, vdso);
        if self.mode == UserUnwind::Auto {
            match frame_pointers {
                Ok(()) => {
                    self.frame_pointer_pids.push(pid);
                    self.notes.push(format!(
                        "pid {pid}: every mapped file keeps frame pointers: the kernel walks its stacks"
                    ));
                }
                Err(file) => self.notes.push(format!(
                    "pid {pid}: {file} lacks frame pointers: its stacks are unwound from copies"
                )),
            }
        }
    }

    /// Processes found to keep frame pointers since the last call.
    pub fn take_frame_pointer_pids(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.frame_pointer_pids)
    }

    /// The ends of the main stacks of the processes set up since the last
    /// call.
    pub fn take_stack_tops(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.stack_tops)
    }

    /// What unwinding noted since the last call (for -v).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Drops the modules of the processes that exited (their samples are
    /// counted).
    pub fn forget_exited(&mut self, gone: impl Fn(u32) -> bool) {
        let mut shared = self.shared.borrow_mut();
        shared.unwinder.forget_exited(&gone);
        shared.execs.retain(|&pid, _| !gone(pid));
        shared.rereads.forget_exited(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stack: &[u8], claimed: u32) -> Vec<u8> {
        record_of(4242, stack, claimed)
    }

    fn record_of(tgid: u32, stack: &[u8], claimed: u32) -> Vec<u8> {
        exec_record(tgid, 0, stack, claimed)
    }

    fn exec_record(tgid: u32, execs: u32, stack: &[u8], claimed: u32) -> Vec<u8> {
        let head = offset_of!(user_sample, stack);
        let mut raw = vec![0u8; head];
        let put = |raw: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            raw[at..at + bytes.len()].copy_from_slice(bytes)
        };
        put(&mut raw, offset_of!(user_sample, slot), &3u32.to_ne_bytes());
        put(&mut raw, offset_of!(user_sample, tgid), &tgid.to_ne_bytes());
        put(
            &mut raw,
            offset_of!(user_sample, kernel_stack_id),
            &(-14i32).to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, stack_size),
            &claimed.to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, ip),
            &0x1111u64.to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, sp),
            &0x2222u64.to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, bp),
            &0x3333u64.to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, stack_start),
            &0x2000u64.to_ne_bytes(),
        );
        put(
            &mut raw,
            offset_of!(user_sample, execs),
            &execs.to_ne_bytes(),
        );
        put(&mut raw, offset_of!(user_sample, comm), b"worker\0");
        raw.extend_from_slice(stack);
        raw
    }

    #[test]
    fn a_record_parses_into_its_fields() {
        // The record holds more than the copy: the page the last read may
        // have run into.
        let raw = record(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0], 9);
        let (head, stack) = parse(&raw).unwrap();
        let mut comm = [0i8; 16];
        for (c, b) in comm.iter_mut().zip(b"worker") {
            *c = *b as i8;
        }
        assert_eq!(
            head,
            SampleHead {
                slot: 3,
                tgid: 4242,
                kernel_stack_id: -14,
                comm,
                regs: Regs {
                    ip: 0x1111,
                    sp: 0x2222,
                    bp: 0x3333
                },
                stack_start: 0x2000,
                execs: 0,
            }
        );
        assert_eq!(stack, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_record_shorter_than_it_claims_is_refused() {
        assert_eq!(parse(&record(&[0; 8], 16)), None);
        assert_eq!(parse(&record(&[], u32::MAX)), None);
        let whole = record(&[], 0);
        assert_eq!(parse(&whole[..whole.len() - 1]), None);
        assert!(parse(&whole).is_some_and(|(_, stack)| stack.is_empty()));
    }

    #[test]
    fn samples_of_a_process_not_set_up_wait_for_it_and_are_all_counted() {
        let samples = Samples::new(UserUnwind::Dwarf, 127);
        let mut take = samples.callback();
        for _ in 0..3 {
            assert_eq!(take(&record(&[0; 16], 16)), STOP);
        }
        assert_eq!(samples.shared.borrow().pending.len(), 3);
        let mut samples = samples;
        // pid 4242 does not exist: set up with no mappings; each stack is
        // its instruction pointer and the marker.
        samples.count(&mut Symbols::default());
        let counts = samples.counts();
        assert_eq!(counts.len(), 1, "{counts:?}");
        let (key, &n) = counts.iter().next().unwrap();
        assert_eq!(n, 3);
        assert_eq!(key.user.frames, [0x1111]);
        assert_eq!(key.comm(), "worker");
        assert_eq!((key.slot, key.tgid, key.kernel_stack_id), (3, 4242, -14));
        drop(counts);
        // Known now (as gone): taken where they lie, the reading goes on.
        assert_eq!(take(&record(&[0; 16], 16)), 0);
        assert_eq!(samples.counts().values().sum::<u64>(), 4);
        assert!(samples.shared.borrow().pending.is_empty());
    }

    #[test]
    fn a_stack_outside_the_files_set_up_has_them_read_again_once_a_second() {
        // This test process, sampled at 0x1111: an address in none of its
        // files, as if in a library it opened after it was set up.
        let me = std::process::id();
        let sample = record_of(me, &[0; 16], 16);
        let mut samples = Samples::new(UserUnwind::Dwarf, 127);
        let mut take = samples.callback();
        let mut symbols = Symbols::default();
        let read_again = format!("pid {me}: mappings read again (a stack left");
        let rereads = |samples: &mut Samples| {
            let notes = samples.take_notes();
            notes.iter().filter(|n| n.starts_with(&read_again)).count()
        };
        assert_eq!(take(&sample), STOP, "not set up");
        samples.count(&mut symbols);
        assert_eq!(rereads(&mut samples), 0);
        assert_eq!(take(&sample), STOP, "set up, but outside its files");
        assert_eq!(take(&sample), STOP, "behind one left for count");
        let reread: Vec<bool> = samples
            .shared
            .borrow()
            .pending
            .iter()
            .map(|p| p.reread)
            .collect();
        assert_eq!(reread, [true, false]);
        samples.count(&mut symbols);
        assert_eq!(rereads(&mut samples), 1);
        // Within the second: counted where it lies, as it is.
        assert_eq!(take(&sample), 0);
        samples.count(&mut symbols);
        assert_eq!(rereads(&mut samples), 0);
        let counts = samples.counts();
        assert_eq!(counts.values().sum::<u64>(), 4, "{counts:?}");
        assert!(counts.keys().all(|k| k.user.frames[0] == 0x1111));
    }

    #[test]
    fn a_process_that_ran_exec_is_set_up_again_first() {
        let me = std::process::id();
        let before = exec_record(me, 0, &[0; 16], 16);
        let after = exec_record(me, 1, &[0; 16], 16);
        let samples = Samples::new(UserUnwind::Dwarf, 127);
        let mut take = samples.callback();
        let mut samples = samples;
        let mut symbols = Symbols::default();
        assert_eq!(take(&before), STOP);
        samples.count(&mut symbols);
        let ran_exec = format!("pid {me}: mappings read again (it ran exec)");
        let execs = |samples: &mut Samples| {
            let notes = samples.take_notes();
            notes.iter().filter(|n| **n == ran_exec).count()
        };
        assert_eq!(execs(&mut samples), 0);
        // Not set up since its exec: its records wait, even when the stray
        // reading allows none this second.
        assert!(samples.shared.borrow_mut().rereads.due(me));
        assert_eq!(take(&after), STOP);
        assert_eq!(take(&after), STOP);
        samples.count(&mut symbols);
        assert_eq!(execs(&mut samples), 1, "once for both");
        assert_eq!(take(&after), 0);
        assert_eq!(samples.counts().values().sum::<u64>(), 4);
    }
}

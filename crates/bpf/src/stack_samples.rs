//! Copied user stacks (`--user-stacks dwarf|auto`): the events stack.bpf.c
//! sends with their user registers and the top of their stack, unwound per
//! process with the mapped files' CFI (core's `unwind`) and counted here,
//! as the stack map counts the others.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::mem::offset_of;
use std::rc::Rc;

use rtools_core::unwind::{Mapped, Regs, Unwinder, Unwound};

use crate::map_types;
use crate::skel::stack::types::user_sample;
use crate::symbolize::Symbols;

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

/// One event as the program sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSample {
    pub slot: u32,
    pub tgid: u32,
    pub kernel_stack_id: i32,
    pub comm: String,
    pub regs: Regs,
    /// The stack from `regs.sp` up.
    pub stack: Vec<u8>,
}

/// A `struct user_sample` as the ring buffer hands it: the header and as
/// many stack bytes as `stack_size` says (and the record holds).
pub fn parse(data: &[u8]) -> Option<UserSample> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_ne_bytes(data.get(at..at + 8)?.try_into().ok()?));
    let head = offset_of!(user_sample, stack);
    let size = u32_at(offset_of!(user_sample, stack_size))? as usize;
    let comm_at = offset_of!(user_sample, comm);
    let comm: Vec<i8> = data
        .get(comm_at..comm_at + 16)?
        .iter()
        .map(|&b| b as i8)
        .collect();
    Some(UserSample {
        slot: u32_at(offset_of!(user_sample, slot))?,
        tgid: u32_at(offset_of!(user_sample, tgid))?,
        kernel_stack_id: u32_at(offset_of!(user_sample, kernel_stack_id))? as i32,
        comm: map_types::comm(&comm),
        regs: Regs {
            ip: u64_at(offset_of!(user_sample, ip))?,
            sp: u64_at(offset_of!(user_sample, sp))?,
            bp: u64_at(offset_of!(user_sample, bp))?,
        },
        stack: data.get(head..head + size)?.to_vec(),
    })
}

/// What a sampled event is counted under: the key of the stack map's
/// counts with the unwound user stack in place of its stack id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SampledKey {
    pub slot: u32,
    pub tgid: u32,
    pub comm: String,
    pub kernel_stack_id: i32,
    pub user: Unwound,
}

/// The samples the ring buffer's callback queued, unwound and counted.
pub struct Samples {
    pub queue: Rc<RefCell<VecDeque<UserSample>>>,
    pub counts: HashMap<SampledKey, u64>,
    unwinder: Unwinder,
    mode: UserUnwind,
    max_depth: usize,
    /// Processes found to keep frame pointers throughout (auto), to hand
    /// to the program.
    frame_pointer_pids: Vec<u32>,
    notes: Vec<String>,
}

impl Samples {
    pub fn new(mode: UserUnwind, max_depth: usize) -> Samples {
        Samples {
            queue: Rc::default(),
            counts: HashMap::new(),
            unwinder: Unwinder::default(),
            mode,
            max_depth,
            frame_pointer_pids: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Unwinds and counts the queued samples. A process is set up once,
    /// from the mappings `symbols` captured (now, at its first sample, if
    /// not before).
    pub fn count(&mut self, symbols: &mut Symbols) {
        let queued: Vec<UserSample> = self.queue.borrow_mut().drain(..).collect();
        for sample in queued {
            let pid = sample.tgid;
            if !self.unwinder.knows(pid) {
                self.set_up(pid, symbols);
            }
            let user = self
                .unwinder
                .unwind(pid, sample.regs, &sample.stack, self.max_depth);
            let key = SampledKey {
                slot: sample.slot,
                tgid: pid,
                comm: sample.comm,
                kernel_stack_id: sample.kernel_stack_id,
                user,
            };
            *self.counts.entry(key).or_insert(0) += 1;
        }
        self.notes.extend(self.unwinder.take_notes());
    }

    /// Sets up `pid` for unwinding from the mappings `symbols` captures
    /// (under auto, noting it among the frame-pointer processes if every
    /// file it maps keeps them).
    pub fn set_up(&mut self, pid: u32, symbols: &mut Symbols) {
        symbols.remember(pid);
        let Some(maps) = symbols.maps(pid) else {
            return; // gone: its stacks end in PROCESS_GONE
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
        let frame_pointers = self.unwinder.add_process(pid, &mapped);
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

    /// What unwinding noted since the last call (for -v).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Drops the modules of exited processes (their samples are counted).
    pub fn forget(&mut self, pid: u32) {
        self.unwinder.forget(pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stack: &[u8], claimed: u32) -> Vec<u8> {
        let head = offset_of!(user_sample, stack);
        let mut raw = vec![0u8; head];
        let put = |raw: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            raw[at..at + bytes.len()].copy_from_slice(bytes)
        };
        put(&mut raw, offset_of!(user_sample, slot), &3u32.to_ne_bytes());
        put(
            &mut raw,
            offset_of!(user_sample, tgid),
            &4242u32.to_ne_bytes(),
        );
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
        put(&mut raw, offset_of!(user_sample, comm), b"worker\0");
        raw.extend_from_slice(stack);
        raw
    }

    #[test]
    fn a_record_parses_into_its_fields() {
        let sample = parse(&record(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 9)).unwrap();
        assert_eq!(
            sample,
            UserSample {
                slot: 3,
                tgid: 4242,
                kernel_stack_id: -14,
                comm: "worker".into(),
                regs: Regs {
                    ip: 0x1111,
                    sp: 0x2222,
                    bp: 0x3333
                },
                stack: vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
            }
        );
    }

    #[test]
    fn a_record_shorter_than_it_claims_is_refused() {
        assert_eq!(parse(&record(&[0; 8], 16)), None);
        let whole = record(&[], 0);
        assert_eq!(parse(&whole[..whole.len() - 1]), None);
        assert!(parse(&whole).is_some_and(|s| s.stack.is_empty()));
    }
}

//! User stacks unwound from a copy (`stackcount --user-stacks dwarf`):
//! the registers and the top of the stack the BPF program took at an
//! event, and the call frame information of each file the process maps,
//! through framehop (the unwinder samply is built on). Where a file has no
//! CFI for an address, framehop follows the frame pointer.
//!
//! Files are read once (by device and inode) and shared by every process
//! that maps them; a process's modules are set up from its mappings
//! captured while it lived, so it is unwound after it exits too, and set
//! up again when its stacks leave them (a library it opened since, an
//! exec).

mod elf_cfi;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use framehop::{Error, FrameAddress, MayAllocateDuringUnwind, Module, Unwinder as _};

use crate::arch::{self, USER_SPACE_END};
pub use elf_cfi::ElfCfi;
use elf_cfi::{Data, Sections};

/// The marker frame of a stack unwound until the end of the copied bytes:
/// the rest of the stack was not copied (`--stack-copy-size`).
pub const COPY_ENDED: &str = "[truncated: end of the stack copy]";
/// The marker frame of a stack whose unwinding went wrong (no rule, a
/// loop, a return address of 0 where the stack does not end).
pub const UNWIND_FAILED: &str = "[truncated: unwinding failed]";
/// The marker frame of a process whose mappings were never read (it
/// exited first): only the instruction pointer is known.
pub const PROCESS_GONE: &str = "[truncated: process exited before it was unwound]";

/// One executable mapping of a file, as a process mapped it.
#[derive(Debug, Clone)]
pub struct Mapped<'a> {
    pub start: u64,
    pub end: u64,
    /// The file offset mapped at `start`.
    pub offset: u64,
    /// Where the file can be read.
    pub path: &'a Path,
    /// Its name in the process, for notes.
    pub name: &'a Path,
    /// (device, inode): one file however many processes map it.
    pub file: (u64, u64),
}

/// The user registers an unwind starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regs {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
}

/// A stack unwound: addresses leaf first (the instruction pointer, then
/// return addresses), and the marker frame where it ended early.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unwound {
    pub frames: Vec<u64>,
    pub end: Option<&'static str>,
}

type ProcessUnwinder = arch::Unwinder<Data, MayAllocateDuringUnwind>;

/// One process set up: its modules, where they lie, and framehop's cache
/// of rules by address. The cache is the process's own: framehop tells
/// module sets apart by a 16-bit generation that wraps, so two processes
/// sharing one could one day take each other's rules for one address.
struct Process {
    unwinder: ProcessUnwinder,
    /// Sorted by start (mappings do not overlap).
    ranges: Vec<Range<u64>>,
    cache: arch::UnwindCache<MayAllocateDuringUnwind>,
}

impl Process {
    fn covers(&self, addr: u64) -> bool {
        let after = self.ranges.partition_point(|r| r.start <= addr);
        after > 0 && self.ranges[after - 1].contains(&addr)
    }
}

#[derive(Default)]
pub struct Unwinder {
    /// By (device, inode); None for a file that could not be read.
    files: HashMap<(u64, u64), Option<Arc<ElfCfi>>>,
    /// The vDSO's, read once (None inside: there is none to read).
    vdso: Option<Option<Arc<ElfCfi>>>,
    /// None for a process that was gone before it could be set up.
    processes: HashMap<u32, Option<Process>>,
    notes: Vec<String>,
}

impl Unwinder {
    /// Whether `pid` is set up (or known to be gone).
    pub fn knows(&self, pid: u32) -> bool {
        self.processes.contains_key(&pid)
    }

    /// Notes that `pid` exited before its mappings were read: its stacks
    /// are its instruction pointer and the PROCESS_GONE marker.
    pub fn add_gone(&mut self, pid: u32) {
        self.processes.entry(pid).or_insert(None);
    }

    /// Sets up `pid` from its executable mappings and where its vDSO is
    /// (again: a later call replaces the earlier set-up). Returns Ok if
    /// every file mapped keeps frame pointers, so that the kernel's
    /// frame-pointer walk sees its whole stacks, else the first that does
    /// not.
    pub fn add_process(
        &mut self,
        pid: u32,
        mappings: &[Mapped<'_>],
        vdso: Option<Range<u64>>,
    ) -> Result<(), String> {
        let mut unwinder = ProcessUnwinder::new();
        let mut ranges = Vec::new();
        let own_vdso = self.vdso.get_or_insert_with(|| own_vdso().map(Arc::new));
        if let (Some(range), Some(cfi)) = (vdso, own_vdso.clone()) {
            let base = cfi.base_address(range.start, 0).unwrap_or(range.start);
            ranges.push(range.clone());
            unwinder.add_module(Module::new("[vdso]".into(), range, base, Sections(cfi)));
        }
        let mut frame_pointers = match mappings {
            [] => Err("no file".to_string()),
            _ => Ok(()),
        };
        for m in mappings {
            let lacking = || Err(m.name.display().to_string());
            let cfi = self
                .files
                .entry(m.file)
                .or_insert_with(|| match ElfCfi::read(m.path) {
                    Ok(cfi) => Some(Arc::new(cfi)),
                    Err(why) => {
                        self.notes.push(format!("no unwind tables: {why}"));
                        None
                    }
                })
                .clone();
            let Some(cfi) = cfi else {
                frame_pointers = frame_pointers.and_then(|_| lacking());
                continue;
            };
            if !cfi.frame_pointers {
                frame_pointers = frame_pointers.and_then(|_| lacking());
            }
            let Some(base) = cfi.base_address(m.start, m.offset) else {
                continue;
            };
            let name = m.name.display().to_string();
            ranges.push(m.start..m.end);
            unwinder.add_module(Module::new(name, m.start..m.end, base, Sections(cfi)));
        }
        ranges.sort_by_key(|r| r.start);
        let process = Process {
            unwinder,
            ranges,
            cache: arch::UnwindCache::new(),
        };
        self.processes.insert(pid, Some(process));
        frame_pointers
    }

    /// Drops the modules of the processes `gone` says exited (their stacks
    /// are unwound).
    pub fn forget_exited(&mut self, gone: impl Fn(u32) -> bool) {
        self.processes.retain(|&pid, _| !gone(pid));
    }

    /// Files that could not be read, since the last call (for -v).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Whether a frame of `stack`, a stack of `pid`, lies outside every
    /// file `pid` was set up with (so it may have mapped more since); never
    /// for a process that was gone before it was set up.
    pub fn strays(&self, pid: u32, stack: &Unwound) -> bool {
        let Some(Some(process)) = self.processes.get(&pid) else {
            return false;
        };
        // A return address may be the end of its function's file: the
        // call is the byte before it.
        let ip = stack.frames.iter().take(1).copied();
        let returns = stack.frames.iter().skip(1).map(|a| a.saturating_sub(1));
        ip.chain(returns).any(|addr| !process.covers(addr))
    }

    /// Unwinds one copied stack of `pid`: `stack` holds the bytes from
    /// address `start` (at or below `regs.sp`) up. At most `max_depth`
    /// frames.
    pub fn unwind(
        &mut self,
        pid: u32,
        regs: Regs,
        start: u64,
        stack: &[u8],
        max_depth: usize,
    ) -> Unwound {
        let Some(Some(process)) = self.processes.get_mut(&pid) else {
            return Unwound {
                frames: vec![regs.ip],
                end: Some(PROCESS_GONE),
            };
        };
        let copy_end = start.saturating_add(stack.len() as u64);
        let mut read = |addr: u64| -> Result<u64, ()> {
            let at = usize::try_from(addr.checked_sub(start).ok_or(())?).map_err(|_| ())?;
            let word = stack.get(at..at.checked_add(8).ok_or(())?).ok_or(())?;
            Ok(u64::from_le_bytes(word.try_into().map_err(|_| ())?))
        };
        let mut walked = arch::unwind_regs(regs.ip, regs.sp, regs.bp);
        let mut address = FrameAddress::from_instruction_pointer(regs.ip);
        let mut out = vec![regs.ip];
        let end = loop {
            if out.len() >= max_depth {
                break None;
            }
            let cache = &mut process.cache;
            match process
                .unwinder
                .unwind_frame(address, &mut walked, cache, &mut read)
            {
                Ok(Some(ret)) if ret >= USER_SPACE_END => break Some(UNWIND_FAILED),
                Ok(Some(ret)) => match FrameAddress::from_return_address(ret) {
                    Some(next) => {
                        out.push(ret);
                        address = next;
                    }
                    None => break None, // a return address of 0: the end
                },
                Ok(None) => break None,
                // A frame without CFI at the end of the frame-pointer
                // chain, which entry points start with rbp 0 (framehop
                // takes 0 for a frame below the stack pointer).
                Err(Error::FramepointerUnwindingMovedBackwards)
                    if arch::frame_pointer(&walked) == 0 =>
                {
                    break None
                }
                Err(Error::CouldNotReadStack(addr)) if addr.saturating_add(8) > copy_end => {
                    break Some(COPY_ENDED)
                }
                Err(_) => break Some(UNWIND_FAILED),
            }
        };
        Unwound { frames: out, end }
    }
}

/// The vDSO's CFI (clock_gettime and the like run there, without frame
/// pointers): every process of this kernel maps the same image, so rtools
/// reads its own.
fn own_vdso() -> Option<ElfCfi> {
    let range = own_vdso_range()?;
    // SAFETY: the kernel maps the vDSO readable, at this range, for the
    // life of the process; it is only read (and copied) here.
    let image = unsafe { std::slice::from_raw_parts(range.start as *const u8, range.len()) };
    ElfCfi::from_bytes(image).ok()
}

/// Where this process's vDSO is mapped.
fn own_vdso_range() -> Option<Range<usize>> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let (start, end) = named_range(&maps, "[vdso]")?;
    Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
}

/// The range of the line of /proc/PID/maps text that names `name`
/// (`[vdso]`, `[stack]`).
pub fn named_range(text: &str, name: &str) -> Option<(u64, u64)> {
    let range = text
        .lines()
        .find(|l| l.strip_suffix(name).is_some_and(|l| l.ends_with(' ')))?
        .split(' ')
        .next()?;
    let (start, end) = range.split_once('-')?;
    Some((
        u64::from_str_radix(start, 16).ok()?,
        u64::from_str_radix(end, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests;

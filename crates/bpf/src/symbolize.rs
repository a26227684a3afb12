//! Symbolization with blazesym: kernel frames from kallsyms, user frames
//! through the process's mappings (captured while it was alive) and the
//! ELF symbols and DWARF of the mapped files, JIT frames through perf maps.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::MaybeDefault;
use rtools_core::stacks::Frame;

use crate::proc_maps::{OpenFiles, ProcMaps};
use crate::stack::FileFrame;
use crate::symbol_files::SymbolFiles;

pub struct Symbols {
    symbolizer: Symbolizer,
    processes: HashMap<u32, Option<ProcMaps>>,
    /// The mappings of images processes ran before an exec, by (pid, how
    /// many execs it had run then).
    images: HashMap<(u32, u32), ProcMaps>,
    kernel: HashMap<u64, Frame>,
    files: HashMap<(PathBuf, u64), (String, Option<u64>)>,
    /// Build id -> a file that has it, from every mapping seen.
    build_ids: BuildIds,
    /// The files of traced processes, opened from the processes.
    open_files: OpenFiles,
    /// Files skipped and why, for -v.
    notes: Vec<String>,
    /// When each process's maps were last read again for an address
    /// outside them.
    rereads: Rereads,
    /// trace's `-s`: files that name the frames of files with their
    /// build ids.
    symbol_files: SymbolFiles,
}

/// How often at most a process's mappings are read again because its
/// addresses fell outside them: a process running code in no file (a JIT
/// without a perf map) would otherwise have them read for each stack.
pub const REREAD_EVERY: Duration = Duration::from_secs(1);

/// When each process's maps were read again, to keep it to one read in
/// [`REREAD_EVERY`].
#[derive(Debug, Default)]
pub struct Rereads(HashMap<u32, Instant>);

impl Rereads {
    /// Whether `pid`'s maps may be read again now; if so, noted as read.
    pub fn due(&mut self, pid: u32) -> bool {
        let now = Instant::now();
        match self.0.get(&pid) {
            Some(at) if now.duration_since(*at) < REREAD_EVERY => false,
            _ => {
                self.0.insert(pid, now);
                true
            }
        }
    }

    /// Forgets the processes `gone` says exited.
    pub fn forget_exited(&mut self, gone: impl Fn(u32) -> bool) {
        self.0.retain(|&pid, _| !gone(pid));
    }
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            processes: HashMap::new(),
            images: HashMap::new(),
            kernel: HashMap::new(),
            files: HashMap::new(),
            build_ids: BuildIds::default(),
            open_files: OpenFiles::default(),
            notes: Vec::new(),
            rereads: Rereads::default(),
            symbol_files: SymbolFiles::default(),
        }
    }
}

/// Which file a build id names: learnt from the files that the processes
/// rtools has seen map, and on a miss from every running process's
/// mappings, once per unknown id. Files are noted as processes are seen
/// and their build ids read only when an id is first looked up, so
/// announcing a process costs nothing more.
#[derive(Default)]
struct BuildIds {
    by_id: HashMap<Vec<u8>, PathBuf>,
    seen: HashSet<PathBuf>,
    unread: Vec<PathBuf>,
    searched: HashSet<Vec<u8>>,
}

impl BuildIds {
    fn index_maps(&mut self, maps: &ProcMaps) {
        for m in &maps.mappings {
            self.note(&m.path);
        }
    }

    fn note(&mut self, path: &Path) {
        if self.seen.insert(path.to_path_buf()) {
            self.unread.push(path.to_path_buf());
        }
    }

    fn read_unread(&mut self) {
        for path in std::mem::take(&mut self.unread) {
            if let Ok(Some(id)) = blazesym::helper::read_elf_build_id(&path) {
                self.by_id.entry(id.to_vec()).or_insert(path);
            }
        }
    }

    fn path(&mut self, id: &[u8], files: &mut OpenFiles) -> Option<PathBuf> {
        self.read_unread();
        if let Some(path) = self.by_id.get(id) {
            return Some(path.clone());
        }
        if !self.searched.insert(id.to_vec()) {
            return None;
        }
        let pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        for pid in std::iter::once(std::process::id()).chain(pids) {
            if let Some(maps) = ProcMaps::read(pid, files) {
                self.index_maps(&maps);
            }
        }
        self.read_unread();
        self.by_id.get(id).cloned()
    }
}

impl Symbols {
    /// Notes files the traced code lies in (the binaries of uprobes and
    /// USDT probes), so their frames are named from their build ids even
    /// in a process that exited before its mappings could be read (a
    /// short one on a busy machine, issue 25).
    pub fn know_files<'a>(&mut self, paths: impl IntoIterator<Item = &'a Path>) {
        for path in paths {
            self.build_ids.note(path);
        }
    }

    /// Names user frames from `files` where a mapped file has the build
    /// id of one of them (trace's `-s`).
    pub fn use_symbol_files(&mut self, files: SymbolFiles) {
        self.symbol_files = files;
    }

    /// Captures `pid`'s mappings now, if not done yet; call it as soon as
    /// a process is seen, so that it still resolves after it exits.
    pub fn remember(&mut self, pid: u32) {
        if self.processes.contains_key(&pid) {
            return;
        }
        let maps = ProcMaps::read(pid, &mut self.open_files);
        if let Some(maps) = &maps {
            self.build_ids.index_maps(maps);
            self.notes.extend(maps.notes.iter().cloned());
        }
        self.processes.insert(pid, maps);
    }

    /// Reads `pid`'s mappings again (it opened a library since they were
    /// captured), keeping the older ones the new do not overlap; false if
    /// it is gone (the older are kept).
    pub fn reread(&mut self, pid: u32) -> bool {
        let Some((mut maps, older)) = self.read_again(pid) else {
            return false;
        };
        if let Some(older) = older {
            maps.keep_older(older);
        }
        self.processes.insert(pid, Some(maps));
        true
    }

    /// Reads `pid`'s mappings anew after it ran exec, keeping those of its
    /// image before (its `execs`-th) for the stacks it took; false if it
    /// is gone (the older are kept as its current).
    pub fn reread_after_exec(&mut self, pid: u32, execs: u32) -> bool {
        let Some((maps, older)) = self.read_again(pid) else {
            return false;
        };
        if let Some(older) = older {
            self.images.insert((pid, execs), older);
        }
        self.processes.insert(pid, Some(maps));
        true
    }

    /// `pid`'s mappings read now, and those captured before (taken out);
    /// None, the older left in place, if it is gone. Notes only what the
    /// older did not.
    fn read_again(&mut self, pid: u32) -> Option<(ProcMaps, Option<ProcMaps>)> {
        let maps = ProcMaps::read(pid, &mut self.open_files)?;
        self.build_ids.index_maps(&maps);
        let older = self.processes.remove(&pid).flatten();
        let known = older.as_ref().map_or(&[][..], |o| &o.notes[..]);
        let fresh = maps.notes.iter().filter(|n| !known.contains(n));
        self.notes.extend(fresh.cloned());
        Some((maps, older))
    }

    /// Whether an address of `addrs` lies in no file, JIT symbol or vDSO
    /// of `pid`'s captured mappings.
    fn strays(&self, pid: u32, addrs: &[u64]) -> bool {
        let Some(Some(maps)) = self.processes.get(&pid) else {
            return false;
        };
        let vdso = |a: u64| maps.vdso.is_some_and(|(s, e)| (s..e).contains(&a));
        addrs
            .iter()
            .any(|&a| maps.file_offset(a).is_none() && maps.jit_symbol(a).is_none() && !vdso(a))
    }

    /// The mappings captured for `pid`, if it lived when first seen.
    pub fn maps(&self, pid: u32) -> Option<&ProcMaps> {
        self.processes.get(&pid)?.as_ref()
    }

    /// Files skipped since the last call, and why (for -v).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// User frames from (build id, file offset) pairs, for a process whose
    /// mappings were never captured; `addrs` name the frames that have
    /// none.
    pub fn user_from_files(&mut self, frames: &[Option<FileFrame>], addrs: &[u64]) -> Vec<Frame> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| {
                let Some(Some(file)) = frames.get(i) else {
                    return Frame::unknown(addr);
                };
                let given = self
                    .symbol_files
                    .by_id(&file.build_id)
                    .map(Path::to_path_buf);
                let found = || self.build_ids.path(&file.build_id, &mut self.open_files);
                let Some(path) = given.or_else(found) else {
                    return Frame::unknown(addr);
                };
                let (name, offset) =
                    file_symbol(&self.symbolizer, &mut self.files, &path, file.offset);
                Frame { addr, name, offset }
            })
            .collect()
    }

    /// Kernel frames for `addrs`.
    pub fn kernel(&mut self, addrs: &[u64]) -> Vec<Frame> {
        let missing: Vec<u64> = addrs
            .iter()
            .copied()
            .filter(|a| !self.kernel.contains_key(a))
            .collect();
        if !missing.is_empty() {
            let src = Source::Kernel(Kernel {
                vmlinux: MaybeDefault::None,
                ..Kernel::default()
            });
            let symbolized = self
                .symbolizer
                .symbolize(&src, Input::AbsAddr(&missing))
                .unwrap_or_default();
            for (i, &addr) in missing.iter().enumerate() {
                let frame = match symbolized.get(i) {
                    Some(Symbolized::Sym(sym)) => Frame {
                        addr,
                        name: sym.name.to_string(),
                        offset: Some(sym.offset as u64),
                    },
                    _ => Frame::unknown(addr),
                };
                self.kernel.insert(addr, frame);
            }
        }
        addrs.iter().map(|a| self.kernel[a].clone()).collect()
    }

    /// User frames of process `pid` for `addrs` (its mappings read again
    /// first if some lie outside them and it still runs).
    pub fn user(&mut self, pid: u32, addrs: &[u64]) -> Vec<Frame> {
        self.user_in_image(pid, None, addrs)
    }

    /// The same for a stack `pid` took after its `execs`-th exec: with the
    /// mappings of that image, if it has run another since.
    pub fn user_in_image(&mut self, pid: u32, execs: Option<u32>, addrs: &[u64]) -> Vec<Frame> {
        self.remember(pid);
        let earlier = execs.is_some_and(|e| self.images.contains_key(&(pid, e)));
        if !earlier && self.strays(pid, addrs) && self.rereads.due(pid) {
            self.reread(pid);
        }
        // Disjoint borrows: the maps are read while the cache is filled.
        let Symbols {
            symbolizer,
            processes,
            images,
            files,
            symbol_files,
            ..
        } = self;
        let maps = match execs.and_then(|e| images.get(&(pid, e))) {
            Some(image) => image,
            None => match processes.get(&pid) {
                Some(Some(maps)) => maps,
                _ => return addrs.iter().map(|&a| Frame::unknown(a)).collect(),
            },
        };
        addrs
            .iter()
            .map(|&addr| {
                if let Some((mapping, offset)) = maps.file_offset(addr) {
                    let stand_in = symbol_files.stand_in(&mapping.path);
                    let path = stand_in.as_deref().unwrap_or(&mapping.path);
                    let (name, off) = file_symbol(symbolizer, files, path, offset);
                    return Frame {
                        addr,
                        name,
                        offset: off,
                    };
                }
                match maps.jit_symbol(addr) {
                    Some((name, off)) => Frame {
                        addr,
                        name: name.to_string(),
                        offset: Some(off),
                    },
                    None if maps.vdso.is_some_and(|(s, e)| (s..e).contains(&addr)) => {
                        Frame::unknown(addr).named("[vdso]")
                    }
                    None => Frame::unknown(addr),
                }
            })
            .collect()
    }
}

impl Symbols {
    /// The file (its name, as the process mapped it) that `pid`'s address
    /// `addr` is in: BCC's `[module]`.
    pub fn user_module(&mut self, pid: u32, addr: u64) -> Option<String> {
        self.remember(pid);
        let maps = self.processes.get(&pid)?.as_ref()?;
        let (mapping, _) = maps.file_offset(addr)?;
        Some(mapping.mapped.file_name()?.to_string_lossy().into_owned())
    }
}

/// The function at `offset` in ELF file `path`, cached.
fn file_symbol(
    symbolizer: &Symbolizer,
    files: &mut HashMap<(PathBuf, u64), (String, Option<u64>)>,
    path: &Path,
    offset: u64,
) -> (String, Option<u64>) {
    let key = (path.to_path_buf(), offset);
    if let Some(found) = files.get(&key) {
        return found.clone();
    }
    let src = Source::Elf(Elf::new(path));
    let found = match symbolizer.symbolize(&src, Input::FileOffset(&[offset])) {
        Ok(mut syms) => match syms.pop() {
            Some(Symbolized::Sym(sym)) => (sym.name.to_string(), Some(sym.offset as u64)),
            _ => ("[unknown]".to_string(), None),
        },
        Err(_) => ("[unknown]".to_string(), None),
    };
    files.insert(key, found.clone());
    found
}

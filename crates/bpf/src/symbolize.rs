//! Symbolization with blazesym: kernel frames from kallsyms, user frames
//! through the process's mappings (captured while it was alive) and the
//! ELF symbols and DWARF of the mapped files, JIT frames through perf maps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::MaybeDefault;
use rtools_core::stacks::Frame;

use crate::proc_maps::ProcMaps;

pub struct Symbols {
    symbolizer: Symbolizer,
    processes: HashMap<u32, Option<ProcMaps>>,
    kernel: HashMap<u64, Frame>,
    files: HashMap<(PathBuf, u64), (String, Option<u64>)>,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            processes: HashMap::new(),
            kernel: HashMap::new(),
            files: HashMap::new(),
        }
    }
}

impl Symbols {
    /// Captures `pid`'s mappings now, if not done yet; call it as soon as
    /// a process is seen, so that it still resolves after it exits.
    pub fn remember(&mut self, pid: u32) {
        self.processes
            .entry(pid)
            .or_insert_with(|| ProcMaps::read(pid));
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

    /// User frames of process `pid` for `addrs`.
    pub fn user(&mut self, pid: u32, addrs: &[u64]) -> Vec<Frame> {
        self.remember(pid);
        // Disjoint borrows: the maps are read while the cache is filled.
        let Symbols {
            symbolizer,
            processes,
            files,
            ..
        } = self;
        let Some(Some(maps)) = processes.get(&pid) else {
            return addrs.iter().map(|&a| Frame::unknown(a)).collect();
        };
        addrs
            .iter()
            .map(|&addr| {
                if let Some((mapping, offset)) = maps.file_offset(addr) {
                    let (name, off) = file_symbol(symbolizer, files, &mapping.path, offset);
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
                    None => Frame::unknown(addr),
                }
            })
            .collect()
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

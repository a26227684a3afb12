//! Function symbols of an ELF file, through blazesym's inspect API.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

use blazesym::inspect::source::{Elf, Source};
use blazesym::inspect::Inspector;
use blazesym::SymType;

/// A function in an ELF file: its name and where it starts in the file
/// (the offset a uprobe attaches at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFunc {
    pub name: String,
    pub file_offset: u64,
}

/// Every defined function symbol of `path` whose name passes `keep`, one per
/// address: aliases (`malloc` and `__libc_malloc`) would otherwise count the
/// same calls twice. Of several names for one address the shortest wins, so
/// the public name is shown.
pub fn functions(
    path: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<ElfFunc>, blazesym::Error> {
    let mut elf = Elf::new(path);
    // The dynamic and static symbol tables name every function we can
    // attach to; DWARF would only slow this down.
    elf.debug_syms = false;
    let mut by_offset: HashMap<u64, String> = HashMap::new();
    Inspector::new().for_each(&Source::Elf(elf), |sym| {
        if sym.sym_type == SymType::Function && keep(&sym.name) {
            if let Some(offset) = sym.file_offset.filter(|&o| o != 0) {
                let name = by_offset
                    .entry(offset)
                    .or_insert_with(|| sym.name.to_string());
                if (sym.name.len(), &*sym.name) < (name.len(), name.as_str()) {
                    *name = sym.name.to_string();
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    let mut funcs: Vec<ElfFunc> = by_offset
        .into_iter()
        .map(|(file_offset, name)| ElfFunc { name, file_offset })
        .collect();
    funcs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(funcs)
}

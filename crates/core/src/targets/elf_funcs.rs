//! Function symbols of an ELF file, through blazesym's inspect API.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;

use blazesym::inspect::source::{Elf, Source};
use blazesym::inspect::Inspector;
use blazesym::SymType;

use super::returns::{self, Returns};

/// A function in an ELF file: its name, where it starts in the file (the
/// offset a uprobe attaches at), and how it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFunc {
    pub name: String,
    pub file_offset: u64,
    pub returns: Returns,
}

/// Every defined function symbol of `path` whose name passes `keep`, one per
/// address: aliases (`malloc` and `__libc_malloc`) would otherwise count the
/// same calls twice. Of several matching names for one address the shortest
/// wins, so the public name is shown. How a function returns is judged by
/// all its names, and by `noreturn` (names DWARF marks noreturn).
pub fn functions(
    path: &Path,
    keep: impl Fn(&str) -> bool,
    noreturn: &HashSet<String>,
) -> Result<Vec<ElfFunc>, blazesym::Error> {
    let mut elf = Elf::new(path);
    // The dynamic and static symbol tables name every function we can
    // attach to; DWARF would only slow this down.
    elf.debug_syms = false;
    // offset -> (shortest matching name, how it returns by any name)
    let mut by_offset: HashMap<u64, (Option<String>, Returns)> = HashMap::new();
    Inspector::new().for_each(&Source::Elf(elf), |sym| {
        if sym.sym_type != SymType::Function {
            return ControlFlow::Continue(());
        }
        if let Some(offset) = sym.file_offset.filter(|&o| o != 0) {
            let (name, returns) = by_offset.entry(offset).or_default();
            let by_dwarf = if noreturn.contains(&*sym.name) {
                Returns::Never
            } else {
                Returns::Normally
            };
            *returns = (*returns).max(returns::by_name(&sym.name)).max(by_dwarf);
            let shorter = name
                .as_ref()
                .is_none_or(|n| (sym.name.len(), &*sym.name) < (n.len(), n.as_str()));
            if shorter && keep(&sym.name) {
                *name = Some(sym.name.to_string());
            }
        }
        ControlFlow::Continue(())
    })?;
    let mut funcs: Vec<ElfFunc> = by_offset
        .into_iter()
        .filter_map(|(file_offset, (name, returns))| {
            Some(ElfFunc {
                name: name?,
                file_offset,
                returns,
            })
        })
        .collect();
    funcs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(funcs)
}

/// The names of `path`'s IFUNCs (glibc's `strlen`, `memcpy`, ...): a probe
/// on one sits on its resolver, which the dynamic loader runs once per
/// process, not on the implementation the process calls. Empty where the
/// file cannot be read.
pub fn ifuncs(path: &Path) -> HashSet<String> {
    use object::{Object, ObjectSymbol, SymbolFlags};
    let Ok(data) = std::fs::read(path) else {
        return HashSet::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return HashSet::new();
    };
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| {
            // An indirect function: the symbol is a resolver that returns
            // the implementation to call.
            matches!(s.flags(), SymbolFlags::Elf { st_info, .. }
                if st_info.st_type() == object::elf::STT_GNU_IFUNC)
        })
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod ifunc_tests {
    /// glibc's string functions are IFUNCs on x86-64; malloc is not.
    #[test]
    fn glibcs_string_functions_are_ifuncs() {
        let libc = super::super::libpath::resolve(std::path::Path::new("/"), "c", None).unwrap();
        let ifuncs = super::ifuncs(&libc);
        assert!(
            ifuncs.contains("strlen") && ifuncs.contains("memcpy"),
            "{ifuncs:?}"
        );
        assert!(!ifuncs.contains("malloc"));
        assert!(super::ifuncs(std::path::Path::new("/nonexistent")).is_empty());
    }
}

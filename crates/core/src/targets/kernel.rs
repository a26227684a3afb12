//! Kernel functions that can be probed: the kernel's own list of traceable
//! functions, else kallsyms text symbols, minus the kprobe blacklist and
//! names no probe can take (compiler clones like `foo.isra.0`, CFI stubs).

use std::collections::HashSet;

/// A kernel function and the module that holds it (None: vmlinux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFunc {
    pub name: String,
    pub module: Option<String>,
}

impl KernelFunc {
    /// A function of a listing line: its name and its `[module]` word.
    fn from_words(name: &str, module: Option<&str>) -> KernelFunc {
        KernelFunc {
            name: name.to_string(),
            module: module.map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string()),
        }
    }
}

/// The probeable functions of a listing, each name once (the first).
fn probeable_once(funcs: impl Iterator<Item = KernelFunc>) -> Vec<KernelFunc> {
    let mut seen = HashSet::new();
    funcs
        .filter(|f| probeable(&f.name) && seen.insert(f.name.clone()))
        .collect()
}

/// Parses `available_filter_functions`: `name` or `name [module]` a line.
pub fn parse_filter_functions(text: &str) -> Vec<KernelFunc> {
    probeable_once(text.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        let name = words.next()?;
        Some(KernelFunc::from_words(name, words.next()))
    }))
}

/// Parses `/proc/kallsyms`, keeping text symbols (`t`/`T`).
pub fn parse_kallsyms(text: &str) -> Vec<KernelFunc> {
    probeable_once(text.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        let (_addr, kind, name) = (words.next()?, words.next()?, words.next()?);
        if !matches!(kind, "t" | "T") {
            return None;
        }
        Some(KernelFunc::from_words(name, words.next()))
    }))
}

/// Parses the kprobe blacklist (`0xstart-0xend\tname` a line) into names.
pub fn parse_blacklist(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(str::to_string)
        .collect()
}

/// Names that are never real probe targets.
fn probeable(name: &str) -> bool {
    !name.contains('.')
        && !name.starts_with("__pfx_")
        && !name.starts_with("__cfi_")
        && !name.starts_with("_kbl_addr_")
        && !name.starts_with("__ftrace_invalid_address__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_functions_keep_modules_and_drop_clones() {
        let text = "vfs_read\nvfs_write\nfoo.isra.0\nvfs_read\next4_file_open [ext4]\n__pfx_x\n";
        let funcs = parse_filter_functions(text);
        let names: Vec<_> = funcs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["vfs_read", "vfs_write", "ext4_file_open"]);
        assert_eq!(funcs[2].module.as_deref(), Some("ext4"));
        assert_eq!(funcs[0].module, None);
    }

    #[test]
    fn kallsyms_keeps_text_symbols_only() {
        let text = "ffffffff81000000 T _stext\nffffffff81001000 t do_one\n\
                    ffffffff82000000 D some_data\nffffffffc0000000 t mod_fn\t[mymod]\n";
        let funcs = parse_kallsyms(text);
        let names: Vec<_> = funcs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["_stext", "do_one", "mod_fn"]);
        assert_eq!(funcs[2].module.as_deref(), Some("mymod"));
    }

    #[test]
    fn blacklist_names() {
        let text = "0xffffffff81000000-0xffffffff81000010\tdo_int3\n0x1-0x2\tnmi_handle\n";
        let names = parse_blacklist(text);
        assert!(names.contains("do_int3") && names.contains("nmi_handle"));
        assert_eq!(names.len(), 2);
    }
}

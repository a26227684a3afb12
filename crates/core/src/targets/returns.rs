//! Which functions may carry a return probe.
//!
//! A return probe replaces the return address on the stack with a
//! trampoline. A function that returns twice (setjmp, vfork, getcontext)
//! saved that trampoline address, so its second return finds no pending
//! probe and the kernel kills the process with SIGILL. Functions that leave
//! their frame without `ret` (longjmp, setcontext, exit, thread start) can
//! never be timed. Neither kind gets a return probe: they are found by
//! name (the list below, for libc, libpthread and the C runtime) and, in
//! binaries with DWARF, by `DW_AT_noreturn`.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use gimli::{EndianSlice, LittleEndian, SectionId};

use super::{elf_file, Attach, Target};

/// How a function leaves its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Returns {
    /// Once, through `ret`: return probes are safe.
    #[default]
    Normally,
    /// Never through its own `ret` (longjmp, exit, noreturn in DWARF).
    Never,
    /// More than once (setjmp, vfork): a return probe crashes the caller.
    Twice,
}

impl Returns {
    pub fn allows_return_probe(self) -> bool {
        self == Returns::Normally
    }
}

impl fmt::Display for Returns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Returns::Normally => "returns normally",
            Returns::Never => "never returns through its frame",
            Returns::Twice => "returns twice",
        })
    }
}

/// Functions that return twice. Names as glibc, musl and the C runtime
/// export them (aliases included: a symbol may be matched by any name).
pub const RETURNS_TWICE: &[&str] = &[
    "setjmp",
    "_setjmp",
    "__setjmp",
    "sigsetjmp",
    "__sigsetjmp",
    "__sigsetjmp_cancel",
    "savectx",
    "getcontext",
    "__getcontext",
    "swapcontext",
    "__swapcontext",
    "vfork",
    "__vfork",
    "__libc_vfork",
];

/// Functions that leave their frame other than by `ret`.
pub const NEVER_RETURN: &[&str] = &[
    // Non-local jumps and context switches.
    "longjmp",
    "_longjmp",
    "__longjmp",
    "siglongjmp",
    "__libc_longjmp",
    "__libc_siglongjmp",
    "__longjmp_chk",
    "____longjmp_chk",
    "setcontext",
    "__setcontext",
    // Process and thread ends.
    "exit",
    "_exit",
    "_Exit",
    "__exit",
    "quick_exit",
    "abort",
    "pthread_exit",
    "__pthread_exit",
    "thrd_exit",
    "__pthread_unwind",
    "__pthread_unwind_next",
    // Program and thread starts: their frames are the bottom of the stack.
    "_start",
    "_dl_start",
    "_dl_start_user",
    "__libc_start_main",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "__clone",
    "clone3",
    "__clone3",
    "__clone_internal",
    // Fatal errors.
    "__assert_fail",
    "__assert_perror_fail",
    "__stack_chk_fail",
    "__stack_chk_fail_local",
    "__fortify_fail",
    "__chk_fail",
    "__libc_fatal",
    "__libc_message",
    "err",
    "errx",
    "verr",
    "verrx",
    // Exceptions and unwinding.
    "__cxa_throw",
    "__cxa_rethrow",
    "_Unwind_Resume",
    "_Unwind_RaiseException",
    "_Unwind_ForcedUnwind",
    "_Unwind_Resume_or_Rethrow",
];

/// What the name alone says about `name`.
pub fn by_name(name: &str) -> Returns {
    if RETURNS_TWICE.contains(&name) {
        Returns::Twice
    } else if NEVER_RETURN.contains(&name) {
        Returns::Never
    } else {
        Returns::Normally
    }
}

/// Splits `targets` into those a return probe may go on and the names of
/// the others, with how they return. Only user functions are refused:
/// the kernel has no longjmp, and its return probes survive noreturn.
pub fn split_returnable(targets: Vec<Target>) -> (Vec<Target>, Vec<(String, Returns)>) {
    let mut refused = Vec::new();
    let kept = targets
        .into_iter()
        .filter(|t| match &t.attach {
            Attach::Uprobe { returns, .. } if !returns.allows_return_probe() => {
                refused.push((t.name.clone(), *returns));
                false
            }
            _ => true,
        })
        .collect();
    (kept, refused)
}

/// Past this much DWARF the noreturn scan is skipped: it would cost more
/// start-up time than it is worth, and the name list still applies.
const MAX_DEBUG_INFO: u64 = 64 << 20;

/// The names (linkage names where given) of the functions that DWARF in
/// `path` marks `DW_AT_noreturn`. Empty without DWARF, with compressed or
/// oversized DWARF, or when it cannot be read: this only adds to the name
/// list.
pub fn dwarf_noreturn(path: &Path) -> HashSet<String> {
    dwarf_noreturn_within(path, MAX_DEBUG_INFO)
}

/// [`dwarf_noreturn`] for files with at most `max_debug_info` bytes of
/// `.debug_info`.
fn dwarf_noreturn_within(path: &Path, max_debug_info: u64) -> HashSet<String> {
    match elf_file::section_size(path, ".debug_info") {
        Some(size) if size <= max_debug_info => {}
        _ => return HashSet::new(),
    }
    // What reading units and their names takes (a unit brings its line
    // program header and address and range bases).
    let ids = [
        SectionId::DebugInfo,
        SectionId::DebugAbbrev,
        SectionId::DebugStr,
        SectionId::DebugStrOffsets,
        SectionId::DebugLineStr,
        SectionId::DebugLine,
        SectionId::DebugAddr,
        SectionId::DebugRanges,
        SectionId::DebugRngLists,
    ];
    let names: Vec<&str> = ids.iter().map(|id| id.name()).collect();
    let Ok(data) = elf_file::sections(path, &names) else {
        return HashSet::new();
    };
    let empty: &[u8] = &[];
    let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
        let bytes = ids
            .iter()
            .position(|&i| i == id)
            .and_then(|i| data[i].as_deref())
            .unwrap_or(empty);
        Ok(EndianSlice::new(bytes, LittleEndian))
    });
    dwarf
        .and_then(|dwarf| noreturn_names(&dwarf))
        .unwrap_or_default()
}

fn noreturn_names(
    dwarf: &gimli::Dwarf<EndianSlice<'_, LittleEndian>>,
) -> Result<HashSet<String>, gimli::Error> {
    let mut names = HashSet::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs()? {
            if entry.tag() != gimli::DW_TAG_subprogram {
                continue;
            }
            let noreturn = matches!(
                entry.attr_value(gimli::DW_AT_noreturn),
                Some(gimli::AttributeValue::Flag(true))
            );
            if !noreturn {
                continue;
            }
            let name = entry
                .attr_value(gimli::DW_AT_linkage_name)
                .or_else(|| entry.attr_value(gimli::DW_AT_name));
            if let Some(name) = name {
                if let Ok(s) = dwarf.attr_string(&unit, name) {
                    names.insert(String::from_utf8_lossy(s.slice()).into_owned());
                }
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_classified() {
        assert_eq!(by_name("_setjmp"), Returns::Twice);
        assert_eq!(by_name("__sigsetjmp"), Returns::Twice);
        assert_eq!(by_name("vfork"), Returns::Twice);
        assert_eq!(by_name("siglongjmp"), Returns::Never);
        assert_eq!(by_name("__libc_start_main"), Returns::Never);
        assert_eq!(by_name("malloc"), Returns::Normally);
        assert_eq!(by_name("setjmp_wrapper"), Returns::Normally);
        assert!(!Returns::Twice.allows_return_probe());
        assert!(Returns::Normally.allows_return_probe());
    }

    #[test]
    fn dwarf_names_noreturn_functions() {
        // tests/fixtures/fixture.c: fixture_dies is noreturn.
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/root/opt/fixture/lib/libfixture.so.1");
        let names = dwarf_noreturn(&lib);
        assert_eq!(
            names,
            HashSet::from(["fixture_dies".to_string()]),
            "{names:?}"
        );
        // Too much DWARF is not read at all.
        let size = elf_file::section_size(&lib, ".debug_info").unwrap();
        assert_eq!(dwarf_noreturn_within(&lib, size).len(), 1);
        assert!(dwarf_noreturn_within(&lib, size - 1).is_empty());
    }

    #[test]
    fn no_dwarf_means_no_names() {
        assert!(dwarf_noreturn(Path::new("/nonexistent")).is_empty());
        assert!(dwarf_noreturn(Path::new("/dev/null")).is_empty());
    }

    fn uprobe(name: &str, returns: Returns) -> Target {
        Target {
            name: name.into(),
            attach: Attach::Uprobe {
                binary: "/x".into(),
                offset: 0x10,
                func: name.into(),
                ret: true,
                returns,
                ref_ctr: 0,
            },
        }
    }

    #[test]
    fn only_user_functions_that_return_normally_keep_return_probes() {
        let kernel = Target {
            name: "do_exit".into(),
            attach: Attach::Kernel {
                func: "do_exit".into(),
                module: None,
                ret: true,
                flavor: crate::spec::KernelFlavor::Auto,
                offset: 0,
            },
        };
        let (kept, refused) = split_returnable(vec![
            uprobe("malloc", Returns::Normally),
            uprobe("setjmp", Returns::Twice),
            kernel.clone(),
            uprobe("exit", Returns::Never),
        ]);
        let kept: Vec<&str> = kept.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(kept, ["malloc", "do_exit"]);
        assert_eq!(
            refused,
            [
                ("setjmp".to_string(), Returns::Twice),
                ("exit".to_string(), Returns::Never)
            ]
        );
    }

    #[test]
    fn how_a_function_returns_is_said_in_words() {
        assert_eq!(Returns::Twice.to_string(), "returns twice");
        assert_eq!(
            Returns::Never.to_string(),
            "never returns through its frame"
        );
        assert_eq!(Returns::Normally.to_string(), "returns normally");
    }
}

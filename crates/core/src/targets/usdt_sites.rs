//! A USDT probe's sites as uprobes take them: trace reads the arguments
//! itself (libbpf does for the counting tools), so each site is a uprobe
//! at its instruction's file offset, with its semaphore's offset for the
//! kernel to count on, and its arguments' spec.

use std::path::{Path, PathBuf};

use super::usdt_notes::{self, Site};
use super::{elf_file, returns::Returns, Attach, ResolveError, Target};

/// The section whose link-time address the notes recorded: prelink may
/// have moved the file since, and the sites with it.
const BASE_SECTION: &str = ".stapsdt.base";

/// One site of a USDT probe, ready to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtSite {
    pub target: Target,
    /// The arguments' spec, as the note gives it (`-4@%edi 8@%rsi`).
    pub args: String,
}

/// The sites of probe `provider:name` in `binary`, in note order.
pub fn sites(binary: &Path, provider: &str, name: &str) -> Result<Vec<UsdtSite>, ResolveError> {
    let symbols = |detail: String| ResolveError::Symbols {
        path: binary.to_path_buf(),
        detail,
    };
    let notes = elf_file::sections(binary, &[usdt_notes::SECTION])?
        .pop()
        .flatten()
        .unwrap_or_default();
    let found: Vec<Site> = usdt_notes::sites(&notes)
        .map_err(|e| symbols(e.to_string()))?
        .into_iter()
        .filter(|s| s.provider == provider && s.name == name)
        .collect();
    // A note's addresses are link-time ones; where prelink moved the file,
    // the base section moved with the sites.
    let (_, base) = elf_file::file_offsets(binary, &[], BASE_SECTION)?;
    let moved = |s: &Site| match base {
        Some(now) if s.base != 0 => s.pc.wrapping_add(now).wrapping_sub(s.base),
        _ => s.pc,
    };
    let mut addrs: Vec<u64> = found.iter().map(moved).collect();
    addrs.extend(found.iter().map(|s| s.semaphore));
    let (offsets, _) = elf_file::file_offsets(binary, &addrs, BASE_SECTION)?;
    let (pc_offsets, sema_offsets) = offsets.split_at(found.len());
    found
        .into_iter()
        .zip(pc_offsets.iter().zip(sema_offsets))
        .map(|(s, (pc, sema))| {
            let offset = pc.ok_or_else(|| {
                symbols(format!(
                    "USDT probe {}:{} is at 0x{:x}, outside the file's loaded segments",
                    s.provider, s.name, s.pc
                ))
            })?;
            Ok(UsdtSite {
                target: Target {
                    name: s.name.clone(),
                    attach: Attach::Uprobe {
                        binary: PathBuf::from(binary),
                        offset,
                        func: s.name,
                        ret: false,
                        returns: Returns::Normally,
                        ref_ctr: if s.semaphore == 0 {
                            0
                        } else {
                            sema.unwrap_or(0)
                        },
                    },
                },
                args: s.args,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/root/opt/fixture/lib/libfixture.so.1")
    }

    #[test]
    fn each_site_is_a_uprobe_inside_its_function() {
        let lib = library();
        let sites = sites(&lib, "fixture", "add").unwrap();
        assert_eq!(sites.len(), 2);
        let funcs =
            super::super::elf_funcs::functions(&lib, |n| n == "fixture_add", &Default::default())
                .unwrap();
        let start = funcs[0].file_offset;
        let offsets: Vec<u64> = sites
            .iter()
            .map(|s| match &s.target.attach {
                Attach::Uprobe {
                    offset, ref_ctr, ..
                } => {
                    assert_eq!(*ref_ctr, 0);
                    *offset
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_ne!(offsets[0], offsets[1]);
        for o in offsets {
            assert!(
                o >= start && o < start + 32,
                "0x{o:x} vs fixture_add at 0x{start:x}"
            );
        }
        assert_eq!(sites[0].args, "");
        assert_eq!(sites[0].target.name, "add");
        assert!(super::sites(&lib, "fixture", "nope").unwrap().is_empty());
    }
}

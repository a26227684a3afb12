//! What unwinding needs of one ELF file, read once per file: its call
//! frame information (`.eh_frame` with the `.eh_frame_hdr` index, else
//! `.debug_frame`), the section addresses that CFI is based on, the loaded
//! segments (to place the file where a process mapped it), and whether its
//! functions keep frame pointers (`--user-stacks auto`).

use std::collections::BTreeSet;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use object::read::elf::ElfFile64;
use object::{
    CompressionFormat, LittleEndian, Object, ObjectSection, ObjectSegment, ObjectSymbol, ReadCache,
    ReadRef, SegmentFlags, SymbolKind,
};

use crate::arch;

/// Section bytes, shared by every process that maps the file.
pub type Data = Arc<[u8]>;

/// The sections framehop reads (the unwind tables) and those whose start
/// addresses it bases them on.
const DATA_SECTIONS: [&[u8]; 3] = [b".eh_frame", b".eh_frame_hdr", b".debug_frame"];
const ADDRESS_SECTIONS: [&[u8]; 2] = [b".text", b".got"];

/// At most this many functions are looked at to tell frame pointers, and
/// so many of their first bytes.
const PROLOGUES_SAMPLED: usize = 512;
const PROLOGUE_BYTES: u64 = 16;

#[derive(Debug)]
pub struct ElfCfi {
    sections: Vec<Section>,
    /// Executable segments (those of the mappings rtools reads): file
    /// offset, virtual address, size in the file.
    code_segments: Vec<(u64, u64, u64)>,
    /// Whether most of its functions begin by setting up a frame pointer.
    pub frame_pointers: bool,
}

#[derive(Debug)]
struct Section {
    name: &'static [u8],
    range: Range<u64>,
    data: Option<Data>,
}

impl ElfCfi {
    /// Reads the headers, the unwind sections and a sample of function
    /// prologues of `path`; an error names what is wrong with the file.
    pub fn read(path: &Path) -> Result<ElfCfi, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ElfCfi::parse(&ReadCache::new(file)).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The same, of an ELF image in memory (the vDSO).
    pub fn from_bytes(image: &[u8]) -> Result<ElfCfi, String> {
        ElfCfi::parse(image).map_err(|e| e.to_string())
    }

    fn parse<'data, R: ReadRef<'data>>(data: R) -> object::Result<ElfCfi> {
        let elf = ElfFile64::<LittleEndian, R>::parse(data)?;
        let mut sections = Vec::new();
        for name in DATA_SECTIONS.into_iter().chain(ADDRESS_SECTIONS) {
            let Some(section) = elf.section_by_name_bytes(name) else {
                continue;
            };
            let data = DATA_SECTIONS
                .contains(&name)
                .then(|| uncompressed(&section))
                .flatten();
            sections.push(Section {
                name,
                range: section.address()..section.address() + section.size(),
                data,
            });
        }
        const PF_X: u32 = object::elf::PF_X.0;
        let place = |s: &object::read::elf::ElfSegment64<'data, '_, LittleEndian, R>| {
            (s.file_range().0, s.address(), s.file_range().1)
        };
        let segments = elf.segments().map(|s| place(&s)).collect::<Vec<_>>();
        let code_segments = elf
            .segments()
            .filter(
                |s| matches!(s.flags(), SegmentFlags::Elf { p_flags, .. } if p_flags.0 & PF_X != 0),
            )
            .map(|s| place(&s))
            .collect();
        let frame_pointers = keeps_frame_pointers(&elf, data, &segments);
        Ok(ElfCfi {
            sections,
            code_segments,
            frame_pointers,
        })
    }

    /// Whether the file has CFI framehop can read.
    #[cfg(test)]
    pub fn has_cfi(&self) -> bool {
        self.sections
            .iter()
            .any(|s| (s.name == b".eh_frame" || s.name == b".debug_frame") && s.data.is_some())
    }

    /// Where the file's address 0 lies in a process that mapped it at
    /// `start` from file offset `offset` (an executable mapping): the code
    /// segment holding that offset says how its addresses and offsets
    /// differ. (The page a mapping starts on can hold the end of the
    /// segment before, whose addresses may differ by another page.)
    pub fn base_address(&self, start: u64, offset: u64) -> Option<u64> {
        let page = |x: u64| x & !0xfff;
        self.code_segments
            .iter()
            .find(|&&(off, _, size)| (page(off)..off + size).contains(&offset))
            .map(|&(off, vaddr, _)| {
                start
                    .wrapping_sub(offset)
                    .wrapping_sub(vaddr.wrapping_sub(off))
            })
    }

    fn section(&self, name: &[u8]) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// A section's bytes, unless it is compressed (framehop reads them raw).
fn uncompressed<'data, R: ReadRef<'data>>(
    section: &object::read::elf::ElfSection64<'data, '_, LittleEndian, R>,
) -> Option<Data> {
    let range = section.compressed_file_range().ok()?;
    if range.format != CompressionFormat::None {
        return None;
    }
    section.data().ok().map(Data::from)
}

/// framehop's view of a file's sections, for one place it is mapped.
pub struct Sections(pub Arc<ElfCfi>);

impl framehop::ModuleSectionInfo<Data> for Sections {
    fn base_svma(&self) -> u64 {
        0 // ELF files state their addresses from 0
    }

    fn section_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        self.0.section(name).map(|s| s.range.clone())
    }

    fn section_data(&mut self, name: &[u8]) -> Option<Data> {
        self.0.section(name)?.data.clone()
    }
}

/// Whether at least half of the functions looked at set up a frame
/// pointer (`arch::sets_up_frame`): what compilers emit for every function
/// when frame pointers are kept, and for few otherwise.
fn keeps_frame_pointers<'data, R: ReadRef<'data>>(
    elf: &ElfFile64<'data, LittleEndian, R>,
    data: R,
    segments: &[(u64, u64, u64)],
) -> bool {
    let starts: BTreeSet<u64> = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 16 && s.address() != 0)
        .map(|s| s.address())
        .collect();
    if starts.is_empty() {
        return false;
    }
    let step = starts.len().div_ceil(PROLOGUES_SAMPLED);
    let file_offset = |addr: u64| {
        segments.iter().find_map(|&(off, vaddr, size)| {
            let into = addr.checked_sub(vaddr).filter(|&d| d < size)?;
            Some(off + into)
        })
    };
    let (mut looked, mut framed) = (0usize, 0usize);
    for &addr in starts.iter().step_by(step) {
        let Some(bytes) =
            file_offset(addr).and_then(|off| data.read_bytes_at(off, PROLOGUE_BYTES).ok())
        else {
            continue;
        };
        looked += 1;
        framed += usize::from(arch::sets_up_frame(bytes));
    }
    if looked == 0 {
        return false;
    }
    framed * 2 >= looked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_keeps_frame_pointers_and_has_cfi() {
        // .cargo/config.toml builds every Linux target with frame pointers.
        let me = std::env::current_exe().unwrap();
        let cfi = ElfCfi::read(&me).unwrap();
        assert!(cfi.frame_pointers);
        assert!(cfi.has_cfi());
        assert!(cfi
            .section(b".eh_frame_hdr")
            .and_then(|s| s.data.as_ref())
            .is_some());
    }

    fn fixture(name: &str) -> ElfCfi {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/elf")
            .join(name);
        ElfCfi::read(&path).unwrap()
    }

    #[test]
    fn frame_pointers_where_at_least_half_the_functions_keep_them() {
        // tests/fixtures/frames.c: four functions, the same code.
        assert!(fixture("libframes-fp.so").frame_pointers);
        assert!(!fixture("libframes-nofp.so").frame_pointers);
        assert!(fixture("libframes-half.so").frame_pointers);
        // Its text lies at the same offset and address: placed at once.
        let cfi = fixture("libframes-fp.so");
        assert_eq!(
            cfi.base_address(0x7f00_0000_1000, 0x1000),
            Some(0x7f00_0000_0000)
        );
    }

    #[test]
    fn placed_by_the_segment_that_holds_the_offset() {
        let cfi = ElfCfi {
            sections: Vec::new(),
            // A PIE: read-only data at 0, text at 0x1c60 in the file and a
            // page further in memory, on the page the data ends on; a
            // non-PIE style segment whose addresses run 0x401000 ahead.
            code_segments: vec![(0x1c60, 0x2c60, 0x5000), (0x8000, 0x409000, 0x1000)],
            frame_pointers: false,
        };
        assert_eq!(
            cfi.base_address(0x7f00_0000_2000, 0x1000),
            Some(0x7f00_0000_0000)
        );
        assert_eq!(cfi.base_address(0x409000, 0x8000), Some(0));
        assert_eq!(cfi.base_address(0x1000, 0x20000), None);
        // Below the page the segment starts on.
        assert_eq!(cfi.base_address(0x1000, 0x800), None);
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text");
        std::fs::write(&path, "not an ELF file").unwrap();
        assert!(ElfCfi::read(&path).unwrap_err().contains("text"));
    }
}

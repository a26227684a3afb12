//! Opening binaries to trace: only regular ELF files of this machine are
//! accepted (anything else is refused by name and kind), and only the
//! sections asked for are read, so a 1 GB binary costs its headers and a
//! few notes, not its size.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use object::read::elf::ElfFile64;
use object::{CompressionFormat, LittleEndian, Object, ObjectSection, ObjectSegment, ReadCache};
use thiserror::Error;

/// Why a file is not something rtools can trace.
#[derive(Debug, Error)]
pub enum ElfFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is {what}, not an ELF binary or library: give the path of an executable or shared library")]
    NotElf { path: String, what: String },
    #[error(
        "{path} is {what}; rtools traces {} executables and shared libraries",
        crate::arch::NAME
    )]
    Unsupported { path: String, what: String },
    #[error("{path} is a damaged or truncated ELF file: {detail}")]
    Damaged { path: String, detail: String },
}

/// This machine's ELF machine (tests build headers with it).
const MACHINE: u16 = crate::arch::ELF_MACHINE;
const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;

/// Fails unless `path` is a regular ELF executable or shared
/// library, saying what it is instead. Reads the first 64 bytes only.
pub fn check(path: &Path) -> Result<(), ElfFileError> {
    let shown = path.display().to_string();
    let io = |source| ElfFileError::Io {
        path: shown.clone(),
        source,
    };
    let not_elf = |what: &str| ElfFileError::NotElf {
        path: shown.clone(),
        what: what.to_string(),
    };
    let meta = fs::metadata(path).map_err(io)?;
    let kind = meta.file_type();
    let special = if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else {
        None
    };
    if let Some(what) = special {
        return Err(not_elf(what));
    }
    // Files of size 0 are empty, or (in /proc, /sys) not files on disk at
    // all: reading tracefs' trace_pipe would block forever.
    if meta.len() == 0 {
        return Err(not_elf("an empty file (or a pseudo-file of /proc or /sys)"));
    }
    let mut header = Vec::with_capacity(64);
    File::open(path)
        .map_err(io)?
        .take(64)
        .read_to_end(&mut header)
        .map_err(io)?;
    if header.get(..4) != Some(b"\x7fELF") {
        return Err(not_elf(describe(&header)));
    }
    let unsupported = |what: String| ElfFileError::Unsupported {
        path: shown.clone(),
        what,
    };
    match header.get(4) {
        Some(2) => {}
        Some(1) => return Err(unsupported("a 32-bit ELF file".into())),
        _ => return Err(damaged(&shown, "unknown ELF class")),
    }
    if header.get(5) != Some(&1) {
        return Err(unsupported("a big-endian ELF file".into()));
    }
    if header.len() < 64 {
        return Err(damaged(&shown, "the ELF header is cut short"));
    }
    let half = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    match half(0x10) {
        ET_EXEC | ET_DYN => {}
        ET_REL => return Err(unsupported("an object file (.o), not linked".into())),
        ET_CORE => return Err(unsupported("a core dump".into())),
        other => return Err(unsupported(format!("an ELF file of type {other}"))),
    }
    let machine = half(0x12);
    if machine != MACHINE {
        return Err(unsupported(format!(
            "an ELF file for another machine ({})",
            machine_name(machine)
        )));
    }
    let shoff = u64::from_le_bytes(header[0x28..0x30].try_into().expect("8 bytes"));
    let sections_end = shoff + u64::from(half(0x3a)) * u64::from(half(0x3c));
    if sections_end > meta.len() {
        return Err(damaged(&shown, "its section headers lie past its end"));
    }
    Ok(())
}

fn damaged(path: &str, detail: &str) -> ElfFileError {
    ElfFileError::Damaged {
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

/// What a file that is not ELF looks like, from its first bytes.
fn describe(start: &[u8]) -> &'static str {
    if start.is_empty() {
        "an empty file"
    } else if start.starts_with(b"#!") {
        "a script"
    } else if start.starts_with(b"!<arch>") {
        "a static library archive (.a)"
    } else if std::str::from_utf8(start).is_ok_and(|s| !s.contains('\0')) {
        "a text file"
    } else {
        "a data file"
    }
}

fn machine_name(machine: u16) -> String {
    match machine {
        3 => "i386".into(),
        40 => "ARM".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        other => format!("e_machine {other}"),
    }
}

/// `path` opened for reading the parts an ELF parser asks for, and its
/// name as errors show it.
fn open_cached(path: &Path) -> Result<(String, ReadCache<File>), ElfFileError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| ElfFileError::Io {
        path: shown.clone(),
        source,
    })?;
    Ok((shown, ReadCache::new(file)))
}

/// The contents of the sections of `path` named `names`, in that order
/// (None where there is no such section, or it is compressed). Reads the
/// headers and those sections only. Call [`check`] first.
pub fn sections(path: &Path, names: &[&str]) -> Result<Vec<Option<Vec<u8>>>, ElfFileError> {
    let (shown, cache) = open_cached(path)?;
    let elf =
        ElfFile64::<LittleEndian, _>::parse(&cache).map_err(|e| damaged(&shown, &e.to_string()))?;
    Ok(names
        .iter()
        .map(|name| {
            let section = elf.section_by_name(name)?;
            let range = section.compressed_file_range().ok()?;
            if range.format != CompressionFormat::None {
                return None;
            }
            section.data().ok().map(<[u8]>::to_vec)
        })
        .collect())
}

/// Where virtual addresses of `path` are in the file: the file offset of
/// each of `addrs` (None for one no loaded segment holds), and the address
/// of section `section`, if any. For USDT sites, which notes name by
/// address while uprobes attach by offset.
pub fn file_offsets(
    path: &Path,
    addrs: &[u64],
    section: &str,
) -> Result<(Vec<Option<u64>>, Option<u64>), ElfFileError> {
    let (shown, cache) = open_cached(path)?;
    let elf =
        ElfFile64::<LittleEndian, _>::parse(&cache).map_err(|e| damaged(&shown, &e.to_string()))?;
    let segments: Vec<(u64, u64, u64)> = elf
        .segments()
        .map(|s| (s.address(), s.size(), s.file_range().0))
        .collect();
    let offsets = addrs
        .iter()
        .map(|&addr| {
            segments
                .iter()
                .find(|&&(start, size, _)| addr >= start && addr < start + size)
                .map(|&(start, _, file)| addr - start + file)
        })
        .collect();
    let base = elf.section_by_name(section).map(|s| s.address());
    Ok((offsets, base))
}

/// The size of section `name` of `path`, without reading it.
pub fn section_size(path: &Path, name: &str) -> Option<u64> {
    let file = File::open(path).ok()?;
    let cache = ReadCache::new(file);
    let elf = ElfFile64::<LittleEndian, _>::parse(&cache).ok()?;
    elf.section_by_name(name).map(|s| s.size())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bytes(bytes: &[u8]) -> String {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, bytes).unwrap();
        check(&path).unwrap_err().to_string()
    }

    fn elf_header(class: u8, kind: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[0x10..0x12].copy_from_slice(&kind.to_le_bytes());
        h[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn refuses_what_is_not_elf_by_kind() {
        assert!(check_bytes(b"").contains("is an empty file"));
        let err = check(Path::new("/proc/self/status"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pseudo-file"), "{err}");
        assert!(check_bytes(b"#!/bin/sh\necho hi\n").contains("is a script"));
        assert!(check_bytes(b"Hello").contains("is a text file"));
        assert!(check_bytes(&[0, 1, 2, 0xff]).contains("is a data file"));
        let err = check(Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("/ is a directory"), "{err}");
        let err = check(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(err.contains("is a character device"), "{err}");
    }

    #[test]
    fn refuses_other_classes_machines_and_types() {
        assert!(check_bytes(&elf_header(1, ET_DYN, 3)).contains("a 32-bit ELF file"));
        assert!(check_bytes(&elf_header(2, ET_DYN, 183)).contains("another machine (AArch64)"));
        assert!(check_bytes(&elf_header(2, ET_REL, MACHINE)).contains("object file"));
        assert!(check_bytes(&elf_header(2, ET_CORE, MACHINE)).contains("core dump"));
        assert!(check_bytes(&elf_header(2, ET_DYN, MACHINE)[..20]).contains("cut short"));
        let mut h = elf_header(2, ET_DYN, MACHINE);
        h[0x28..0x30].copy_from_slice(&4096u64.to_le_bytes());
        h[0x3a] = 64;
        h[0x3c] = 10;
        assert!(check_bytes(&h).contains("past its end"));
    }

    fn fixture(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path)
    }

    #[test]
    fn refuses_the_32_bit_and_big_endian_fixtures() {
        for (file, why) in [
            ("elf/elf32", "is a 32-bit ELF file"),
            ("elf/big-endian", "is a big-endian ELF file"),
        ] {
            let err = check(&fixture(file)).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn accepts_this_machines_libraries_and_reads_sections() {
        let lib = fixture("root/opt/fixture/lib/libfixture.so.1");
        check(&lib).unwrap();
        let got = sections(&lib, &[".note.stapsdt", ".no_such_section"]).unwrap();
        // Three notes of 12 + 8 + 40-ish bytes.
        assert!(got[0].as_ref().is_some_and(|t| t.len() > 150), "{got:?}");
        assert!(got[1].is_none());
        assert!(section_size(&lib, ".text").unwrap() > 0);
        assert_eq!(section_size(&lib, ".no_such_section"), None);
    }

    #[test]
    fn two_byte_fields_are_read_whole() {
        // High bytes set: a misread half-word would see other values.
        assert!(check_bytes(&elf_header(2, 0xfe01, MACHINE)).contains("of type 65025"));
        assert!(check_bytes(&elf_header(2, ET_DYN, 0x1234)).contains("another machine"));
    }

    #[test]
    fn section_headers_must_end_within_the_file() {
        // 64-byte header, then 10 section headers of 64 bytes: 704 bytes.
        let mut file = elf_header(2, ET_DYN, MACHINE);
        file[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
        file[0x3a] = 64;
        file[0x3c] = 10;
        file.resize(704, 0);
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, &file).unwrap();
        check(&path).unwrap();
        file[0x3c] = 11;
        fs::write(&path, &file).unwrap();
        let err = check(&path).unwrap_err().to_string();
        assert!(err.contains("past its end"), "{err}");
    }

    #[test]
    fn addresses_map_to_file_offsets_within_their_segment() {
        // The fixture's loaded segments: 0x1000-0x1111 at file offset
        // 0x1000, 0x3e58-0x4010 (0x1b8 bytes in memory) at 0x2e58.
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/root/opt/fixture/lib/libfixture.so.1");
        let addrs = [
            0x1000, 0x1110, 0x1111, 0x3e58, 0x3e60, 0x400f, 0x4010, 0x5000,
        ];
        let (offsets, base) = file_offsets(&lib, &addrs, ".text").unwrap();
        assert_eq!(
            offsets,
            [
                Some(0x1000),
                Some(0x1110),
                None,
                Some(0x2e58),
                Some(0x2e60),
                Some(0x300f),
                None,
                None
            ]
        );
        assert_eq!(base, Some(0x1040));
        assert_eq!(file_offsets(&lib, &[], ".no-such").unwrap(), (vec![], None));
    }
}

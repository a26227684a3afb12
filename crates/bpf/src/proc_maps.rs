//! A process's executable mappings, read from /proc/PID/maps while it is
//! alive, so that its addresses can be symbolized after it exits.

use std::fs;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset of `start` in the file.
    pub offset: u64,
    pub path: PathBuf,
}

/// The executable file mappings of a process, and its JIT symbol map
/// (`/tmp/perf-PID.map`) if it writes one.
#[derive(Debug, Clone, Default)]
pub struct ProcMaps {
    pub mappings: Vec<Mapping>,
    pub perf_map: Vec<(u64, u64, String)>,
}

impl ProcMaps {
    /// Reads the maps of `pid`; None if the process is gone.
    pub fn read(pid: u32) -> Option<ProcMaps> {
        let text = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let mut maps = ProcMaps {
            mappings: parse_maps(&text),
            perf_map: fs::read_to_string(format!("/tmp/perf-{pid}.map"))
                .map(|t| parse_perf_map(&t))
                .unwrap_or_default(),
        };
        // A process in another mount namespace sees other files.
        for m in &mut maps.mappings {
            let inside = root.join(m.path.strip_prefix("/").unwrap_or(&m.path));
            if !m.path.exists() && inside.exists() {
                m.path = inside;
            }
        }
        Some(maps)
    }

    /// The mapping that holds `addr`, and the file offset of `addr` in it.
    pub fn file_offset(&self, addr: u64) -> Option<(&Mapping, u64)> {
        self.mappings
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))
            .map(|m| (m, addr - m.start + m.offset))
    }

    /// A JIT symbol from the perf map: (name, offset into it).
    pub fn jit_symbol(&self, addr: u64) -> Option<(&str, u64)> {
        self.perf_map
            .iter()
            .find(|(start, size, _)| (*start..start + size).contains(&addr))
            .map(|(start, _, name)| (name.as_str(), addr - start))
    }
}

/// Executable, file-backed lines of /proc/PID/maps.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (range, perms, offset) = (words.next()?, words.next()?, words.next()?);
            let path = words.nth(2)?;
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// `START SIZE NAME` lines, hex numbers.
pub fn parse_perf_map(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let start = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
            let size = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
            Some((start, size, parts.next()?.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_executable_file_mappings() {
        let text = "\
55d0e000-55d0f000 r--p 00000000 fe:00 123 /usr/bin/app
55d0f000-55d12000 r-xp 00001000 fe:00 123 /usr/bin/app
7f00000-7f01000 r-xp 00000000 00:00 0 [vdso]
7f02000-7f03000 rwxp 00000000 00:00 0
";
        let maps = parse_maps(text);
        assert_eq!(maps.len(), 1);
        let procs = ProcMaps {
            mappings: maps,
            perf_map: parse_perf_map("7f02000 100 jitted_fn\n"),
        };
        let (m, off) = procs.file_offset(0x55d0f010).unwrap();
        assert_eq!((m.path.to_str().unwrap(), off), ("/usr/bin/app", 0x1010));
        assert_eq!(procs.jit_symbol(0x7f02010), Some(("jitted_fn", 0x10)));
        assert!(procs.file_offset(0x1).is_none());
    }

    #[test]
    fn reads_its_own_maps() {
        let maps = ProcMaps::read(std::process::id()).unwrap();
        let exe = std::fs::canonicalize("/proc/self/exe").unwrap();
        assert!(maps.mappings.iter().any(|m| m.path == exe), "{maps:?}");
    }
}

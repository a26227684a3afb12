//! A process's executable mappings, read from /proc/PID/maps while it is
//! alive, so that its addresses can be symbolized after it exits.
//!
//! rtools runs as root among processes of other users and containers, so
//! the files it reads for a process are the process's own: each mapped
//! file is opened through /proc/PID/map_files (the very file mapped, in
//! the process's mount namespace), checked to be the regular file with the
//! mapping's device and inode, and kept open (read later as
//! /proc/self/fd/N, once per device and inode). The perf map is read the
//! way perf reads it: in the process's mount namespace under its own pid,
//! never through a final symlink, never blocking, only a regular file
//! owned by the process's user or root.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

pub use rtools_core::unwind::named_range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset of `start` in the file.
    pub offset: u64,
    /// The path the process mapped (in its own mount namespace).
    pub mapped: PathBuf,
    /// Where rtools reads the file: /proc/self/fd/N of the file opened
    /// from the process.
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
}

/// The executable file mappings of a process, and its JIT symbol map
/// (`/tmp/perf-PID.map`) if it writes one.
#[derive(Debug, Clone, Default)]
pub struct ProcMaps {
    pub mappings: Vec<Mapping>,
    pub perf_map: Vec<(u64, u64, String)>,
    /// Where the vDSO and the main thread's stack are (start, end).
    pub vdso: Option<(u64, u64)>,
    pub stack: Option<(u64, u64)>,
    /// Files skipped and why (shown with -v).
    pub notes: Vec<String>,
}

/// The files opened for traced processes, by (device, inode): one open
/// file per binary however many processes map it.
#[derive(Debug, Default)]
pub struct OpenFiles {
    by_inode: HashMap<(u64, u64), PathBuf>,
    fds: Vec<OwnedFd>,
}

impl OpenFiles {
    /// The readable path of the file `m` maps in process `pid`, opening it
    /// if no process's copy of it is open yet. A failure is not kept: it
    /// may be this process's alone (it exited while its maps were read,
    /// and its map_files went with it), and another process's copy of the
    /// same file can still open.
    fn open(&mut self, pid: u32, m: &RawMapping) -> Result<PathBuf, String> {
        if let Some(found) = self.by_inode.get(&(m.dev, m.inode)) {
            return Ok(found.clone());
        }
        let fd: OwnedFd = open_mapped(pid, m)?.into();
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        self.fds.push(fd);
        self.by_inode.insert((m.dev, m.inode), path.clone());
        Ok(path)
    }
}

/// Opens the file of mapping `m` of `pid`: through map_files, else
/// through the process's root without following a final symlink; it must
/// be the regular file the mapping names (device and inode).
fn open_mapped(pid: u32, m: &RawMapping) -> Result<File, String> {
    let by_range = format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end);
    let inside = PathBuf::from(format!("/proc/{pid}/root"))
        .join(m.path.strip_prefix("/").unwrap_or(&m.path));
    let open = |path: &PathBuf, nofollow: bool| {
        let flags = libc::O_NONBLOCK | if nofollow { libc::O_NOFOLLOW } else { 0 };
        OpenOptions::new().read(true).custom_flags(flags).open(path)
    };
    let file = open(&PathBuf::from(&by_range), false)
        .or_else(|_| open(&inside, true))
        .map_err(|e| format!("{}: {e}", m.path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", m.path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", m.path.display()));
    }
    if (dev_of(meta.dev()), meta.ino()) != (m.dev, m.inode) {
        return Err(format!(
            "{} is not the file the process mapped (replaced?)",
            m.path.display()
        ));
    }
    Ok(file)
}

/// A device number as [`parse_maps`] keeps the `major:minor` of
/// /proc/PID/maps: major << 32 | minor.
fn dev_of(st_dev: u64) -> u64 {
    let (major, minor) = (libc::major(st_dev) as u64, libc::minor(st_dev) as u64);
    (major << 32) | minor
}

impl ProcMaps {
    /// Reads the maps of `pid` and opens their files in `files`; None if
    /// the process is gone.
    pub fn read(pid: u32, files: &mut OpenFiles) -> Option<ProcMaps> {
        let text = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
        let mut maps = ProcMaps {
            vdso: named_range(&text, "[vdso]"),
            stack: named_range(&text, "[stack]"),
            ..ProcMaps::default()
        };
        for raw in parse_maps(&text) {
            match files.open(pid, &raw) {
                Ok(path) => maps.mappings.push(Mapping {
                    start: raw.start,
                    end: raw.end,
                    offset: raw.offset,
                    mapped: raw.path,
                    path,
                    dev: raw.dev,
                    inode: raw.inode,
                }),
                Err(why) => maps.notes.push(format!("pid {pid}: skipped {why}")),
            }
        }
        match read_perf_map(pid) {
            Ok(entries) => maps.perf_map = entries,
            Err(Some(why)) => maps
                .notes
                .push(format!("pid {pid}: skipped its perf map: {why}")),
            Err(None) => {}
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

    /// Keeps the mappings of `older` (an earlier read of the same
    /// process) that none of these overlap: its stacks from before a
    /// library was closed, or before an exec, still resolve.
    pub fn keep_older(&mut self, older: ProcMaps) {
        let overlaps = |o: &Mapping| {
            self.mappings
                .iter()
                .any(|m| m.start < o.end && o.start < m.end)
        };
        let kept: Vec<Mapping> = older
            .mappings
            .into_iter()
            .filter(|o| !overlaps(o))
            .collect();
        self.mappings.extend(kept);
    }

    /// A JIT symbol from the perf map: (name, offset into it).
    pub fn jit_symbol(&self, addr: u64) -> Option<(&str, u64)> {
        self.perf_map
            .iter()
            .find(|(start, size, _)| (*start..start + size).contains(&addr))
            .map(|(start, _, name)| (name.as_str(), addr - start))
    }
}

/// An executable, file-backed line of /proc/PID/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    /// major << 32 | minor, as [`dev_of`] makes of a stat's st_dev.
    pub dev: u64,
    pub inode: u64,
    pub path: PathBuf,
}

/// Executable, file-backed lines of /proc/PID/maps.
pub fn parse_maps(text: &str) -> Vec<RawMapping> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.splitn(6, ' ');
            let (range, perms, offset) = (words.next()?, words.next()?, words.next()?);
            let (dev, inode) = (words.next()?, words.next()?);
            let path = words.next()?.trim_start();
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let (major, minor) = dev.split_once(':')?;
            let hex = |h: &str| u64::from_str_radix(h, 16).ok();
            Some(RawMapping {
                start: hex(start)?,
                end: hex(end)?,
                offset: hex(offset)?,
                dev: (hex(major)? << 32) | hex(minor)?,
                inode: inode.parse().ok()?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The most of a perf map rtools reads.
const PERF_MAP_MAX: u64 = 64 << 20;

/// The perf map of `pid`, read as perf reads it. Err(None): it has none;
/// Err(Some(why)): there is one that is not safe to read.
fn read_perf_map(pid: u32) -> Result<Vec<(u64, u64, String)>, Option<String>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|_| None)?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    // The pid the process knows itself by, in its own pid namespace.
    let ns_pid = field("NSpid:").last().cloned().unwrap_or(pid.to_string());
    let uids: Vec<u32> = field("Uid:")
        .iter()
        .filter_map(|u| u.parse().ok())
        .collect();
    let path = format!("/proc/{pid}/root/tmp/perf-{ns_pid}.map");
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Some(format!("/tmp/perf-{ns_pid}.map is a symlink")))
        }
        Err(e) => return Err(Some(format!("/tmp/perf-{ns_pid}.map: {e}"))),
    };
    let meta = file.metadata().map_err(|e| Some(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Some(format!(
            "/tmp/perf-{ns_pid}.map is not a regular file"
        )));
    }
    if meta.uid() != 0 && !uids.contains(&meta.uid()) {
        return Err(Some(format!(
            "/tmp/perf-{ns_pid}.map is owned by uid {}, not by the process's user or root",
            meta.uid()
        )));
    }
    let mut text = String::new();
    file.take(PERF_MAP_MAX)
        .read_to_string(&mut text)
        .map_err(|e| Some(e.to_string()))?;
    Ok(parse_perf_map(&text))
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
        assert_eq!((maps[0].dev, maps[0].inode), (0xfe << 32, 123));
        assert_eq!(named_range(text, "[vdso]"), Some((0x7f00000, 0x7f01000)));
        assert_eq!(named_range(text, "[stack]"), None);
        let stack = "7ffc000-7ffd000 rw-p 00000000 00:00 0    [stack]\n";
        assert_eq!(named_range(stack, "[stack]"), Some((0x7ffc000, 0x7ffd000)));
        let file = "1000-2000 r-xp 00000000 fe:01 77 /bin/x[vdso]\n";
        assert_eq!(named_range(file, "[vdso]"), None);
        let procs = ProcMaps {
            mappings: maps
                .into_iter()
                .map(|m| Mapping {
                    start: m.start,
                    end: m.end,
                    offset: m.offset,
                    mapped: m.path.clone(),
                    path: m.path,
                    dev: m.dev,
                    inode: m.inode,
                })
                .collect(),
            vdso: None,
            stack: None,
            perf_map: parse_perf_map("7f02000 100 jitted_fn\n7f03000 1 one_byte\n"),
            notes: Vec::new(),
        };
        let (m, off) = procs.file_offset(0x55d0f010).unwrap();
        assert_eq!((m.path.to_str().unwrap(), off), ("/usr/bin/app", 0x1010));
        assert_eq!(procs.jit_symbol(0x7f02010), Some(("jitted_fn", 0x10)));
        assert_eq!(procs.jit_symbol(0x7f03000), Some(("one_byte", 0)));
        assert_eq!(procs.jit_symbol(0x7f03001), None);
        assert!(procs.file_offset(0x1).is_none());
    }

    #[test]
    fn reads_its_own_maps_through_open_files() {
        let mut files = OpenFiles::default();
        let maps = ProcMaps::read(std::process::id(), &mut files).unwrap();
        let exe = std::fs::canonicalize("/proc/self/exe").unwrap();
        let mine = maps
            .mappings
            .iter()
            .find(|m| m.mapped == exe)
            .expect("the exe");
        assert!(mine.path.starts_with("/proc/self/fd/"), "{mine:?}");
        let meta = std::fs::metadata(&mine.path).unwrap();
        assert_eq!((dev_of(meta.dev()), meta.ino()), (mine.dev, mine.inode));
        // A second read shares the open file.
        let again = ProcMaps::read(std::process::id(), &mut files).unwrap();
        let second = again.mappings.iter().find(|m| m.mapped == exe).unwrap();
        assert_eq!(second.path, mine.path);
        // Where the vDSO and the main thread's stack are.
        let text = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert_eq!(maps.vdso, named_range(&text, "[vdso]"));
        assert_eq!(maps.stack, named_range(&text, "[stack]"));
        assert!(maps.vdso.is_some() && maps.stack.is_some(), "{text}");
    }

    use std::os::unix::fs::MetadataExt;

    /// A mapping of this process that map_files does not know (no such
    /// range), so the file is opened by its path.
    fn by_path(path: &std::path::Path) -> RawMapping {
        let meta = fs::metadata(path).unwrap();
        RawMapping {
            start: 0x10,
            end: 0x20,
            offset: 0,
            dev: dev_of(meta.dev()),
            inode: meta.ino(),
            path: path.to_path_buf(),
        }
    }

    #[test]
    fn a_read_again_keeps_the_older_mappings_it_does_not_overlap() {
        let mapping = |start: u64, end: u64, name: &str| Mapping {
            start,
            end,
            offset: 0,
            mapped: PathBuf::from(name),
            path: PathBuf::from(name),
            dev: 1,
            inode: start,
        };
        let maps = |mappings: Vec<Mapping>| ProcMaps {
            mappings,
            ..ProcMaps::default()
        };
        let older = maps(vec![
            mapping(0x1000, 0x3000, "/bin/old"),
            mapping(0x8000, 0x9000, "/lib/kept.so"),
            mapping(0x9000, 0xa000, "/lib/touching.so"),
            mapping(0x4000, 0x5000, "/lib/after.so"),
        ]);
        let mut newer = maps(vec![
            mapping(0x2000, 0x4000, "/bin/new"),
            mapping(0xa000, 0xb000, "/lib/opened.so"),
        ]);
        newer.keep_older(older);
        let names: Vec<_> = newer.mappings.iter().map(|m| m.mapped.clone()).collect();
        let expected = [
            "/bin/new",
            "/lib/opened.so",
            "/lib/kept.so",
            "/lib/touching.so",
            "/lib/after.so",
        ];
        assert_eq!(names, expected.map(PathBuf::from));
        assert_eq!(
            newer.file_offset(0x2800).unwrap().0.mapped,
            PathBuf::from("/bin/new")
        );
        assert_eq!(newer.file_offset(0x1800), None);
    }

    #[test]
    fn device_numbers_are_major_then_minor() {
        assert_eq!(dev_of(libc::makedev(0xfe, 0x1)), 0xfe << 32 | 1);
        assert_eq!(dev_of(libc::makedev(8, 0x12345)), 8 << 32 | 0x12345);
        let maps = parse_maps("1000-2000 r-xp 00000000 fe:01 77 /bin/x\n");
        assert_eq!(maps[0].dev, 0xfe << 32 | 1);
    }

    #[test]
    fn mapped_files_must_be_the_regular_file_mapped() {
        let pid = std::process::id();
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("lib.so");
        fs::write(&file, b"x").unwrap();
        assert!(open_mapped(pid, &by_path(&file)).is_ok());
        // Another file now under the name: not what was mapped.
        let mut replaced = by_path(&file);
        replaced.inode += 1;
        let err = open_mapped(pid, &replaced).unwrap_err();
        assert!(
            err.ends_with("is not the file the process mapped (replaced?)"),
            "{err}"
        );
        // A symlink to the right file is not followed.
        let link = dir.path().join("link.so");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let through_link = RawMapping {
            path: link,
            ..by_path(&file)
        };
        let err = open_mapped(pid, &through_link).unwrap_err();
        assert!(err.contains("symbolic links"), "{err}");
        // A FIFO opens (non-blocking) but is no regular file.
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let err = open_mapped(pid, &by_path(&fifo)).unwrap_err();
        assert!(err.ends_with("is not a regular file"), "{err}");
        // Many processes, one open file. A failure is not remembered: a
        // process that is gone cannot open the file, another one can.
        let mut files = OpenFiles::default();
        let gone = u32::MAX - 1;
        let err = files.open(gone, &by_path(&file)).unwrap_err();
        assert!(err.contains("No such file"), "{err}");
        let first = files.open(pid, &by_path(&file)).unwrap();
        assert_eq!(files.open(gone, &by_path(&file)).unwrap(), first);
        assert_eq!(files.fds.len(), 1);
        for _ in 0..2 {
            let err = files.open(pid, &by_path(&fifo)).unwrap_err();
            assert!(err.ends_with("is not a regular file"), "{err}");
        }
    }

    /// All perf map cases in one test: they share this process's
    /// /tmp/perf-PID.map.
    #[test]
    fn perf_maps_are_read_only_when_safe() {
        let pid = std::process::id();
        let path = std::path::PathBuf::from(format!("/tmp/perf-{pid}.map"));
        let _ = fs::remove_file(&path);
        assert_eq!(read_perf_map(pid), Err(None));
        fs::write(&path, "7f0000 20 jit_a\n7f0100 10 jit b\n").unwrap();
        assert_eq!(
            read_perf_map(pid),
            Ok(vec![
                (0x7f0000, 0x20, "jit_a".to_string()),
                (0x7f0100, 0x10, "jit b".to_string())
            ])
        );
        // Owned by someone else (not root, not the process's user).
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
            let err = read_perf_map(pid).unwrap_err().unwrap();
            assert!(err.contains("is owned by uid 12345"), "{err}");
        }
        fs::remove_file(&path).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("map");
        fs::write(&target, "1 1 x\n").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = read_perf_map(pid).unwrap_err().unwrap();
        fs::remove_file(&path).unwrap();
        assert!(err.ends_with("is a symlink"), "{err}");
        // A socket cannot be opened at all: the error is said as it is.
        let socket = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let err = read_perf_map(pid).unwrap_err().unwrap();
        drop(socket);
        fs::remove_file(&path).unwrap();
        assert!(err.starts_with(&format!("/tmp/perf-{pid}.map: ")), "{err}");
        assert!(!err.contains("symlink"), "{err}");
    }

    /// A perf map owned by root, or by the process's own user, is read;
    /// by anyone else, not (root only: the process runs as another user).
    #[test]
    fn perf_maps_of_another_user_must_be_theirs_or_roots() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("RTOOLS_TEST_NO_SKIP").is_none(),
                "changing users needs root"
            );
            eprintln!("SKIPPED: changing users needs root");
            return;
        }
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .uid(12345)
            .spawn()
            .unwrap();
        let pid = child.id();
        let path = std::path::PathBuf::from(format!("/tmp/perf-{pid}.map"));
        fs::write(&path, "10 10 f\n").unwrap();
        let mut owners = Vec::new();
        for uid in [0, 12345, 4242] {
            std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
            owners.push(read_perf_map(pid).map_err(|e| e.unwrap_or_default()));
        }
        let _ = fs::remove_file(&path);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(owners[0], Ok(vec![(0x10, 0x10, "f".to_string())]));
        assert_eq!(owners[1], Ok(vec![(0x10, 0x10, "f".to_string())]));
        let err = owners[2].clone().unwrap_err();
        assert!(err.contains("is owned by uid 4242"), "{err}");
    }
}

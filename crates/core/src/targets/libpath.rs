//! Finds the file behind a library or binary name the way BCC does:
//! a path as given; `c` means libc, `pthread` libpthread (the traced
//! process's own copy first with `-p`, then ld.so.cache, then the standard
//! directories); a bare name that is no library is looked up in `$PATH`.
//! The loader's files are read under a system root, `/` but in tests.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories the dynamic loader searches when ld.so.cache has no entry.
fn standard_dirs() -> [String; 6] {
    let multiarch = crate::arch::MULTIARCH;
    [
        format!("/lib/{multiarch}"),
        format!("/usr/lib/{multiarch}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
    ]
}
const LD_SO_CACHE: &str = "/etc/ld.so.cache";

/// An OS error's text without Rust's " (os error N)".
fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

/// `path` (absolute) under the system root `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Resolves `name` to a file, or explains what was searched; the loader's
/// cache and directories are those under `root`.
pub fn resolve(root: &Path, name: &str, pid: Option<u32>) -> Result<PathBuf, String> {
    if name.contains('/') {
        let path = Path::new(name);
        // What kind of file it is, if not a regular one, is for the ELF
        // check to say.
        return match fs::metadata(path) {
            Ok(_) => Ok(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("no such file '{name}'"))
            }
            // A symlink loop, a directory not searchable, ...: the system
            // says which.
            Err(e) => Err(os_message(&e)),
        };
    }
    let prefix = so_prefix(name);
    pid.and_then(|pid| from_process_maps(pid, &prefix))
        .or_else(|| from_ld_so_cache(root, &prefix))
        .or_else(|| from_standard_dirs(root, &prefix))
        .or_else(|| from_path_env(name))
        .ok_or_else(|| {
            format!(
                "no library '{prefix}*' (searched {}ld.so.cache and {}) and no '{name}' in $PATH",
                if pid.is_some() {
                    "the process's maps, "
                } else {
                    ""
                },
                standard_dirs().join(", ")
            )
        })
}

/// `c` -> `libc.so`, `libfoo` -> `libfoo.so`, `libc.so.6` stays.
fn so_prefix(name: &str) -> String {
    if name.contains(".so") {
        name.to_string()
    } else if name.starts_with("lib") {
        format!("{name}.so")
    } else {
        format!("lib{name}.so")
    }
}

fn file_name_matches(path: &str, prefix: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.starts_with(prefix)
}

fn from_process_maps(pid: u32, prefix: &str) -> Option<PathBuf> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.starts_with('/') && file_name_matches(path, prefix))
        .map(|path| in_mount_namespace_of(pid, Path::new(path)))
}

/// `path` as process `pid` sees it: through /proc/PID/root when the
/// process lives in another mount namespace (a container), where the same
/// path may name another file on the host.
pub fn in_mount_namespace_of(pid: u32, path: &Path) -> PathBuf {
    let ns = |p: &str| fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    if ns(&pid.to_string()) == ns("self") {
        return path.to_path_buf();
    }
    PathBuf::from(format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap_or(path))
}

fn from_ld_so_cache(root: &Path, prefix: &str) -> Option<PathBuf> {
    let cache = fs::read(under(root, LD_SO_CACHE)).ok()?;
    ld_so_cache_entries(&cache)
        .into_iter()
        .filter(|(key, _)| file_name_matches(key, prefix))
        .map(|(_, path)| under(root, &path))
        .find(|path| path.is_file())
}

/// `(soname, path)` pairs of this architecture's libraries in an ld.so.cache in
/// glibc's current format ("glibc-ld.so.cache1.1"), in the cache's order.
pub fn ld_so_cache_entries(cache: &[u8]) -> Vec<(String, String)> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    use crate::arch::{LD_CACHE_ARCH, LD_CACHE_ARCH_MASK};
    if !cache.starts_with(MAGIC) {
        return Vec::new();
    }
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(cache.get(at..at + 4)?.try_into().ok()?))
    };
    let string = |at: u32| -> Option<String> {
        let rest = cache.get(at as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let count = word(MAGIC.len()).unwrap_or(0) as usize;
    (0..count)
        .filter_map(|i| {
            let at = HEADER + i * ENTRY;
            let flags = word(at)? as i32;
            if flags & LD_CACHE_ARCH_MASK != LD_CACHE_ARCH {
                return None;
            }
            Some((string(word(at + 4)?)?, string(word(at + 8)?)?))
        })
        .collect()
}

fn from_standard_dirs(root: &Path, prefix: &str) -> Option<PathBuf> {
    standard_dirs().iter().find_map(|dir| {
        let mut names: Vec<PathBuf> = fs::read_dir(under(root, dir))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && file_name_matches(&p.to_string_lossy(), prefix))
            .collect();
        // `libfoo.so` itself before versioned names.
        names.sort_by_key(|p| p.as_os_str().len());
        names.into_iter().next()
    })
}

fn from_path_env(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_bcc() {
        assert_eq!(so_prefix("c"), "libc.so");
        assert_eq!(so_prefix("pthread"), "libpthread.so");
        assert_eq!(so_prefix("libc"), "libc.so");
        assert_eq!(so_prefix("libc.so.6"), "libc.so.6");
    }

    /// The fixture system root (tests/fixtures/make.sh): libfixture.so.1
    /// in its loader cache, libonlydir.so only in a standard directory.
    fn fixture_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/root")
    }

    #[test]
    fn libraries_resolve_through_the_loader_cache() {
        let root = fixture_root();
        let mut entries = ld_so_cache_entries(&fs::read(root.join("etc/ld.so.cache")).unwrap());
        entries.sort();
        let entry = |soname: &str| (soname.to_string(), format!("/opt/fixture/lib/{soname}"));
        assert_eq!(entries, [entry("libfixture.so.1"), entry("libsecond.so.2")]);
        assert_eq!(
            resolve(&root, "second", None).unwrap(),
            root.join("opt/fixture/lib/libsecond.so.2")
        );
        let want = root.join("opt/fixture/lib/libfixture.so.1");
        assert_eq!(resolve(&root, "fixture", None).unwrap(), want);
        assert_eq!(resolve(&root, "libfixture", None).unwrap(), want);
        assert_eq!(resolve(&root, "libfixture.so.1", None).unwrap(), want);
    }

    #[test]
    fn libraries_in_no_cache_come_from_the_standard_directories() {
        let root = fixture_root();
        assert_eq!(
            resolve(&root, "onlydir", None).unwrap(),
            root.join("usr/lib/libonlydir.so")
        );
    }

    #[test]
    fn caches_of_other_formats_or_machines_name_nothing() {
        let cache = fs::read(fixture_root().join("etc/ld.so.cache")).unwrap();
        assert_eq!(ld_so_cache_entries(b"ld.so-1.7.0\0"), vec![]);
        // The entries marked for another architecture (i386 ELF).
        let mut other = cache.clone();
        other[48..52].copy_from_slice(&0x0001i32.to_le_bytes());
        other[72..76].copy_from_slice(&0x0001i32.to_le_bytes());
        assert_eq!(ld_so_cache_entries(&other), vec![]);
        // Cut short: no panic, no entry read past the end.
        assert_eq!(ld_so_cache_entries(&cache[..60]), vec![]);
    }

    #[test]
    fn own_process_maps_name_libc() {
        let pid = std::process::id();
        let path = from_process_maps(pid, "libc.so").unwrap();
        assert!(path.is_file());
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with("libc.so"), "{path:?}");
        assert_eq!(from_process_maps(pid, "libno_such_xyz.so"), None);
        // Our own mount namespace: paths stay as they are.
        assert_eq!(in_mount_namespace_of(pid, &path), path);
    }

    #[test]
    fn bare_binary_names_come_from_path() {
        assert!(resolve(&fixture_root(), "sh", None).unwrap().is_file());
    }

    #[test]
    fn misses_explain_the_search() {
        let err = resolve(&fixture_root(), "no_such_library_xyz", None).unwrap_err();
        assert!(
            err.contains("libno_such_library_xyz.so*") && err.contains("$PATH"),
            "{err}"
        );
        assert_eq!(
            resolve(&fixture_root(), "./nope/x", None).unwrap_err(),
            "no such file './nope/x'"
        );
    }

    /// Issue 25: a symlink loop said "no such file".
    #[test]
    fn a_symlink_loop_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink(&a, &b).unwrap();
        std::os::unix::fs::symlink(&b, &a).unwrap();
        let err = resolve(&fixture_root(), a.to_str().unwrap(), None).unwrap_err();
        assert_eq!(err, "too many levels of symbolic links");
    }
}

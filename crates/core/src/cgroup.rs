//! cgroup v2 paths and ids, for `--cgroup` and `--by cgroup`. The v2
//! hierarchy is found in /proc/mounts (it is /sys/fs/cgroup on most
//! systems, /sys/fs/cgroup/unified where v1 controllers are mounted too);
//! a cgroup's id is its directory's inode number.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the cgroup v2 hierarchy is mounted, if it is.
pub fn v2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(dir))
    })
}

/// The directory `--cgroup ARG` names: a path in the v2 hierarchy, as
/// absolute (`/sys/fs/cgroup/...`) or relative to its mount
/// (`/system.slice/x.service` or `system.slice/x.service`).
pub fn resolve(arg: &str) -> Result<PathBuf, String> {
    let mount = v2_mount().ok_or("this system has no cgroup v2 hierarchy mounted")?;
    let given = Path::new(arg);
    let candidates = [given.to_path_buf(), mount.join(arg.trim_start_matches('/'))];
    candidates
        .into_iter()
        .find(|p| p.starts_with(&mount) && p.join("cgroup.procs").is_file())
        .ok_or_else(|| {
            format!(
                "no cgroup v2 directory '{arg}' (looked under {}): give a path in that hierarchy",
                mount.display()
            )
        })
}

/// Names cgroup ids by their path in the v2 hierarchy (`/` for the root).
#[derive(Debug, Default)]
pub struct CgroupNames {
    names: HashMap<u64, String>,
}

impl CgroupNames {
    /// The path of cgroup `id`, or `cgroup ID` when it is gone.
    pub fn name(&mut self, id: u64) -> String {
        if !self.names.contains_key(&id) {
            // A new id: learn every cgroup there is now.
            if let Some(mount) = v2_mount() {
                self.walk(&mount, &mount, 0);
            }
        }
        self.names
            .entry(id)
            .or_insert_with(|| format!("cgroup {id}"))
            .clone()
    }

    fn walk(&mut self, mount: &Path, dir: &Path, depth: usize) {
        if depth > 32 {
            return;
        }
        if let Ok(meta) = fs::metadata(dir) {
            let relative = dir.strip_prefix(mount).unwrap_or(dir);
            self.names
                .insert(meta.ino(), format!("/{}", relative.display()));
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.walk(mount, &entry.path(), depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_cgroup_is_named_slash() {
        let Some(mount) = v2_mount() else {
            // CI refuses skips (RTOOLS_TEST_NO_SKIP, tests/suite/support.rs).
            assert!(
                std::env::var_os("RTOOLS_TEST_NO_SKIP").is_none(),
                "no cgroup v2 hierarchy mounted here"
            );
            eprintln!("SKIPPED: no cgroup v2 hierarchy mounted here");
            return;
        };
        let id = fs::metadata(&mount).unwrap().ino();
        assert_eq!(CgroupNames::default().name(id), "/");
        assert_eq!(resolve("/").unwrap(), mount);
        assert!(resolve("no-such-cgroup-xyz")
            .unwrap_err()
            .contains("no cgroup v2 directory"));
    }
}

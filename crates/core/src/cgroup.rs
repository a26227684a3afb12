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
    v2_mount_in(&fs::read_to_string("/proc/mounts").ok()?)
}

/// The first cgroup2 mount of a /proc/mounts text.
fn v2_mount_in(mounts: &str) -> Option<PathBuf> {
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
    resolve_under(&mount, arg)
}

fn resolve_under(mount: &Path, arg: &str) -> Result<PathBuf, String> {
    let given = Path::new(arg);
    let candidates = [given.to_path_buf(), mount.join(arg.trim_start_matches('/'))];
    candidates
        .into_iter()
        .find(|p| p.starts_with(mount) && p.join("cgroup.procs").is_file())
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
    /// The hierarchy's mount; None: the machine's, found when needed.
    mount: Option<PathBuf>,
}

/// Levels below the mount that are walked: deeper cgroups print by id.
const MAX_DEPTH: usize = 32;

impl CgroupNames {
    /// The path of cgroup `id`, or `cgroup ID` when it is gone.
    pub fn name(&mut self, id: u64) -> String {
        if !self.names.contains_key(&id) {
            // A new id: learn every cgroup there is now.
            if let Some(mount) = self.mount.clone().or_else(v2_mount) {
                self.walk(&mount, &mount, 0);
            }
        }
        self.names
            .entry(id)
            .or_insert_with(|| format!("cgroup {id}"))
            .clone()
    }

    fn walk(&mut self, mount: &Path, dir: &Path, depth: usize) {
        if depth > MAX_DEPTH {
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
    fn the_v2_mount_is_the_first_cgroup2_line() {
        let mounts = "proc /proc proc rw 0 0\n\
                      cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      cgroup2 /other cgroup2 rw 0 0\n";
        assert_eq!(
            v2_mount_in(mounts),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(v2_mount_in("proc /proc proc rw 0 0\n"), None);
    }

    /// A hierarchy of `depth` nested directories `d` under a temp dir,
    /// each with a cgroup.procs file.
    fn tree(depth: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let top = tempfile::TempDir::new().unwrap();
        let mut dirs = vec![top.path().to_path_buf()];
        for _ in 0..depth {
            let next = dirs.last().unwrap().join("d");
            fs::create_dir(&next).unwrap();
            dirs.push(next);
        }
        for dir in &dirs {
            fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        (top, dirs)
    }

    #[test]
    fn ids_are_named_by_path_down_to_the_depth_limit() {
        let (top, dirs) = tree(MAX_DEPTH + 2);
        let mut names = CgroupNames {
            mount: Some(top.path().to_path_buf()),
            ..CgroupNames::default()
        };
        let ino = |dir: &Path| fs::metadata(dir).unwrap().ino();
        assert_eq!(names.name(ino(&dirs[0])), "/");
        assert_eq!(names.name(ino(&dirs[2])), "/d/d");
        assert_eq!(names.name(ino(&dirs[MAX_DEPTH])), "/d".repeat(MAX_DEPTH));
        let deeper = ino(&dirs[MAX_DEPTH + 1]);
        assert_eq!(names.name(deeper), format!("cgroup {deeper}"));
    }

    #[test]
    fn cgroup_arguments_are_paths_in_the_hierarchy() {
        let (top, dirs) = tree(2);
        let mount = top.path();
        assert_eq!(resolve_under(mount, "/d/d").unwrap(), dirs[2]);
        assert_eq!(resolve_under(mount, "d").unwrap(), dirs[1]);
        let absolute = dirs[1].display().to_string();
        assert_eq!(resolve_under(mount, &absolute).unwrap(), dirs[1]);
        let err = resolve_under(mount, "/etc").unwrap_err();
        assert!(
            err.starts_with("no cgroup v2 directory '/etc' (looked under "),
            "{err}"
        );
        // A directory without cgroup.procs is no cgroup.
        fs::create_dir(mount.join("plain")).unwrap();
        assert!(resolve_under(mount, "plain").is_err());
    }

    #[test]
    fn the_machines_root_cgroup_is_named_slash() {
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
    }
}

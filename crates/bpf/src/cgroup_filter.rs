//! `--cgroup`: the programs count only tasks under one cgroup v2
//! directory, kept in their `cgroup_filter` map (common.bpf.h).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use libbpf_rs::{MapCore, MapFlags, MapMut};

use crate::error::BpfError;

/// Puts cgroup directory `dir` in a loaded program's `cgroup_filter` map;
/// the map holds the cgroup itself, so the directory's fd is closed after.
pub fn apply(map: &MapMut<'_>, dir: &Path) -> Result<(), BpfError> {
    let err = |detail: String| BpfError::Map {
        map: "cgroup_filter",
        detail,
    };
    let file = File::open(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    let fd = file.as_raw_fd() as u32;
    map.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| err(format!("{e:#}")))
}

//! `--cgroup`: the programs count only tasks under one cgroup v2
//! directory, kept in their `cgroup_filter` map (common.bpf.h).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use libbpf_rs::{MapCore, MapFlags};

use crate::error::{map_error, BpfError};

/// Puts cgroup directory `dir` in a loaded program's `cgroup_filter` map;
/// the map holds the cgroup itself, so the directory's fd is closed after.
pub fn apply(map: &impl MapCore, dir: &Path) -> Result<(), BpfError> {
    let file = File::open(dir).map_err(|source| BpfError::Cgroup {
        dir: dir.to_path_buf(),
        source,
    })?;
    let fd = file.as_raw_fd() as u32;
    map.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .map_err(map_error("cgroup_filter"))
}

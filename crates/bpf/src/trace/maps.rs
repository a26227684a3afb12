//! The maps trace's programs share, created before the programs (which
//! name them by fd): the ring buffer of records, the lost-records counter
//! and, with --cgroup, the cgroup filter.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use libbpf_rs::libbpf_sys::bpf_map_create_opts;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

use crate::cgroup_filter;
use crate::error::{map_error, BpfError};

pub struct Maps {
    /// The ring buffer: `pages` pages, as BCC's -b.
    pub events: MapHandle,
    events_size: u32,
    /// Per CPU, the records that found the ring buffer full.
    pub lost: MapHandle,
    pub cgroup: Option<MapHandle>,
}

fn create(
    kind: MapType,
    name: &str,
    key: u32,
    value: u32,
    entries: u32,
) -> Result<MapHandle, BpfError> {
    let opts = bpf_map_create_opts {
        sz: size_of::<bpf_map_create_opts>() as _,
        ..Default::default()
    };
    MapHandle::create(kind, Some(name), key, value, entries, &opts).map_err(BpfError::Load)
}

/// A program array for the syscall dispatchers of a probe: `entries`
/// slots, a syscall tracepoint's program at its key (see
/// `codegen::syscall_dispatcher`).
pub fn prog_array(entries: u32) -> Result<MapHandle, BpfError> {
    create(MapType::ProgArray, "rt_syscalls", 4, 4, entries)
}

/// Puts program `prog` at `key` of `array`.
pub fn set_program(array: &MapHandle, key: u32, prog: i32) -> Result<(), BpfError> {
    array
        .update(&key.to_ne_bytes(), &prog.to_ne_bytes(), MapFlags::ANY)
        .map_err(map_error("rt_syscalls"))
}

impl Maps {
    pub fn create(pages: u32, cgroup: Option<&Path>) -> Result<Maps, BpfError> {
        let page = page_size();
        let events_size = pages * page;
        let events = create(MapType::RingBuf, "rt_events", 0, 0, events_size)?;
        let lost = create(MapType::PercpuArray, "rt_lost", 4, 8, 1)?;
        let cgroup = match cgroup {
            Some(dir) => {
                let map = create(MapType::CgroupArray, "rt_cgroup", 4, 4, 1)?;
                cgroup_filter::apply(&map, dir)?;
                Some(map)
            }
            None => None,
        };
        Ok(Maps {
            events,
            events_size,
            lost,
            cgroup,
        })
    }

    /// The ring buffer's size in bytes.
    pub fn events_size(&self) -> u32 {
        self.events_size
    }

    pub fn events_fd(&self) -> i32 {
        self.events.as_fd().as_raw_fd()
    }

    pub fn lost_fd(&self) -> i32 {
        self.lost.as_fd().as_raw_fd()
    }

    pub fn cgroup_fd(&self) -> Option<i32> {
        self.cgroup.as_ref().map(|m| m.as_fd().as_raw_fd())
    }

    /// Records lost since the start, all CPUs.
    pub fn lost(&self) -> Result<u64, BpfError> {
        let values = self
            .lost
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_error("rt_lost"))?
            .unwrap_or_default();
        Ok(values
            .iter()
            .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap_or_default()))
            .sum())
    }
}

/// The machine's page size: the ring buffer is a power-of-two number of
/// pages.
fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).unwrap_or(4096)
}

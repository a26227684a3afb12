//! Reading per-CPU counters: the sum over CPUs of one 8-byte value.

use libbpf_rs::{MapCore, MapFlags, MapMut};

use crate::error::{map_error, BpfError};

/// The sum over all CPUs of the u64 at `key` (0 if the key is absent).
pub fn sum(map: &MapMut<'_>, key: &[u8], name: &'static str) -> Result<u64, BpfError> {
    let values = map
        .lookup_percpu(key, MapFlags::ANY)
        .map_err(map_error(name))?
        .unwrap_or_default();
    Ok(values
        .iter()
        .map(|v| u64::from_ne_bytes(v[..8].try_into().expect("8-byte counters")))
        .sum())
}

/// [`sum`] for array maps indexed by u32.
pub fn sum_at(map: &MapMut<'_>, index: u32, name: &'static str) -> Result<u64, BpfError> {
    sum(map, &index.to_ne_bytes(), name)
}

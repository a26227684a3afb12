//! Map keys read through the types the skeletons generate from the BPF
//! programs' BTF (`#[repr(C)]` structs of the programs' own key structs),
//! so the layout has one definition: the C header.

use std::mem::size_of;

use crate::skel::{count, latency, stack};

/// A generated key type: `#[repr(C)]`, integers and integer arrays only,
/// so every byte pattern is a valid value.
///
/// # Safety
/// Only for types whose every bit pattern is valid.
unsafe trait PlainKey: Copy {}

// SAFETY: u32/i32/u64 fields and an i8 array.
unsafe impl PlainKey for stack::types::stack_key {}
// SAFETY: u32 fields, an i8 array and a u64.
unsafe impl PlainKey for count::types::group_key {}
// SAFETY: two u32 fields.
unsafe impl PlainKey for latency::types::pid_key {}

/// The key in `raw`, as the map hands it out; None when the size is not
/// the type's (a map of another layout).
#[allow(private_bounds)]
pub fn read<T: PlainKey>(raw: &[u8]) -> Option<T> {
    if raw.len() != size_of::<T>() {
        return None;
    }
    // SAFETY: the size matches, T is plain (every bit pattern valid), and
    // read_unaligned does not need `raw` aligned.
    Some(unsafe { std::ptr::read_unaligned(raw.as_ptr().cast::<T>()) })
}

/// A NUL-terminated `char comm[16]` as text.
pub fn comm(chars: &[i8]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_field_by_field() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&7u32.to_ne_bytes());
        raw.extend_from_slice(&4242u32.to_ne_bytes());
        raw.extend_from_slice(&(-17i32).to_ne_bytes());
        raw.extend_from_slice(&3i32.to_ne_bytes());
        raw.extend_from_slice(&0x55aa_u64.to_ne_bytes());
        raw.extend_from_slice(b"bash\0\0\0\0\0\0\0\0\0\0\0\0");
        let key: stack::types::stack_key = read(&raw).unwrap();
        assert_eq!((key.slot, key.tgid), (7, 4242));
        assert_eq!((key.kernel_stack_id, key.user_stack_id), (-17, 3));
        assert_eq!(key.entry_return, 0x55aa);
        assert_eq!(comm(&key.comm), "bash");
        assert!(read::<stack::types::stack_key>(&raw[..39]).is_none());
        let pid: latency::types::pid_key = read(&raw[..8]).unwrap();
        assert_eq!((pid.slot, pid.tgid), (7, 4242));
        assert_eq!(comm(&[b'a' as i8; 16]), "a".repeat(16));
    }
}

//! Map keys and values read (and keys written) through the types the
//! skeletons generate from the BPF programs' BTF (`#[repr(C)]` structs of
//! the programs' own structs), so the layout has one definition: the C
//! header.

use std::mem::size_of;

use crate::skel::{count, latency, stack};

/// A generated type: `#[repr(C)]`, integers, integer arrays and unions of
/// integers only, so every byte pattern is a valid value.
///
/// # Safety
/// Only for types whose every bit pattern is valid.
unsafe trait Plain: Copy {}

// SAFETY: u32/i32/u64 fields and an i8 array.
unsafe impl Plain for stack::types::stack_key {}
// SAFETY: a u32 and an i32.
unsafe impl Plain for stack::types::build_id_key {}
// SAFETY: u32 fields and an array of structs of an i32, a u8 array and a
// union of two u64s.
unsafe impl Plain for stack::types::build_id_stack {}
// SAFETY: u32 fields, an i8 array and a u64.
unsafe impl Plain for count::types::group_key {}
// SAFETY: two u32 fields.
unsafe impl Plain for latency::types::pid_key {}
// SAFETY: a u64 array and a u64.
unsafe impl Plain for latency::types::pid_hist {}

/// The value in `raw`, as the map hands it out; None when the size is not
/// the type's (a map of another layout).
#[allow(private_bounds)]
pub fn read<T: Plain>(raw: &[u8]) -> Option<T> {
    if raw.len() != size_of::<T>() {
        return None;
    }
    // SAFETY: the size matches, T is plain (every bit pattern valid), and
    // read_unaligned does not need `raw` aligned.
    Some(unsafe { std::ptr::read_unaligned(raw.as_ptr().cast::<T>()) })
}

/// The bytes of `value`, to hand to the kernel as a map key.
#[allow(private_bounds)]
pub fn bytes<T: Plain>(value: &T) -> &[u8] {
    // SAFETY: T is plain (no padding the generated types don't name as
    // fields, no pointers), so its memory is size_of::<T>() valid bytes.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// The length of array field `$field` of generated type `$ty`, as a
/// constant: how the C headers' array sizes (BUCKETS, MAX_NEST) reach
/// Rust.
macro_rules! array_len {
    ($ty:ty, $field:ident) => {{
        const fn len<T, const N: usize>(_: *const [T; N]) -> usize {
            N
        }
        let value = std::mem::MaybeUninit::<$ty>::uninit();
        // SAFETY: only the field's address is taken, no reference to the
        // uninitialized value is made, and nothing is read.
        len(unsafe { &raw const (*value.as_ptr()).$field })
    }};
}
pub(crate) use array_len;

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
        assert_eq!(bytes(&pid), &raw[..8]);
        assert_eq!(array_len!(latency::types::pid_hist, buckets), 65);
        assert_eq!(comm(&[b'a' as i8; 16]), "a".repeat(16));
    }
}

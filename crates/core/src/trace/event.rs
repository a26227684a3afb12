//! The record each trace program sends through the ring buffer, defined
//! once for the code generator (which writes it) and the reader (which
//! decodes it): a fixed header, the format's values (8 bytes a number,
//! `-Z` bytes a string), then the stacks asked for.

/// Header fields: byte offsets.
pub mod header {
    /// u32: which probe of the command line.
    pub const PROBE: usize = 0;
    /// u32: which of its targets (the attach cookie).
    pub const SLOT: usize = 4;
    /// u32: process id (tgid).
    pub const TGID: usize = 8;
    /// u32: thread id.
    pub const TID: usize = 12;
    /// u32: the task's user id.
    pub const UID: usize = 16;
    /// u32: the CPU it ran on.
    pub const CPU: usize = 20;
    /// u64: bpf_ktime_get_ns() at the event.
    pub const TIME: usize = 24;
    /// i32 each: bytes of kernel and user stack written (bpf_get_stack's
    /// answer: negative for an error).
    pub const KERNEL_STACK: usize = 32;
    pub const USER_STACK: usize = 36;
    /// char[16]: the task's command.
    pub const COMM: usize = 40;
    pub const COMM_LEN: usize = 16;
    /// Where the values begin.
    pub const SIZE: usize = 56;
}

/// Frames a stack keeps (the kernel's PERF_MAX_STACK_DEPTH).
pub const STACK_FRAMES: usize = 127;
const STACK_BYTES: usize = STACK_FRAMES * 8;

/// What one value of the format occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A 64-bit number.
    Num,
    /// A string of at most this many bytes, NUL included.
    Str(usize),
}

/// Where each part of a probe's records lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Each value's offset and kind, in the format's order.
    pub values: Vec<(usize, Slot)>,
    pub kernel_stack: Option<usize>,
    pub user_stack: Option<usize>,
    /// The whole record, rounded up to 8 bytes.
    pub size: usize,
}

impl Layout {
    pub fn new(values: &[Slot], kernel_stack: bool, user_stack: bool) -> Layout {
        let mut at = header::SIZE;
        let values = values
            .iter()
            .map(|&slot| {
                let here = at;
                at += match slot {
                    Slot::Num => 8,
                    Slot::Str(n) => n.next_multiple_of(8),
                };
                (here, slot)
            })
            .collect();
        let mut stack = |wanted: bool| {
            wanted.then(|| {
                let here = at;
                at += STACK_BYTES;
                here
            })
        };
        let kernel_stack = stack(kernel_stack);
        let user_stack = stack(user_stack);
        Layout {
            values,
            kernel_stack,
            user_stack,
            size: at,
        }
    }
}

/// A value as collected: a number, or a string's bytes up to its NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected<'a> {
    Num(u64),
    Str(&'a [u8]),
}

/// A record from the ring buffer, read through its probe's [`Layout`].
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Record<'a> {
    fn u32_at(&self, at: usize) -> u32 {
        self.bytes
            .get(at..at + 4)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap_or_default()))
    }

    fn u64_at(&self, at: usize) -> u64 {
        self.bytes
            .get(at..at + 8)
            .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn probe(&self) -> u32 {
        self.u32_at(header::PROBE)
    }

    pub fn slot(&self) -> u32 {
        self.u32_at(header::SLOT)
    }

    pub fn tgid(&self) -> u32 {
        self.u32_at(header::TGID)
    }

    pub fn tid(&self) -> u32 {
        self.u32_at(header::TID)
    }

    pub fn uid(&self) -> u32 {
        self.u32_at(header::UID)
    }

    pub fn cpu(&self) -> u32 {
        self.u32_at(header::CPU)
    }

    pub fn time_ns(&self) -> u64 {
        self.u64_at(header::TIME)
    }

    /// The command, up to its NUL.
    pub fn comm(&self) -> &'a [u8] {
        cstr(
            self.bytes
                .get(header::COMM..header::COMM + header::COMM_LEN),
        )
    }

    /// The values, in the format's order.
    pub fn values(&self, layout: &Layout) -> Vec<Collected<'a>> {
        self.values_iter(layout).collect()
    }

    /// [`Record::values`], one at a time.
    pub fn values_iter<'l>(
        &self,
        layout: &'l Layout,
    ) -> impl Iterator<Item = Collected<'a>> + use<'a, 'l> {
        let r = *self;
        layout.values.iter().map(move |&(at, slot)| match slot {
            Slot::Num => Collected::Num(r.u64_at(at)),
            Slot::Str(n) => Collected::Str(cstr(r.bytes.get(at..at + n))),
        })
    }

    /// The kernel stack's return addresses, leaf first; an error code
    /// (negative) where the kernel could not take it.
    pub fn kernel_stack(&self, layout: &Layout) -> Result<Vec<u64>, i32> {
        self.stack(layout.kernel_stack, header::KERNEL_STACK)
    }

    pub fn user_stack(&self, layout: &Layout) -> Result<Vec<u64>, i32> {
        self.stack(layout.user_stack, header::USER_STACK)
    }

    fn stack(&self, at: Option<usize>, len_at: usize) -> Result<Vec<u64>, i32> {
        let Some(at) = at else {
            return Ok(Vec::new());
        };
        let len = self.u32_at(len_at) as i32;
        if len < 0 {
            return Err(len);
        }
        let len = (len as usize).min(STACK_BYTES);
        Ok(self
            .bytes
            .get(at..at + len)
            .unwrap_or_default()
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
            .collect())
    }
}

/// The bytes before the first NUL.
fn cstr(bytes: Option<&[u8]>) -> &[u8] {
    let bytes = bytes.unwrap_or_default();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_header_in_order() {
        let layout = Layout::new(&[Slot::Num, Slot::Str(80), Slot::Num], false, true);
        assert_eq!(
            layout.values,
            [(56, Slot::Num), (64, Slot::Str(80)), (144, Slot::Num)]
        );
        assert_eq!(layout.kernel_stack, None);
        assert_eq!(layout.user_stack, Some(152));
        assert_eq!(layout.size, 152 + 127 * 8);
        // Odd string sizes keep the next value aligned.
        let odd = Layout::new(&[Slot::Str(5), Slot::Num], true, false);
        assert_eq!(odd.values[1].0, 64);
        assert_eq!(odd.kernel_stack, Some(72));
    }

    #[test]
    fn records_decode_through_the_layout() {
        let layout = Layout::new(&[Slot::Num, Slot::Str(8)], true, false);
        let mut bytes = vec![0u8; layout.size];
        bytes[header::PROBE..][..4].copy_from_slice(&2u32.to_ne_bytes());
        bytes[header::SLOT..][..4].copy_from_slice(&5u32.to_ne_bytes());
        bytes[header::TGID..][..4].copy_from_slice(&100u32.to_ne_bytes());
        bytes[header::TID..][..4].copy_from_slice(&101u32.to_ne_bytes());
        bytes[header::UID..][..4].copy_from_slice(&1000u32.to_ne_bytes());
        bytes[header::CPU..][..4].copy_from_slice(&3u32.to_ne_bytes());
        bytes[header::TIME..][..8].copy_from_slice(&77u64.to_ne_bytes());
        bytes[header::COMM..][..4].copy_from_slice(b"bash");
        bytes[56..64].copy_from_slice(&42u64.to_ne_bytes());
        bytes[64..70].copy_from_slice(b"hello\0");
        bytes[header::KERNEL_STACK..][..4].copy_from_slice(&16i32.to_ne_bytes());
        let k = layout.kernel_stack.unwrap();
        bytes[k..k + 8].copy_from_slice(&0xffff_1234u64.to_ne_bytes());
        bytes[k + 8..k + 16].copy_from_slice(&0xffff_5678u64.to_ne_bytes());
        let r = Record { bytes: &bytes };
        assert_eq!((r.probe(), r.slot(), r.tgid(), r.tid()), (2, 5, 100, 101));
        assert_eq!((r.uid(), r.cpu(), r.time_ns()), (1000, 3, 77));
        assert_eq!(r.comm(), b"bash");
        assert_eq!(
            r.values(&layout),
            [Collected::Num(42), Collected::Str(b"hello")]
        );
        assert_eq!(r.kernel_stack(&layout), Ok(vec![0xffff_1234, 0xffff_5678]));
        assert_eq!(r.user_stack(&layout), Ok(vec![]));
        bytes[header::KERNEL_STACK..][..4].copy_from_slice(&(-14i32).to_ne_bytes());
        assert_eq!(Record { bytes: &bytes }.kernel_stack(&layout), Err(-14));
        // An empty stack is no error; a length past the room is cut to it.
        bytes[header::KERNEL_STACK..][..4].copy_from_slice(&0i32.to_ne_bytes());
        assert_eq!(Record { bytes: &bytes }.kernel_stack(&layout), Ok(vec![]));
        bytes[header::KERNEL_STACK..][..4]
            .copy_from_slice(&(STACK_BYTES as i32 + 64).to_ne_bytes());
        let all = Record { bytes: &bytes }.kernel_stack(&layout).unwrap();
        assert_eq!(all.len(), STACK_FRAMES);
        // A short record reads as zeros, never panics.
        let short = Record {
            bytes: &bytes[..10],
        };
        assert_eq!((short.tgid(), short.comm()), (0, &b""[..]));
        assert_eq!(
            short.values(&layout),
            [Collected::Num(0), Collected::Str(b"")]
        );
    }
}

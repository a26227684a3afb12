//! x86-64: its registers, calling convention, address space, syscall
//! table, prologues and framehop's unwinder for it.

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};

/// The architecture as messages name it.
pub const NAME: &str = "x86-64";

/// Debian's multiarch triplet: the library directories' names.
pub const MULTIARCH: &str = "x86_64-linux-gnu";

/// ELF `e_machine` of the binaries rtools traces (EM_X86_64).
pub const ELF_MACHINE: u16 = 62;

/// The ld.so.cache flags of this architecture's libraries
/// (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64), under [`LD_CACHE_ARCH_MASK`].
pub const LD_CACHE_ARCH: i32 = 0x0300;
pub const LD_CACHE_ARCH_MASK: i32 = 0xff00;

/// Byte offsets in the kernel's `struct pt_regs` of the registers that
/// carry a function's first six arguments (the System V AMD64 calling
/// convention: rdi, rsi, rdx, rcx, r8, r9). trace reads arguments there.
pub const ARG_REGS: [u16; 6] = [112, 104, 96, 88, 72, 64];

/// Where `struct pt_regs` keeps rax: a function's return value.
pub const RET_REG: u16 = 80;

/// The kernel's syscall entry points are named `__x64_sys_NAME`; their one
/// argument points to the registers the syscall was made with.
pub const SYSCALL_PREFIX: &str = "__x64_sys_";

/// The first address above user space: kernel addresses are above it, so
/// a pointer tells which memory to read it from.
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;

/// Whether C's `char` is signed (the System V AMD64 ABI's is).
pub const CHAR_SIGNED: bool = true;

/// Bytes of a page: user stacks are copied a page at a time.
pub const PAGE_SIZE: u32 = 4096;

/// Above every user address (the 57-bit space of 5-level paging): a
/// "return address" up there is data a frame-pointer walk took, not a
/// frame.
pub const USER_SPACE_END: u64 = 1 << 56;

/// framehop's unwinder, its cache of rules and its registers, for this
/// architecture.
pub type Unwinder<D, P> = UnwinderX86_64<D, P>;
pub type UnwindCache<P> = CacheX86_64<P>;
pub type UnwindRegs = UnwindRegsX86_64;

/// The registers an unwind starts from: the instruction, stack and frame
/// pointers the BPF program copied.
pub fn unwind_regs(ip: u64, sp: u64, fp: u64) -> UnwindRegs {
    UnwindRegsX86_64::new(ip, sp, fp)
}

/// The frame pointer of registers mid-unwind (rbp).
pub fn frame_pointer(regs: &UnwindRegs) -> u64 {
    regs.bp()
}

/// Whether a function's first bytes set up a frame pointer: `push %rbp`
/// first (after an optional `endbr64`) and `mov %rsp,%rbp` (either
/// encoding) among the next bytes, where compilers schedule it. Code
/// without frame pointers may push rbp first, as any callee-saved
/// register, but does not point it at the frame.
pub fn sets_up_frame(code: &[u8]) -> bool {
    const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
    let code = code.strip_prefix(&ENDBR64[..]).unwrap_or(code);
    let Some(rest) = code.strip_prefix(&[0x55]) else {
        return false;
    };
    rest.windows(3)
        .any(|w| w == [0x48, 0x89, 0xe5] || w == [0x48, 0x8b, 0xec])
}

/// Syscall event name -> `__NR_` name, where they differ (the kernel's
/// entry point has another name than the syscall).
pub const SYSCALL_EVENT_ALIASES: &[(&str, &str)] = &[
    ("newstat", "stat"),
    ("newfstat", "fstat"),
    ("newlstat", "lstat"),
    ("sendfile64", "sendfile"),
    ("newuname", "uname"),
    ("umount", "umount2"),
];

/// Syscalls added after Linux 6.1 (newer than Debian 12's headers), from
/// the kernel's arch/x86/entry/syscalls/syscall_64.tbl.
pub const SYSCALLS_AFTER_HEADERS: &[(&str, u32)] = &[
    ("uretprobe", 335),
    ("uprobe", 336),
    ("cachestat", 451),
    ("fchmodat2", 452),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("statmount", 457),
    ("listmount", 458),
    ("lsm_get_self_attr", 459),
    ("lsm_set_self_attr", 460),
    ("lsm_list_modules", 461),
    ("mseal", 462),
    ("setxattrat", 463),
    ("getxattrat", 464),
    ("listxattrat", 465),
    ("removexattrat", 466),
    ("open_tree_attr", 467),
    ("file_getattr", 468),
    ("file_setattr", 469),
    ("listns", 470),
];

/// Where a syscall's arguments are saved in `struct pt_regs` (the syscall
/// ABI: rdi, rsi, rdx, r10, r8, r9), and its number (`orig_ax`).
pub const SYSCALL_ARG_REGS: [u16; 6] = [112, 104, 96, 56, 72, 64];
pub const ORIG_AX: u16 = 120;

/// The offset of a `struct pt_regs` field as the kernel names it (`dx`,
/// `sp`, `ip`, `r8`, `orig_ax`): what BCC's `ctx->REG` reads.
pub fn pt_regs_field(name: &str) -> Option<u16> {
    const FIELDS: [&str; 21] = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
        "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
    ];
    FIELDS.iter().position(|f| *f == name).map(|i| 8 * i as u16)
}

/// The names [`pt_regs_field`] knows, for messages.
pub const PT_REGS_FIELDS: &str = "ax bx cx dx si di bp sp ip r8..r15 orig_ax flags cs ss";

/// The `struct pt_regs` offset and the width in bytes of a register as a
/// USDT argument names it (`rdi`, `edi`, `di`, `dil`, `r8d`, ...).
pub fn register(name: &str) -> Option<(u16, u8)> {
    const REGS: [(&str, u16); 17] = [
        ("r15", 0),
        ("r14", 8),
        ("r13", 16),
        ("r12", 24),
        ("rbp", 32),
        ("rbx", 40),
        ("r11", 48),
        ("r10", 56),
        ("r9", 64),
        ("r8", 72),
        ("rax", 80),
        ("rcx", 88),
        ("rdx", 96),
        ("rsi", 104),
        ("rdi", 112),
        ("rip", 128),
        ("rsp", 152),
    ];
    let name = name.trim_start_matches('%');
    // r8..r15 with a width suffix: r8d (4), r8w (2), r8b (1).
    if let Some(num) = name
        .strip_prefix('r')
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    {
        let (digits, bytes) = match num.as_bytes().last() {
            Some(b'd') => (&num[..num.len() - 1], 4),
            Some(b'w') => (&num[..num.len() - 1], 2),
            Some(b'b') => (&num[..num.len() - 1], 1),
            _ => (num, 8),
        };
        let full = format!("r{digits}");
        return REGS
            .iter()
            .find(|(r, _)| *r == full)
            .map(|&(_, off)| (off, bytes));
    }
    // The legacy registers: rax, eax, ax, al; rsi, esi, si, sil; ...
    let (base, bytes) = if let Some(rest) = name.strip_prefix('r') {
        (rest.to_string(), 8)
    } else if let Some(rest) = name.strip_prefix('e') {
        (rest.to_string(), 4)
    } else if let Some(low) = name.strip_suffix('l').filter(|b| b.len() == 1) {
        (format!("{low}x"), 1)
    } else if let Some(low) = name.strip_suffix('l').filter(|b| b.len() == 2) {
        (low.to_string(), 1)
    } else {
        (name.to_string(), 2)
    };
    let full = format!("r{base}");
    REGS.iter()
        .find(|(r, _)| *r == full)
        .map(|&(_, off)| (off, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usdt_register_names() {
        assert_eq!(register("%rdi"), Some((112, 8)));
        assert_eq!(register("edi"), Some((112, 4)));
        assert_eq!(register("di"), Some((112, 2)));
        assert_eq!(register("dil"), Some((112, 1)));
        assert_eq!(register("eax"), Some((80, 4)));
        assert_eq!(register("ax"), Some((80, 2)));
        assert_eq!(register("al"), Some((80, 1)));
        assert_eq!(register("r8"), Some((72, 8)));
        assert_eq!(register("r8d"), Some((72, 4)));
        assert_eq!(register("r12w"), Some((24, 2)));
        assert_eq!(register("r15b"), Some((0, 1)));
        assert_eq!(register("rbp"), Some((32, 8)));
        assert_eq!(register("ebp"), Some((32, 4)));
        assert_eq!(register("rsp"), Some((152, 8)));
        assert_eq!(register("rip"), Some((128, 8)));
        assert_eq!(register("ah"), None);
        assert_eq!(register("r16"), None);
        assert_eq!(register("xmm0"), None);
        assert_eq!(ARG_REGS[0], 112);
    }

    #[test]
    fn prologues_with_and_without_frames() {
        assert!(sets_up_frame(&[0x55, 0x48, 0x89, 0xe5, 0x90]));
        assert!(sets_up_frame(&[0x55, 0x48, 0x8b, 0xec]));
        assert!(sets_up_frame(&[
            0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5
        ]));
        // The move scheduled after another instruction.
        assert!(sets_up_frame(&[
            0x55, 0x48, 0x83, 0xf7, 0x05, 0x48, 0x89, 0xe5
        ]));
        // rbp pushed as a callee-saved register, then used for data.
        assert!(!sets_up_frame(&[0x55, 0x53, 0x48, 0x89, 0xfd]));
        // push %rbx first; sub $8,%rsp; a bare push %rbp.
        assert!(!sets_up_frame(&[0x53, 0x48, 0x89, 0xfb]));
        assert!(!sets_up_frame(&[0x48, 0x83, 0xec, 0x08]));
        assert!(!sets_up_frame(&[0x55, 0x53]));
        assert!(!sets_up_frame(&[0xf3, 0x0f, 0x1e, 0xfa, 0x53]));
        assert!(!sets_up_frame(&[]));
    }
}

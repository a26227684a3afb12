//! The unwinder on this test process's own stack: registers and a copy of
//! the stack taken in `capture`, called through `outer` and `middle`.

use std::arch::asm;
use std::path::PathBuf;

use blazesym::symbolize::source::{Process, Source};
use blazesym::symbolize::{Input, Symbolizer};
use blazesym::Pid;

use super::*;

/// The executable mappings of this process: (start, end, offset, path,
/// (dev, inode)).
fn own_mappings() -> Vec<(u64, u64, u64, PathBuf, (u64, u64))> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || !f[1].contains('x') || !f[5].starts_with('/') {
                return None;
            }
            let (start, end) = f[0].split_once('-')?;
            let hex = |h: &str| u64::from_str_radix(h, 16).ok();
            let (major, minor) = f[3].split_once(':')?;
            Some((
                hex(start)?,
                hex(end)?,
                hex(f[2])?,
                PathBuf::from(f[5]),
                ((hex(major)? << 32) | hex(minor)?, f[4].parse().ok()?),
            ))
        })
        .collect()
}

/// The end of the mapping that holds `addr` (the thread's stack).
fn mapping_end(addr: u64) -> u64 {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find_map(|line| {
            let (start, end) = line.split_whitespace().next()?.split_once('-')?;
            let (start, end) = (
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            );
            (start..end).contains(&addr).then_some(end)
        })
        .expect("the stack is mapped")
}

/// The registers here and up to `size` bytes of the stack above them.
#[inline(never)]
fn capture(size: u64) -> (Regs, Vec<u8>) {
    let (ip, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers; touches no memory.
    unsafe {
        asm!("lea {ip}, [rip]", "mov {sp}, rsp", "mov {bp}, rbp",
             ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp);
    }
    let len = size.min(mapping_end(sp) - sp) as usize;
    // SAFETY: [sp, sp + len) lies in this thread's mapped stack; the
    // frames above sp (this function's callers) are not changing.
    let copy = unsafe { std::slice::from_raw_parts(sp as *const u8, len) }.to_vec();
    (Regs { ip, sp, bp }, copy)
}

#[inline(never)]
fn middle(size: u64) -> (Regs, Vec<u8>) {
    let r = capture(size);
    std::hint::black_box(&r);
    r
}

#[inline(never)]
fn outer(size: u64) -> (Regs, Vec<u8>) {
    let r = middle(size);
    std::hint::black_box(&r);
    r
}

/// [`own_mappings`] as the unwinder takes them.
fn as_mapped(maps: &[(u64, u64, u64, PathBuf, (u64, u64))]) -> Vec<Mapped<'_>> {
    maps.iter()
        .map(|(start, end, offset, path, file)| Mapped {
            start: *start,
            end: *end,
            offset: *offset,
            path,
            name: path,
            file: *file,
        })
        .collect()
}

fn unwinder_of_this_process() -> Unwinder {
    let maps = own_mappings();
    let mapped = as_mapped(&maps);
    let mut unwinder = Unwinder::default();
    // Whether each file keeps frame pointers is the distribution's
    // choice (Debian's libc does not); unwinding does not depend on it.
    let _ = unwinder.add_process(std::process::id(), &mapped, None);
    unwinder
}

fn names(addrs: &[u64]) -> Vec<String> {
    let src = Source::Process(Process::new(Pid::Slf));
    Symbolizer::new()
        .symbolize(&src, Input::AbsAddr(addrs))
        .unwrap()
        .into_iter()
        .map(|s| {
            s.as_sym()
                .map_or("[unknown]".into(), |s| s.name.to_string())
        })
        .collect()
}

fn position(names: &[String], part: &str) -> usize {
    names
        .iter()
        .position(|n| n.contains(part))
        .unwrap_or_else(|| panic!("no {part} in {names:#?}"))
}

#[test]
fn unwinds_its_own_stack_to_its_end() {
    let (regs, stack) = outer(64 << 10);
    let mut unwinder = unwinder_of_this_process();
    // This binary keeps frame pointers, so its CFI says "the frame is at
    // rbp + 16" and rbp is needed; libc's thread start has none, and
    // only its CFI gets the walk to the stack's end without a marker.
    let unwound = unwinder.unwind(std::process::id(), regs, regs.sp, &stack, 127);
    let names = names(&unwound.frames);
    let (c, m, o) = (
        position(&names, "capture"),
        position(&names, "middle"),
        position(&names, "outer"),
    );
    assert_eq!((c, m, o), (0, 1, 2), "{names:#?}");
    let test = position(&names, "unwinds_its_own_stack_to_its_end");
    assert_eq!(test, 3, "{names:#?}");
    // Through the test harness and libc's thread start, to its end.
    assert!(unwound.frames.len() > 6, "{names:#?}");
    assert!(
        names.last().is_some_and(|n| n.contains("clone")),
        "{names:#?}"
    );
    assert_eq!(unwound.end, None, "{names:#?}");
}

#[test]
fn a_short_copy_ends_in_its_marker() {
    let (regs, stack) = outer(64 << 10);
    let mut unwinder = unwinder_of_this_process();
    // Enough for capture's frame and a little more.
    let short = &stack[..64.min(stack.len())];
    let unwound = unwinder.unwind(std::process::id(), regs, regs.sp, short, 127);
    assert_eq!(unwound.end, Some(COPY_ENDED), "{unwound:?}");
    assert!(!unwound.frames.is_empty());
    assert!(unwound.frames.len() < 4, "{unwound:?}");
}

#[test]
fn max_depth_cuts_the_stack_without_a_marker() {
    let (regs, stack) = outer(64 << 10);
    let mut unwinder = unwinder_of_this_process();
    let unwound = unwinder.unwind(std::process::id(), regs, regs.sp, &stack, 2);
    assert_eq!(unwound.frames.len(), 2);
    assert_eq!(unwound.end, None);
}

#[test]
fn garbage_on_the_stack_truncates_with_a_marker_not_wrong_frames() {
    let (regs, mut stack) = outer(64 << 10);
    let mut unwinder = unwinder_of_this_process();
    // The whole stack above the registers overwritten: capture's return
    // address is 0.
    stack.iter_mut().for_each(|b| *b = 0);
    let unwound = unwinder.unwind(
        std::process::id(),
        Regs { bp: 0, ..regs },
        regs.sp,
        &stack,
        127,
    );
    assert_eq!(unwound.frames, vec![regs.ip], "{unwound:?}");
    assert!(unwound.end.is_some() || unwound.frames.len() == 1);
}

#[test]
fn a_process_never_set_up_gives_its_instruction_pointer_and_a_marker() {
    let mut unwinder = Unwinder::default();
    let regs = Regs {
        ip: 0x1234,
        sp: 0x7000,
        bp: 0,
    };
    let unwound = unwinder.unwind(1, regs, regs.sp, &[0; 64], 127);
    assert_eq!(unwound.frames, vec![0x1234]);
    assert_eq!(unwound.end, Some(PROCESS_GONE));
    assert!(!unwinder.knows(1));
    unwinder.add_gone(1);
    assert!(unwinder.knows(1));
    assert_eq!(unwinder.unwind(1, regs, regs.sp, &[0; 64], 127), unwound);
}

#[test]
fn a_process_that_maps_no_file_is_not_left_to_frame_pointers() {
    let mut unwinder = Unwinder::default();
    assert_eq!(unwinder.add_process(7, &[], None), Err("no file".into()));
    assert!(unwinder.knows(7));
}

#[test]
fn files_are_read_once_for_every_process_that_maps_them() {
    let maps = own_mappings();
    let mapped = as_mapped(&maps);
    let mut unwinder = Unwinder::default();
    let verdict = unwinder.add_process(1, &mapped, None);
    let first: Vec<_> = unwinder.files.values().flatten().map(Arc::as_ptr).collect();
    assert_eq!(unwinder.add_process(2, &mapped, None), verdict);
    let second: Vec<_> = unwinder.files.values().flatten().map(Arc::as_ptr).collect();
    assert_eq!(first, second);
    let files: std::collections::HashSet<_> = mapped.iter().map(|m| m.file).collect();
    assert_eq!(first.len(), files.len(), "one per file: {mapped:?}");
    assert!(unwinder.knows(1) && unwinder.knows(2));
    unwinder.forget_exited(|pid| pid == 1);
    assert!(!unwinder.knows(1));
    assert!(unwinder.knows(2));
}

#[test]
fn the_vdso_is_read_from_this_process() {
    let range = own_vdso_range().expect("this kernel maps a vDSO");
    assert!(range.start > 0 && range.start % 4096 == 0, "{range:x?}");
    assert!((4096..=1 << 20).contains(&range.len()), "{range:x?}");
    let cfi = own_vdso().unwrap();
    assert!(cfi.has_cfi());
}

/// The fixture library (tests/fixtures/frames.c) mapped at `base`
/// (0x1000_0000 in most tests) in process 7's `unwinder`: functions with
/// CFI, and `_fini` (at 0x11c4) without.
fn map_fixture_at(unwinder: &mut Unwinder, base: u64) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/libframes-fp.so");
    let mapped = [Mapped {
        start: base + 0x1000,
        end: base + 0x2000,
        offset: 0x1000,
        path: &path,
        name: &path,
        file: (9, 9),
    }];
    unwinder.add_process(7, &mapped, None).unwrap();
}

fn fixture_process() -> Unwinder {
    let mut unwinder = Unwinder::default();
    map_fixture_at(&mut unwinder, 0x1000_0000);
    unwinder
}

const FRAMES_ONE: u64 = 0x1000_110e;
const IN_FINI: u64 = 0x1000_11c8;

/// At frames_one's first instruction (the library mapped `shift` above
/// 0x1000_0000), returning into `_fini`, which has no CFI: its frame is
/// walked by the frame pointer.
fn returning_into_fini_in(unwinder: &mut Unwinder, shift: u64, bp: u64) -> Unwound {
    let regs = Regs {
        ip: FRAMES_ONE + shift,
        sp: 0x7000,
        bp,
    };
    let mut stack = vec![0u8; 64];
    stack[..8].copy_from_slice(&(IN_FINI + shift).to_le_bytes());
    unwinder.unwind(7, regs, regs.sp, &stack, 127)
}

fn returning_into_fini(bp: u64) -> Unwound {
    returning_into_fini_in(&mut fixture_process(), 0, bp)
}

#[test]
fn stacks_that_leave_the_files_set_up_stray_until_set_up_again() {
    let mut unwinder = fixture_process();
    let here = returning_into_fini_in(&mut unwinder, 0, 0);
    assert!(!unwinder.strays(7, &here), "{here:x?}");
    // The process has mapped the library again 0x1000_0000 higher (as if
    // opened since): framehop would walk those frames by frame pointer.
    let moved = returning_into_fini_in(&mut unwinder, 0x1000_0000, 0);
    assert!(unwinder.strays(7, &moved), "{moved:x?}");
    map_fixture_at(&mut unwinder, 0x2000_0000);
    let again = returning_into_fini_in(&mut unwinder, 0x1000_0000, 0);
    assert_eq!(
        again.frames,
        [FRAMES_ONE + 0x1000_0000, IN_FINI + 0x1000_0000]
    );
    assert!(!unwinder.strays(7, &again), "{again:x?}");
    // Set up again, the old mapping is gone from it.
    assert!(unwinder.strays(7, &here));
    // A return address just past the file's end is a call inside it; an
    // instruction pointer there is not.
    let at_end = |frames: Vec<u64>| Unwound { frames, end: None };
    assert!(!unwinder.strays(7, &at_end(vec![0x2000_1100, 0x2000_2000])));
    assert!(unwinder.strays(7, &at_end(vec![0x2000_2000])));
    // Processes never set up, or gone before, never stray.
    unwinder.add_gone(8);
    assert!(!unwinder.strays(8, &moved));
    assert!(!unwinder.strays(9, &moved));
}

#[test]
fn a_zero_frame_pointer_ends_the_stack() {
    // Entry points start the frame chain with rbp 0.
    let unwound = returning_into_fini(0);
    assert_eq!(unwound.frames, [FRAMES_ONE, IN_FINI]);
    assert_eq!(unwound.end, None);
    // A frame pointer below the stack pointer is a broken chain.
    let broken = returning_into_fini(0x6000);
    assert_eq!(broken.frames, [FRAMES_ONE, IN_FINI]);
    assert_eq!(broken.end, Some(UNWIND_FAILED));
}

#[test]
fn strays_finds_the_mapping_of_each_address_among_several() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/libframes-fp.so");
    let at = |start: u64| Mapped {
        start,
        end: start + 0x1000,
        offset: 0x1000,
        path: &path,
        name: &path,
        file: (9, 9),
    };
    // Out of order, as no caller promises.
    let mapped = [at(0x5000), at(0x1000), at(0x3000)];
    let mut unwinder = Unwinder::default();
    unwinder.add_process(7, &mapped, None).unwrap();
    let ip = |addr: u64| Unwound {
        frames: vec![addr],
        end: None,
    };
    for inside in [0x1000, 0x1fff, 0x3000, 0x3800, 0x5fff] {
        assert!(!unwinder.strays(7, &ip(inside)), "{inside:#x}");
    }
    for outside in [0, 0xfff, 0x2000, 0x2fff, 0x4000, 0x6000, u64::MAX] {
        assert!(unwinder.strays(7, &ip(outside)), "{outside:#x}");
    }
}

#[test]
fn a_return_address_above_user_space_is_a_failure_not_a_frame() {
    let regs = Regs {
        ip: FRAMES_ONE,
        sp: 0x7000,
        bp: 0,
    };
    // Text where a return address should be (what a frame pointer walk
    // through code without frame pointers can take).
    let mut stack = vec![0u8; 64];
    stack[..8].copy_from_slice(b"ER_NAME=");
    let unwound = fixture_process().unwind(7, regs, regs.sp, &stack, 127);
    assert_eq!(unwound.frames, [FRAMES_ONE]);
    assert_eq!(unwound.end, Some(UNWIND_FAILED));
    // The highest user address is still one.
    stack[..8].copy_from_slice(&(USER_SPACE_END - 1).to_le_bytes());
    let top = fixture_process().unwind(7, regs, regs.sp, &stack, 2);
    assert_eq!(top.frames, [FRAMES_ONE, USER_SPACE_END - 1]);
}

#[test]
fn a_read_below_the_copy_is_a_failure_not_the_copys_end() {
    let regs = Regs {
        ip: FRAMES_ONE,
        sp: 0x7000,
        bp: 0,
    };
    // The copy starts above the stack pointer: [sp] was not copied.
    let unwound = fixture_process().unwind(7, regs, regs.sp + 64, &[0; 64], 127);
    assert_eq!(unwound.frames, [FRAMES_ONE]);
    assert_eq!(unwound.end, Some(UNWIND_FAILED));
    // Nothing copied, from the word above sp: still below the copy.
    let none = fixture_process().unwind(7, regs, regs.sp + 8, &[], 127);
    assert_eq!(none.end, Some(UNWIND_FAILED));
    // Copied, but only the word at sp: the next read is past the copy.
    let word = IN_FINI.to_le_bytes();
    let cut = fixture_process().unwind(7, Regs { bp: 0x7008, ..regs }, regs.sp, &word, 127);
    assert_eq!(cut.end, Some(COPY_ENDED), "{cut:?}");
}

#[test]
fn a_file_that_cannot_be_read_is_noted_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-elf");
    std::fs::write(&path, "text").unwrap();
    let mapped = [Mapped {
        start: 0x1000,
        end: 0x2000,
        offset: 0,
        path: &path,
        name: &path,
        file: (1, 2),
    }];
    let mut unwinder = Unwinder::default();
    assert!(unwinder.add_process(1, &mapped, None).is_err());
    let notes = unwinder.take_notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("not-elf"), "{notes:?}");
    assert!(unwinder.take_notes().is_empty());
}

/// At a function's first instruction (a `push`, one byte) the CFI rule is
/// the entry's: the return address at the stack pointer. The rule one
/// byte on (after the push) would take the next word instead.
#[test]
fn at_a_functions_first_instruction_the_entry_rule_applies() {
    let mut unwinder = unwinder_of_this_process();
    let entry = middle as *const () as usize as u64;
    let ret = outer as *const () as usize as u64 + 8;
    let mut stack = vec![0u8; 64];
    stack[..8].copy_from_slice(&ret.to_le_bytes());
    stack[8..16].copy_from_slice(&0xdead_beefu64.to_le_bytes());
    let regs = Regs {
        ip: entry,
        sp: 0x7000,
        bp: 0,
    };
    let unwound = unwinder.unwind(std::process::id(), regs, regs.sp, &stack, 2);
    assert_eq!(unwound.frames, [entry, ret]);
}

#[test]
fn named_ranges_of_maps_text() {
    let text = "\
55d0f000-55d12000 r-xp 00001000 fe:00 123 /usr/bin/app
7f00000-7f01000 r-xp 00000000 00:00 0 [vdso]
7ffc000-7ffd000 rw-p 00000000 00:00 0    [stack]
";
    assert_eq!(named_range(text, "[vdso]"), Some((0x7f00000, 0x7f01000)));
    assert_eq!(named_range(text, "[stack]"), Some((0x7ffc000, 0x7ffd000)));
    assert_eq!(named_range(text, "[heap]"), None);
    // A file whose name ends so is not the vDSO.
    let file = "1000-2000 r-xp 00000000 fe:01 77 /bin/x[vdso]\n";
    assert_eq!(named_range(file, "[vdso]"), None);
    assert_eq!(named_range("zz-2000 r-xp 0 0:0 0 [vdso]\n", "[vdso]"), None);
    assert_eq!(named_range("1000-yy r-xp 0 0:0 0 [vdso]\n", "[vdso]"), None);
}

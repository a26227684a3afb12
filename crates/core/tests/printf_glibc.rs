//! trace's printf renders every conversion as the C library's does: each
//! combination of flags, width, precision and length modifier of `%d %i
//! %u %x %X %o %p %c %s`, on edge values, rendered by rtools and by this
//! machine's glibc (`snprintf`), byte for byte.

use std::ffi::{c_char, c_int, c_long, c_short, c_uint, c_ulong, CStr, CString};

use rtools_core::trace::format::{parse, Value};

const FLAGS: [&str; 8] = ["", "-", "0", "+", " ", "#", "-+", "0# "];
const WIDTHS: [&str; 4] = ["", "1", "6", "24"];
const PRECISIONS: [&str; 5] = ["", ".", ".0", ".1", ".5"];

/// Numbers at the edges of every width the length modifiers read.
const NUMBERS: [u64; 14] = [
    0,
    1,
    7,
    21,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    i64::MIN as u64,
    u64::MAX,
];

/// glibc's rendering of `fmt` with one argument.
fn glibc(fmt: &str, arg: Arg<'_>) -> String {
    let mut buf = vec![0u8; 256];
    let cfmt = CString::new(fmt).unwrap();
    let b = buf.as_mut_ptr().cast::<c_char>();
    let f = cfmt.as_ptr();
    // SAFETY: the buffer holds 256 bytes and snprintf writes at most
    // that; each call passes the argument type its conversion reads
    // (after C's default argument promotions).
    let n = unsafe {
        match arg {
            Arg::Int(v) => libc::snprintf(b, buf.len(), f, v),
            Arg::Uint(v) => libc::snprintf(b, buf.len(), f, v),
            Arg::Long(v) => libc::snprintf(b, buf.len(), f, v),
            Arg::Ulong(v) => libc::snprintf(b, buf.len(), f, v),
            Arg::Ptr(v) => libc::snprintf(b, buf.len(), f, v as *const u8),
            Arg::Str(s) => libc::snprintf(b, buf.len(), f, s.as_ptr()),
        }
    };
    assert!((0..256).contains(&n), "{fmt}: snprintf returned {n}");
    // SAFETY: snprintf NUL-terminated what it wrote.
    unsafe { CStr::from_ptr(buf.as_ptr().cast()) }
        .to_str()
        .unwrap()
        .to_string()
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    Int(c_int),
    Uint(c_uint),
    Long(c_long),
    Ulong(c_ulong),
    Ptr(usize),
    Str(&'a CStr),
}

fn rtools(fmt: &str, value: Value<'_>) -> String {
    parse(fmt).unwrap().render(&[value])
}

/// The argument glibc reads for an integer conversion of `length` on a
/// collected 64-bit `v` (promoted as C promotes a char or short).
fn int_arg(length: &str, conv: char, v: u64) -> Arg<'static> {
    let signed = matches!(conv, 'd' | 'i');
    match (length, signed) {
        ("hh", true) => Arg::Int(v as i8 as c_int),
        ("hh", false) => Arg::Uint(v as u8 as c_uint),
        ("h", true) => Arg::Int(v as c_short as c_int),
        ("h", false) => Arg::Uint(v as u16 as c_uint),
        ("", true) => Arg::Int(v as c_int),
        ("", false) => Arg::Uint(v as c_uint),
        (_, true) => Arg::Long(v as c_long),
        (_, false) => Arg::Ulong(v as c_ulong),
    }
}

fn specs() -> impl Iterator<Item = String> {
    FLAGS.iter().flat_map(|f| {
        WIDTHS
            .iter()
            .flat_map(move |w| PRECISIONS.iter().map(move |p| format!("%{f}{w}{p}")))
    })
}

#[test]
fn integer_conversions_render_as_glibc() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for spec in specs() {
        for length in ["hh", "h", "", "l", "ll"] {
            for conv in ['d', 'i', 'u', 'x', 'X', 'o'] {
                let fmt = format!("[{spec}{length}{conv}]");
                for v in NUMBERS {
                    let want = glibc(&fmt, int_arg(length, conv, v));
                    let got = rtools(&fmt, Value::Num(v));
                    if got != want {
                        wrong.push(format!("{fmt} of {v:#x}: glibc {want:?}, rtools {got:?}"));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50_000);
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(40)].join("\n")
    );
}

#[test]
fn pointers_chars_and_strings_render_as_glibc() {
    let mut wrong = Vec::new();
    let strings = [c"", c"x", c"hello", c"a longer string, past widths"];
    for spec in specs() {
        for v in NUMBERS {
            let fmt = format!("[{spec}p]");
            let want = glibc(&fmt, Arg::Ptr(v as usize));
            let got = rtools(&fmt, Value::Num(v));
            if got != want {
                wrong.push(format!("{fmt} of {v:#x}: glibc {want:?}, rtools {got:?}"));
            }
        }
        // ASCII characters; a byte above 0x7f is written as the
        // character of that code point (see trace(8)).
        for c in [b'a', b' ', b'~', b'0'] {
            let fmt = format!("[{spec}c]");
            let want = glibc(&fmt, Arg::Int(c as c_int));
            let got = rtools(&fmt, Value::Num(c as u64));
            if got != want {
                wrong.push(format!("{fmt} of {c:#x}: glibc {want:?}, rtools {got:?}"));
            }
        }
        for s in strings {
            let fmt = format!("[{spec}s]");
            let want = glibc(&fmt, Arg::Str(s));
            let got = rtools(&fmt, Value::text(s.to_str().unwrap()));
            if got != want {
                wrong.push(format!("{fmt} of {s:?}: glibc {want:?}, rtools {got:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(40)].join("\n")
    );
}

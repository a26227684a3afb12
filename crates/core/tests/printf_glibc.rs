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

/// glibc's rendering of `fmt` with one argument, its bytes.
fn glibc(fmt: &str, arg: Arg<'_>) -> Vec<u8> {
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
    // n bytes written (%c of 0 writes a NUL: not where the text ends).
    buf.truncate(n as usize);
    buf
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

fn rtools(fmt: &str, value: Value<'_>) -> Vec<u8> {
    parse(fmt).unwrap().render(&[value])
}

/// A difference, readable.
fn differs(fmt: &str, of: &str, want: &[u8], got: &[u8]) -> String {
    let show = |b: &[u8]| b.escape_ascii().to_string();
    format!(
        "{fmt} of {of}: glibc {:?}, rtools {:?}",
        show(want),
        show(got)
    )
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
                        wrong.push(differs(&fmt, &format!("{v:#x}"), &want, &got));
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
    // Bytes that are no UTF-8, and UTF-8 of more than a byte a character:
    // glibc counts widths and precisions in bytes.
    let strings = [
        c"",
        c"x",
        c"hello",
        c"a longer string, past widths",
        c"caf\xe9 \xff\x80",
        c"\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
    ];
    for spec in specs() {
        for v in NUMBERS {
            let fmt = format!("[{spec}p]");
            let want = glibc(&fmt, Arg::Ptr(v as usize));
            let got = rtools(&fmt, Value::Num(v));
            if got != want {
                wrong.push(differs(&fmt, &format!("{v:#x}"), &want, &got));
            }
        }
        // Every byte, those above 0x7f written as they are; and values
        // past a byte, which %c cuts to one.
        for c in (0..=0xffu64).chain([0x1e9, u64::MAX]) {
            let fmt = format!("[{spec}c]");
            let want = glibc(&fmt, Arg::Int(c as c_int));
            let got = rtools(&fmt, Value::Num(c));
            if got != want {
                wrong.push(differs(&fmt, &format!("{c:#x}"), &want, &got));
            }
        }
        for s in strings {
            let fmt = format!("[{spec}s]");
            let want = glibc(&fmt, Arg::Str(s));
            let got = rtools(&fmt, Value::text(s.to_bytes()));
            if got != want {
                wrong.push(differs(&fmt, &format!("{s:?}"), &want, &got));
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

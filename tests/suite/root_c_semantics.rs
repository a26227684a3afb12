//! trace's expressions compute what C computes: random expressions over
//! six `unsigned long` arguments (BCC's `argN`), with casts to every
//! integer type, literals of every form, and every operator, compiled by
//! gcc (the oracle, `-fwrapv`: signed overflow wraps, as rtools' does)
//! and by rtools, then run on the same argument values at a uprobe of the
//! real kernel. The generator leaves out what C leaves undefined:
//! division by 0 or -1, shift counts past the type's width.
//!
//! Seeded: `RTOOLS_C_SEED` picks another seed, `RTOOLS_C_EXPRESSIONS`
//! more expressions (CI runs the default 600 with the default seed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::c_programs::{compile, handed};
use super::support::{require_root, source_file, trace_command};

/// The argument sets each expression is evaluated on (a prime number of
/// calls): C's edge values and their neighbours.
const VALUES: [[u64; 6]; 13] = [
    [0, 1, 2, 3, 4, 5],
    [
        u64::MAX,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        7,
    ],
    [
        i64::MIN as u64,
        i64::MAX as u64,
        0xffff_ffff_8000_0000,
        0x7fff_fffe,
        0x8000_0001,
        0xfffe,
    ],
    [0xff, 0x80, 0x7f, 0xffff, 0x8000, 0x7fff],
    [
        u64::MAX - 1,
        0x1_0000_0001,
        0xffff_fffe,
        i64::MIN as u64 + 1,
        0x1234_5678_9abc_def0,
        13,
    ],
    [
        0x8000_0000_0000_0001,
        100,
        0xffff_ff00,
        1 << 32,
        1 << 31,
        1 << 63,
    ],
    [
        42,
        u64::MAX - 41,
        0xdead_beef,
        0xcafe_babe_dead_beef,
        64,
        33,
    ],
    [31, 32, 63, 0x7fff_ffff_ffff_fffe, 255, 256],
    [
        0x8000_0000,
        0x8000_0000,
        0xffff_ffff,
        0xffff_ffff,
        u64::MAX,
        u64::MAX,
    ],
    [0x1_ffff_ffff, 0xffff_fff0, 0x10, 3, u64::MAX - 2, 9],
    [
        7,
        0xffff_ffff_ffff_fff9,
        0x7fff_ffff,
        0xffff_ffff_8000_0001,
        0x80,
        0xff80,
    ],
    [
        1_000_000_007,
        0xffff_ffff_0000_0000,
        0x0000_ffff_0000_ffff,
        5,
        0xfffb,
        0x7ffb,
    ],
    [
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e,
        0x9b,
    ],
];

/// The integer types of casts, as C and rtools both spell them.
const TYPES: [(&str, u8, bool); 9] = [
    ("char", 1, true),
    ("unsigned char", 1, false),
    ("short", 2, true),
    ("unsigned short", 2, false),
    ("int", 4, true),
    ("unsigned int", 4, false),
    ("long", 8, true),
    ("unsigned long", 8, false),
    ("_Bool", 1, false),
];

/// A C type the generator tracks, to keep clear of undefined behaviour.
#[derive(Clone, Copy, PartialEq)]
struct Ty {
    bytes: u8,
    signed: bool,
}

const INT: Ty = Ty {
    bytes: 4,
    signed: true,
};
const ULONG: Ty = Ty {
    bytes: 8,
    signed: false,
};

impl Ty {
    fn promoted(self) -> Ty {
        if self.bytes < 4 {
            INT
        } else {
            self
        }
    }

    /// C's usual arithmetic conversions on LP64.
    fn common(a: Ty, b: Ty) -> Ty {
        let (a, b) = (a.promoted(), b.promoted());
        if a.signed == b.signed {
            return if a.bytes >= b.bytes { a } else { b };
        }
        let (s, u) = if a.signed { (a, b) } else { (b, a) };
        if u.bytes >= s.bytes {
            u
        } else {
            s
        }
    }
}

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Literals of every form C types differently.
const LITERALS: [(&str, Ty); 16] = [
    ("0", INT),
    ("1", INT),
    ("7", INT),
    ("100", INT),
    ("2147483647", INT),
    (
        "2147483648",
        Ty {
            bytes: 8,
            signed: true,
        },
    ),
    (
        "4294967295",
        Ty {
            bytes: 8,
            signed: true,
        },
    ),
    ("0x7fffffff", INT),
    (
        "0x80000000",
        Ty {
            bytes: 4,
            signed: false,
        },
    ),
    (
        "0xffffffff",
        Ty {
            bytes: 4,
            signed: false,
        },
    ),
    (
        "0x100000000",
        Ty {
            bytes: 8,
            signed: true,
        },
    ),
    ("0xffffffffffffffff", ULONG),
    (
        "1U",
        Ty {
            bytes: 4,
            signed: false,
        },
    ),
    ("5UL", ULONG),
    (
        "3L",
        Ty {
            bytes: 8,
            signed: true,
        },
    ),
    ("'a'", INT),
];

/// A random expression of at most `depth` levels, and its C type.
fn expr(rng: &mut Rng, depth: u32) -> (String, Ty) {
    if depth == 0 || rng.below(4) == 0 {
        return leaf(rng);
    }
    match rng.below(10) {
        0 => {
            let (e, t) = expr(rng, depth - 1);
            let op = *rng.pick(&["-", "~", "!"]);
            let t = if op == "!" { INT } else { t.promoted() };
            (format!("{op}({e})"), t)
        }
        1 => {
            let (name, bytes, signed) = *rng.pick(&TYPES);
            let (e, _) = expr(rng, depth - 1);
            (format!("({name})({e})"), Ty { bytes, signed })
        }
        2 => {
            let (c, _) = expr(rng, depth - 1);
            let (a, at) = expr(rng, depth - 1);
            let (b, bt) = expr(rng, depth - 1);
            (format!("({c} ? {a} : {b})"), Ty::common(at, bt))
        }
        3 => {
            // Division and remainder by a divisor that is never 0 or -1.
            let (a, at) = expr(rng, depth - 1);
            let (d, dt) = divisor(rng, depth - 1);
            let op = *rng.pick(&["/", "%"]);
            (format!("({a} {op} {d})"), Ty::common(at, dt))
        }
        4 => {
            // A count within the promoted left side's width.
            let (a, at) = expr(rng, depth - 1);
            let (c, _) = expr(rng, depth - 1);
            let width = 8 * at.promoted().bytes as u32;
            let op = *rng.pick(&["<<", ">>"]);
            (format!("({a} {op} (({c}) & {}))", width - 1), at.promoted())
        }
        _ => {
            let (a, at) = expr(rng, depth - 1);
            let (b, bt) = expr(rng, depth - 1);
            let op = *rng.pick(&[
                "+", "-", "*", "&", "|", "^", "<", "<=", ">", ">=", "==", "!=", "&&", "||",
            ]);
            let t = match op {
                "<" | "<=" | ">" | ">=" | "==" | "!=" | "&&" | "||" => INT,
                _ => Ty::common(at, bt),
            };
            (format!("({a} {op} {b})"), t)
        }
    }
}

/// A literal, an argument, or an argument cast to a narrower type (so
/// that int and unsigned int arithmetic is as common as unsigned long's).
fn leaf(rng: &mut Rng) -> (String, Ty) {
    let arg = format!("arg{}", 1 + rng.below(6));
    match rng.below(3) {
        0 => {
            let &(text, ty) = rng.pick(&LITERALS);
            (text.to_string(), ty)
        }
        1 => (arg, ULONG),
        _ => {
            let &(name, bytes, signed) = rng.pick(&TYPES);
            (format!("({name}){arg}"), Ty { bytes, signed })
        }
    }
}

/// A divisor that is never 0 or -1 (C leaves x / 0 undefined, and INT_MIN /
/// -1), of either sign and any type.
fn divisor(rng: &mut Rng, depth: u32) -> (String, Ty) {
    let (e, _) = expr(rng, depth);
    let &(name, bytes, signed) = rng.pick(&TYPES[..8]);
    let ty = Ty { bytes, signed };
    let magnitude = format!("(({e}) & 0x3f) + 2");
    match rng.below(4) {
        0 => (format!("{}", 2 + rng.below(50)), INT),
        1 if signed && bytes >= 4 => (format!("(-({name})({magnitude}))"), ty.promoted()),
        _ => (format!("(({name})({magnitude}))"), ty.promoted()),
    }
}

/// The C program: `f` is the traced function (called once per argument
/// set); with the argument `oracle` it prints each expression's value
/// on each set instead.
fn c_source(exprs: &[String]) -> String {
    let mut c = String::from(
        "#include \"protocol.h\"\n\
         __attribute__((noinline)) long f(unsigned long arg1, unsigned long arg2,\n\
         \tunsigned long arg3, unsigned long arg4, unsigned long arg5, unsigned long arg6)\n\
         {\n\tasm volatile(\"\" ::: \"memory\");\n\treturn 0;\n}\n\
         static void oracle(unsigned long arg1, unsigned long arg2, unsigned long arg3,\n\
         \tunsigned long arg4, unsigned long arg5, unsigned long arg6)\n{\n",
    );
    for (i, e) in exprs.iter().enumerate() {
        let _ = writeln!(c, "\tprintf(\"e{i} %lx\\n\", (unsigned long)({e}));");
    }
    c.push_str("}\nstatic const unsigned long values[][6] = {\n");
    for v in VALUES {
        let row: Vec<String> = v.iter().map(|x| format!("{x:#x}UL")).collect();
        let _ = writeln!(c, "\t{{{}}},", row.join(", "));
    }
    c.push_str(
        "};\n\
         int main(int argc, char **argv)\n{\n\
         \tunsigned i, n = sizeof(values) / sizeof(values[0]);\n\
         \tint judge = argc > 1;\n\
         \tif (!judge)\n\t\twait_to_start();\n\
         \tfor (i = 0; i < n; i++) {\n\
         \t\tconst unsigned long *v = values[i];\n\
         \t\tif (judge)\n\t\t\toracle(v[0], v[1], v[2], v[3], v[4], v[5]);\n\
         \t\telse\n\t\t\tf(v[0], v[1], v[2], v[3], v[4], v[5]);\n\
         \t}\n\
         \tif (!judge)\n\t\tfinish();\n\
         \treturn 0;\n}\n",
    );
    c
}

/// `e<i> <hex>` lines into each expression's values, in order.
fn by_expression<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<usize, Vec<String>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(tag), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(i) = tag.strip_prefix('e').and_then(|i| i.parse().ok()) {
            out.entry(i).or_default().push(value.to_string());
        }
    }
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed and the number of expressions: the defaults, or the
/// environment's.
pub fn seed_and_count() -> (u64, usize) {
    let seed = env_number("RTOOLS_C_SEED", 0x5eed_c0de);
    let count = env_number("RTOOLS_C_EXPRESSIONS", 600) as usize;
    (seed, count)
}

fn expressions(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    (0..count).map(|_| expr(&mut rng, 4).0).collect()
}

/// The name of the program for `seed` and `count` among programs handed
/// prebuilt (c_programs::HANDED).
fn oracle_name(seed: u64, count: usize) -> String {
    format!("exprs-{seed:x}-{count}")
}

/// The expressions' program (c_source) built into `dir`, where
/// [`oracle_name`] names it.
pub fn build_oracle(seed: u64, count: usize, dir: &Path) -> PathBuf {
    let source = dir.join("exprs.c");
    std::fs::write(&source, c_source(&expressions(seed, count))).unwrap();
    let bin = dir.join(oracle_name(seed, count));
    let include = format!("-I{}", source_file("tests/testprog/c").display());
    compile(&source, &["-O0", "-g", "-fwrapv", "-w", &include], &bin);
    bin
}

#[test]
fn root_trace_expressions_compute_what_gcc_computes() {
    let _bpf = require_root!();
    let (seed, count) = seed_and_count();
    eprintln!("C semantics: seed {seed:#x}, {count} expressions");
    let exprs = expressions(seed, count);
    let dir = tempfile::tempdir().unwrap();
    let bin =
        handed(&oracle_name(seed, count)).unwrap_or_else(|| build_oracle(seed, count, dir.path()));
    let judged = Command::new(&bin).arg("oracle").output().unwrap();
    assert!(judged.status.success());
    let expected = by_expression(std::str::from_utf8(&judged.stdout).unwrap().lines());
    assert_eq!(expected.len(), count);

    let target = format!("{}:f", bin.display());
    let probes: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{target} \"e{i} %lx\", {e}"))
        .collect();
    // Room for every event (600 probes on one function make 7,800 at
    // once; the guests' emulation reads them slowly): this test is about
    // values, root_flood_printed_plus_lost_equals_matched about losses.
    let mut args = vec!["trace", "-b", "4096", "-p", "{pid}"];
    args.extend(probes.iter().map(String::as_str));
    let done = trace_command(Command::new(&bin), &args, false);
    // The message is the column after PID TID COMM FUNC.
    let messages: Vec<String> = done
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    let got = by_expression(messages.iter().map(String::as_str));
    let mut wrong = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        if got.get(&i) != expected.get(&i) {
            wrong.push(format!(
                "e{i} = {e}\n  gcc:    {:?}\n  rtools: {:?}",
                expected.get(&i),
                got.get(&i)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {count} expressions differ from gcc (seed {seed:#x}):\n{}\nrtools said: {}",
        wrong.len(),
        wrong.join("\n"),
        done.stderr
    );
}

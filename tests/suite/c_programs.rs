//! The C programs the root tests trace, from tests/testprog/c/: each
//! built once per test run, or handed prebuilt (in the directory
//! [`HANDED`] names) to a test binary run where there is no compiler
//! (the qemu guests, vm_root_suite.rs). One table names them all, so
//! the guests can be given every one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::support::source_file;

/// The directory of prebuilt programs, by their names.
pub const HANDED: &str = "RTOOLS_TEST_C_PROGRAMS";

/// How a test target is built: the tests' targets must symbolize, so
/// every one keeps its DWARF.
pub struct CProgram {
    pub name: &'static str,
    /// SOURCE.c in tests/testprog/c/.
    source: &'static str,
    flags: &'static [&'static str],
}

/// Frame pointers and DWARF: what rtools needs to walk and name stacks.
const PLAIN: &[&str] = &["-O1", "-g", "-fno-omit-frame-pointer", "-pthread"];
/// As Debian builds its packages: optimized, no frame pointers.
const NO_FP: &[&str] = &["-O2", "-g", "-fomit-frame-pointer"];
/// exec.c's two images, built alike (non-PIE, no frame pointers, in
/// source order) so that other code falls at the same addresses.
const EXEC: &[&str] = &[
    "-O2",
    "-g",
    "-fomit-frame-pointer",
    "-no-pie",
    "-fno-toplevel-reorder",
];

pub const EVERY: &[CProgram] = &[
    CProgram {
        name: "jumps",
        source: "jumps",
        flags: PLAIN,
    },
    CProgram {
        name: "leaf",
        source: "leaf",
        flags: PLAIN,
    },
    CProgram {
        name: "nofp",
        source: "nofp",
        flags: NO_FP,
    },
    // Static, no libc, frame pointers in every function.
    CProgram {
        name: "fpstatic",
        source: "fpstatic",
        flags: &[
            "-O2",
            "-g",
            "-fno-omit-frame-pointer",
            "-static",
            "-nostdlib",
            "-fno-stack-protector",
            "-no-pie",
        ],
    },
    // late.c and the library it opens once traced, both with frame
    // pointers or both without.
    CProgram {
        name: "late_fp",
        source: "late",
        flags: &["-O2", "-g", "-fno-omit-frame-pointer"],
    },
    CProgram {
        name: "late_lib_fp.so",
        source: "late_lib",
        flags: &["-O2", "-g", "-fno-omit-frame-pointer", "-shared", "-fPIC"],
    },
    CProgram {
        name: "late_nofp",
        source: "late",
        flags: NO_FP,
    },
    CProgram {
        name: "late_lib_nofp.so",
        source: "late_lib",
        flags: &["-O2", "-g", "-fomit-frame-pointer", "-shared", "-fPIC"],
    },
    CProgram {
        name: "exec_first",
        source: "exec",
        flags: EXEC,
    },
    CProgram {
        name: "exec_second",
        source: "exec",
        flags: &[
            "-O2",
            "-g",
            "-fomit-frame-pointer",
            "-no-pie",
            "-fno-toplevel-reorder",
            "-DSECOND",
        ],
    },
];

/// The program NAME of [`EVERY`]: prebuilt where [`HANDED`] says, else
/// built (once per test run) beside the test binary.
pub fn c_program(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let program = EVERY
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no C program {name} in c_programs::EVERY"));
    if let Some(path) = handed(name) {
        return path;
    }
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    // target/debug/deps/tests-HASH -> target/debug/NAME
    let exe = std::env::current_exe().unwrap();
    let out = exe.parent().unwrap().parent().unwrap().join(name);
    build(program, &out);
    built.insert(name.to_string(), out.clone());
    out
}

/// The prebuilt program NAME, where programs are handed ([`HANDED`]).
pub fn handed(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os(HANDED)?).join(name);
    assert!(
        path.is_file(),
        "{} was not handed to the test",
        path.display()
    );
    Some(path)
}

fn build(program: &CProgram, out: &Path) {
    let source = source_file(&format!("tests/testprog/c/{}.c", program.source));
    compile(&source, program.flags, out);
}

/// `cc FLAGS -o OUT SOURCE`, which must succeed.
pub fn compile(source: &Path, flags: &[&str], out: &Path) {
    let status = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(source)
        .status()
        .expect("run cc");
    assert!(status.success(), "building {} failed", source.display());
}

/// Every program of [`EVERY`] built into `dir`, for a test binary run
/// without a compiler ([`HANDED`]).
pub fn build_every(dir: &Path) {
    for program in EVERY {
        build(program, &dir.join(program.name));
    }
}

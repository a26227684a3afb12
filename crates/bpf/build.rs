//! Compiles the BPF programs into libbpf-rs skeletons and generates the
//! syscall-number table used by the raw_syscalls fast path, for the target
//! architecture ([`Arch`]: x86-64 only today).

use std::env;
use std::fs;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const PROGRAMS: &[&str] = &["count", "stack", "latency"];

/// What the build needs to know of the target architecture (the programs'
/// own is in src/bpf/arch.bpf.h, the Rust side's in rtools-core's arch/).
struct Arch {
    /// Debian's multiarch include directory (asm/ headers).
    includes: &'static str,
    /// The header that numbers the syscalls.
    unistd: &'static str,
}

fn arch() -> Arch {
    match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => Arch {
            includes: "/usr/include/x86_64-linux-gnu",
            unistd: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
        },
        other => panic!("rtools supports x86-64 only, not {other:?}: add it to build.rs's arch()"),
    }
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = arch();
    println!("cargo:rerun-if-changed=src/bpf");
    for name in PROGRAMS {
        let src = format!("src/bpf/{name}.bpf.c");
        SkeletonBuilder::new()
            .source(&src)
            .clang_args([
                "-O2",
                "-g",
                "-Wall",
                "-Isrc/bpf",
                "-idirafter",
                arch.includes,
            ])
            .build_and_generate(out.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| panic!("building {src}: {e:#}"));
    }
    write_syscall_table(&out, arch.unistd);
}

/// Writes `syscalls.rs`: `(name, number)` for every `__NR_name` in the
/// libc headers, so `t:syscalls:sys_enter_*` can map events to numbers.
fn write_syscall_table(out: &std::path::Path, unistd: &str) {
    println!("cargo:rerun-if-changed={unistd}");
    let text = fs::read_to_string(unistd)
        .unwrap_or_else(|e| panic!("{unistd}: {e} (install linux-libc-dev)"));
    let mut table = String::from("pub static SYSCALLS: &[(&str, u32)] = &[\n");
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(nr)) = (words.next(), words.next(), words.next())
        {
            if let (Some(name), Ok(nr)) = (name.strip_prefix("__NR_"), nr.parse::<u32>()) {
                table.push_str(&format!("    ({name:?}, {nr}),\n"));
            }
        }
    }
    table.push_str("];\n");
    fs::write(out.join("syscalls.rs"), table).expect("write syscalls.rs");
}

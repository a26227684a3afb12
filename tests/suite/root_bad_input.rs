//! Bad input, table-driven, for every tool (issue 9): each case exits with
//! the code of SPEC §5, prints one line on stderr that starts with the
//! tool's name, nothing on stdout, and never panics. Root, because many
//! cases are only reached past the privilege check (a non-root run checks
//! the usage errors before it and skips the rest loudly).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::support::{require_root, rtools_bin, run, Finished};

const USAGE: i32 = 2;

/// Files that are not traceable ELF binaries, made once per test.
struct BadFiles {
    dir: tempfile::TempDir,
}

impl BadFiles {
    fn new() -> BadFiles {
        let dir = tempfile::TempDir::new().unwrap();
        let write =
            |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("script.sh", b"#!/bin/sh\necho hi\n");
        write("text.txt", b"just some words\n");
        write("data.bin", &[0, 1, 2, 3, 0xff, 0xfe]);
        write("empty", b"");
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 1; // 32-bit
        elf[5] = 1;
        elf[0x10] = 3;
        elf[0x12] = 3;
        write("elf32.so", &elf);
        elf[4] = 2;
        elf[0x12] = 183; // AArch64
        write("arm64.so", &elf);
        elf[0x12] = 62;
        elf[0x10] = 1; // ET_REL
        write("object.o", &elf);
        elf[0x10] = 3;
        elf[0x28..0x30].copy_from_slice(&1_000_000u64.to_le_bytes());
        elf[0x3a] = 64;
        elf[0x3c] = 30;
        write("truncated.so", &elf);
        write("half.so", &elf[..30]);
        // Issue 25: whole ELF files with a bad section-name index, and with
        // random bytes after the header: exit 2 naming the damage, not a
        // parser's raw message with exit 1.
        let good = std::fs::read(super::support::testprog_bin()).unwrap();
        let mut bad_index = good.clone();
        bad_index[0x3e..0x40].copy_from_slice(&0xfff0u16.to_le_bytes());
        write("bad_shstrndx.so", &bad_index);
        let mut garbage = good;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for b in &mut garbage[64..] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        write("garbage.so", &garbage);
        std::os::unix::fs::symlink(dir.path().join("loop_b"), dir.path().join("loop_a")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("loop_a"), dir.path().join("loop_b")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let exe = dir.path().join("script.sh");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        BadFiles { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// One case: arguments after the tool, exit code, a piece of the message.
type Case = (Vec<String>, i32, &'static str);

fn case(args: &[&str], code: i32, needle: &'static str) -> Case {
    (args.iter().map(|s| s.to_string()).collect(), code, needle)
}

/// Cases every tool shares. `dur` is the tool's duration flag.
fn shared_cases(files: &BadFiles, dur: &str) -> Vec<Case> {
    let f = |name: &str, func: &str| format!("{}:{func}", files.path(name));
    let huge_glob = "*a".repeat(3000);
    let long_name = "b".repeat(100_000);
    let cases = vec![
        case(&[], USAGE, "PATTERN"),
        case(&[""], USAGE, "empty probe specification"),
        case(&["   "], USAGE, "empty probe specification"),
        case(&["::"], USAGE, "empty probe specification"),
        case(&["t:"], USAGE, "t:CATEGORY:EVENT"),
        case(&["t:a"], USAGE, "t:CATEGORY:EVENT"),
        case(&["u:"], USAGE, "u:LIB[:PROVIDER]:PROBE"),
        case(&["u:x"], USAGE, "u:LIB[:PROVIDER]:PROBE"),
        case(&["p:"], USAGE, "p::FUNC"),
        case(&["c:"], USAGE, "empty function"),
        case(&[":malloc"], USAGE, "empty library or binary"),
        case(&["t::x"], USAGE, "empty category"),
        case(&["kprobe::f"], USAGE, "empty module"),
        case(&["uprobe:/bin/x"], USAGE, "incomplete"),
        case(&["uprobe:/bin/x:f:g"], USAGE, "too many"),
        case(&["a:b:c:d:e"], USAGE, "too many"),
        case(&["x:b:c"], USAGE, "unknown type 'x'"),
        case(&["-p", "-1", "c:malloc"], USAGE, "'-1' is negative"),
        case(&["-p", "abc", "c:malloc"], USAGE, "not a whole number"),
        case(&["-p", "0", "c:malloc"], USAGE, "-p 0 is not a process"),
        case(&["-p", "4294967296", "c:malloc"], USAGE, "too large"),
        case(
            &["-p", "999999999", "c:malloc"],
            USAGE,
            "no process with pid 999999999",
        ),
        case(&["-i", "0", "c:malloc"], USAGE, "at least 1 second"),
        case(&["-i", "-5", "c:malloc"], USAGE, "'-5' is negative"),
        case(&["-i", "1.5", "c:malloc"], USAGE, "not a whole number"),
        case(
            &["-i", "18446744073709551615", "c:malloc"],
            USAGE,
            "more than ten years",
        ),
        case(
            &["-i", "99999999999999999999999", "c:malloc"],
            USAGE,
            "too large",
        ),
        case(&[dur, "0", "c:malloc"], USAGE, "at least 1 second"),
        case(
            &[dur, "18446744073709551615", "c:malloc"],
            USAGE,
            "more than ten years",
        ),
        case(&[dur, "-1", "c:malloc"], USAGE, "is negative"),
        case(
            &["--max-probes", "0", "c:malloc"],
            USAGE,
            "--max-probes must be at least 1",
        ),
        case(&["--max-probes", "-1", "c:malloc"], USAGE, "is negative"),
        case(
            &["--max-probes", "1", "c:mall*"],
            USAGE,
            "more than the limit of 1",
        ),
        case(&["--no-such-option", "c:malloc"], USAGE, "--no-such-option"),
        case(
            &["--cgroup", "/no-such-cgroup-xyz", "c:malloc"],
            USAGE,
            "no cgroup v2 directory",
        ),
        case(
            &["--cgroup", "/etc", "c:malloc"],
            USAGE,
            "no cgroup v2 directory",
        ),
        case(&["--backend", "nope", "c:malloc"], USAGE, "nope"),
        case(&["c:malloc", "extra"], USAGE, "extra"),
        case(&["-r", "c:mal(loc"], USAGE, "unclosed group"),
        case(&["-r", "c:a["], USAGE, "unclosed character class"),
        case(&["-r", "c:(a{1000}){1000}"], USAGE, "size limit"),
        case(
            &["-r", &format!("c:{huge_glob}")],
            USAGE,
            "longer than the limit",
        ),
        case(&[&format!("c:{huge_glob}")], USAGE, "longer than the limit"),
        case(&[&format!("c:{long_name}")], USAGE, "longer than the limit"),
        case(
            &["c:no_such_function_xyz"],
            USAGE,
            "no function matches 'no_such_function_xyz'",
        ),
        case(
            &["nosuchlib_xyz:f"],
            USAGE,
            "cannot find library or binary 'nosuchlib_xyz'",
        ),
        case(&["/no/such/file:f"], USAGE, "no such file '/no/such/file'"),
        case(&[&f("script.sh", "f")], USAGE, "is a script"),
        case(&[&f("text.txt", "f")], USAGE, "is a text file"),
        case(&[&f("data.bin", "f")], USAGE, "is a data file"),
        case(&[&f("empty", "f")], USAGE, "is an empty file"),
        case(&[&f("elf32.so", "f")], USAGE, "is a 32-bit ELF file"),
        case(&[&f("arm64.so", "f")], USAGE, "another machine (AArch64)"),
        case(&[&f("object.o", "f")], USAGE, "object file"),
        case(&[&f("truncated.so", "f")], USAGE, "damaged or truncated"),
        case(&[&f("half.so", "f")], USAGE, "damaged or truncated"),
        case(
            &[&f("bad_shstrndx.so", "f")],
            USAGE,
            "bad_shstrndx.so is a damaged",
        ),
        case(&[&f("garbage.so", "f")], USAGE, "garbage.so is a damaged"),
        case(
            &[&f("loop_a", "f")],
            USAGE,
            "too many levels of symbolic links",
        ),
        case(&[&f("fifo", "f")], USAGE, "is a FIFO"),
        case(
            &[&format!("{}:f", files.dir.path().display())],
            USAGE,
            "is a directory",
        ),
        case(&["/dev/null:f"], USAGE, "is a character device"),
        case(&["/proc/self/status:f"], USAGE, "pseudo-file"),
        case(&["/sys/kernel/tracing/trace_pipe:f"], USAGE, "pseudo-file"),
    ];
    cases
}

fn counting_cases(files: &BadFiles) -> Vec<Case> {
    let u = |name: &str| format!("u:{}:p", files.path(name));
    vec![
        case(
            &["t:no_such_category_xyz:x"],
            USAGE,
            "no tracepoint matches",
        ),
        case(
            &["t:sched:no_such_event"],
            USAGE,
            "no tracepoint matches 'sched:no_such_event'",
        ),
        case(
            &["u:c:no_such_probe"],
            USAGE,
            "no USDT probe matches 'no_such_probe'",
        ),
        case(&["-r", "t:sched:("], USAGE, "bad regular expression"),
        case(&["-r", "t:sched:sched_switch("], USAGE, "unclosed group"),
        case(&[&u("script.sh")], USAGE, "is a script"),
        case(&[&u("fifo")], USAGE, "is a FIFO"),
        case(
            &["u:/sys/kernel/tracing/trace_pipe:x"],
            USAGE,
            "pseudo-file",
        ),
        case(&["-c", "99", "c:malloc"], USAGE, "no CPU 99"),
        case(&["-c", "-1", "c:malloc"], USAGE, "is negative"),
    ]
}

fn all_cases() -> Vec<(&'static str, Case)> {
    let files = Box::leak(Box::new(BadFiles::new()));
    let mut all = Vec::new();
    for (tool, dur) in [
        ("funccount", "-d"),
        ("stackcount", "-D"),
        ("funclatency", "-d"),
    ] {
        all.extend(shared_cases(files, dur).into_iter().map(|c| (tool, c)));
    }
    for tool in ["funccount", "stackcount"] {
        all.extend(counting_cases(files).into_iter().map(|c| (tool, c)));
    }
    let tool_cases = [
        (
            "funccount",
            case(&["--by", "nope", "c:malloc"], USAGE, "nope"),
        ),
        (
            "funccount",
            case(&["--top", "-1", "c:malloc"], USAGE, "is negative"),
        ),
        (
            "funccount",
            case(&["--top", "x", "c:malloc"], USAGE, "not a whole number"),
        ),
        (
            "stackcount",
            case(
                &["--max-depth", "0", "c:malloc"],
                USAGE,
                "--max-depth must be 1 to",
            ),
        ),
        (
            "stackcount",
            case(&["--max-depth", "-3", "c:malloc"], USAGE, "is negative"),
        ),
        (
            "stackcount",
            case(
                &["--stack-storage-size", "0", "c:malloc"],
                USAGE,
                "at least 1",
            ),
        ),
        (
            "stackcount",
            case(
                &["--flamegraph", "/proc/no/x.svg", "c:malloc"],
                USAGE,
                "cannot write the flame graph",
            ),
        ),
        (
            "stackcount",
            case(
                &["--flamegraph", "/tmp", "c:malloc"],
                USAGE,
                "Is a directory",
            ),
        ),
        (
            "funclatency",
            case(
                &["-l", "0", "c:malloc"],
                USAGE,
                "-l/--level must be 1 to 32",
            ),
        ),
        (
            "funclatency",
            case(&["-l", "-2", "c:malloc"], USAGE, "is negative"),
        ),
        (
            "funclatency",
            case(&["-u", "-m", "c:malloc"], USAGE, "cannot be used with"),
        ),
        (
            "funclatency",
            case(&["r:c:malloc"], USAGE, "is a return probe"),
        ),
        (
            "funclatency",
            case(&["t:sched:sched_switch"], USAGE, "is not a function"),
        ),
        (
            "funclatency",
            case(&["u:c:setjmp"], USAGE, "is not a function"),
        ),
        (
            "funclatency",
            case(&["c:*setjmp"], USAGE, "cannot carry a return probe"),
        ),
        (
            "funclatency",
            case(&["c:*"], USAGE, "more than the limit of 1000"),
        ),
        ("funclatency", case(&["-c", "0", "c:malloc"], USAGE, "-c")),
    ];
    all.extend(tool_cases);
    all.extend(trace_cases(files).into_iter().map(|c| ("trace", c)));
    all
}

/// trace's own: its probe text (predicate, format, arguments), read
/// before anything needs root, and typed against each target after.
fn trace_cases(files: &BadFiles) -> Vec<Case> {
    let f = |name: &str| format!("{}:f", files.path(name));
    vec![
        case(&[], USAGE, "PROBE"),
        case(&[""], USAGE, "empty probe"),
        case(&["c:malloc (arg1 >"], USAGE, "unmatched '('"),
        case(&["c:malloc (arg1 >)"], USAGE, "expected a value"),
        case(&["c:malloc (arg1 # 2)"], USAGE, "unexpected '#'"),
        case(
            &["c:malloc \"%d\""],
            USAGE,
            "1 conversion(s) but 0 argument(s)",
        ),
        case(&["c:malloc \"%q\", arg1"], USAGE, "unknown conversion '%q'"),
        case(&["c:malloc \"%d"], USAGE, "unterminated string"),
        case(&["c:malloc arg1"], USAGE, "expected a format string"),
        case(&["c:malloc \"%d\",, arg1"], USAGE, "empty argument"),
        case(
            &["c:malloc(int) \"%d\", arg1"],
            USAGE,
            "needs a type and a name",
        ),
        case(&["c:malloc+zz"], USAGE, "invalid offset"),
        case(
            &["-Z", "0", "c:malloc"],
            USAGE,
            "-Z/--string-size must be 1 to",
        ),
        case(
            &["-Z", "99999", "c:malloc"],
            USAGE,
            "-Z/--string-size must be 1 to",
        ),
        case(&["-b", "3", "c:malloc"], USAGE, "power of two"),
        case(&["-b", "0", "c:malloc"], USAGE, "power of two"),
        case(&["-M", "0", "c:malloc"], USAGE, "at least 1"),
        case(&["-A", "c:malloc"], USAGE, "--max-events"),
        case(&["-u", "c:malloc"], USAGE, "--timestamp"),
        case(
            &["-p", "1", "-L", "1", "c:malloc"],
            USAGE,
            "cannot be used with",
        ),
        case(&["-d", "0", "c:malloc"], USAGE, "at least 1 second"),
        case(&["--uid", "-1", "c:malloc"], USAGE, "is negative"),
        case(&["x:b:c"], USAGE, "unknown type 'x'"),
        case(&["c:no_such_function_xyz"], USAGE, "no function matches"),
        case(&["t:sched:no_such_event"], USAGE, "no tracepoint matches"),
        case(&[&f("script.sh")], USAGE, "is a script"),
        case(
            &["c:malloc \"%d\", retval"],
            USAGE,
            "only at a return probe",
        ),
        case(&["c:malloc \"%d\", arg7"], USAGE, "arg1 to arg6"),
        case(&["c:malloc \"%d\", nope"], USAGE, "unknown name 'nope'"),
        case(&["c:malloc \"%d\", $comm"], USAGE, "print it with %s"),
        case(
            &["c:malloc ($comm * 2)"],
            USAGE,
            "a string where a number is needed",
        ),
        case(
            &["c:malloc (frob(arg1))"],
            USAGE,
            "unknown function 'frob()'",
        ),
        case(
            &["c:malloc (args->x)"],
            USAGE,
            "struct members are not known",
        ),
        case(
            &["t:sched:sched_switch (args->nope)"],
            USAGE,
            "no field 'nope'",
        ),
        case(&["r::vfs_read+4"], USAGE, "a return probe has no offset"),
        case(
            &["--backend", "fentry", "vfs_read+4"],
            USAGE,
            "an offset into a function needs a kprobe",
        ),
        case(
            &["-B", "c:malloc (STRCMP(\"{1, x}\", arg1))"],
            USAGE,
            "'x' in the byte list of STRCMP is not a byte",
        ),
        case(
            &["-s", "/nonexistent", "c:malloc"],
            USAGE,
            "-s/--sym_file_list: symbol file /nonexistent:",
        ),
    ]
}

fn check(tool: &str, (args, code, needle): &Case, done: &Finished) -> Result<(), String> {
    let lines: Vec<&str> = done.stderr.lines().collect();
    let ok = done.code == Some(*code)
        && lines.len() == 1
        && lines[0].starts_with(&format!("{tool}: error: "))
        && lines[0].contains(needle)
        && done.stdout.is_empty()
        && !done.stderr.contains("panicked");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{tool} {args:?}: wanted exit {code} and one line with {needle:?}; got exit {:?}, stderr {:?}, stdout {:?}",
            done.code,
            done.stderr.chars().take(600).collect::<String>(),
            done.stdout.chars().take(200).collect::<String>()
        ))
    }
}

#[test]
fn root_every_bad_input_gets_one_line_and_its_exit_code() {
    let _bpf = require_root!();
    let cases = all_cases();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (tool, case) in &cases {
        let mut args = vec![tool.to_string()];
        args.extend(case.0.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = check(tool, case, &run(&args)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A closed stderr (a pipe whose reader is gone) loses the messages and
/// nothing else: no panic, the right exit code.
#[test]
fn root_closed_stderr_never_panics() {
    let _bpf = require_root!();
    for args in [
        vec!["funccount", "c:no_such_function_xyz"],
        vec!["stackcount", "-p", "-1", "x"],
        vec!["funclatency", "c:*setjmp"],
        vec!["funccount", "-d", "1", "t:syscalls:sys_enter_getcpu"],
        vec!["trace", "c:malloc (arg1 >"],
    ] {
        let mut child = Command::new(rtools_bin())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take()); // the reader goes away
        let status = child.wait().unwrap();
        let expected = if args.contains(&"-d") { 0 } else { USAGE };
        assert_eq!(status.code(), Some(expected), "{args:?}: {status}");
    }
}

/// Untouched by any case above: rtools' own binary is an ELF file it can
/// trace, so the file checks do not refuse everything.
#[test]
fn root_a_real_binary_passes_the_file_checks() {
    let _bpf = require_root!();
    let done = run(&[
        "funccount",
        "--max-probes",
        "1",
        &format!("{}:*", rtools_bin().display()),
    ]);
    assert_eq!(done.code, Some(USAGE), "{done:#?}");
    assert!(
        done.stderr.contains("more than the limit of 1"),
        "{done:#?}"
    );
    assert!(Path::new(rtools_bin()).is_file());
}

/// Run as an unprivileged user: mistakes in what was typed are reported
/// before the missing privileges, and the missing privileges say what to
/// do.
#[test]
fn root_usage_errors_come_before_privilege_errors() {
    let _bpf = require_root!();
    let as_nobody = |args: &[&str]| {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(super::support::rtools_bin_for_anyone())
            .args(args)
            .output()
            .expect("run setpriv (util-linux)");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = as_nobody(&["funccount", "-r", "c:a["]);
    assert_eq!(code, Some(USAGE), "{stderr}");
    assert!(stderr.contains("unclosed character class"), "{stderr}");
    let (code, stderr) = as_nobody(&["stackcount", "t:"]);
    assert_eq!(code, Some(USAGE), "{stderr}");
    let (code, stderr) = as_nobody(&["funclatency", "c:malloc"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("needs root, or the CAP_BPF and CAP_PERFMON capabilities"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A full disk on stdout is a runtime error named after the tool.
#[test]
fn root_unwritable_output_names_the_tool() {
    let _bpf = require_root!();
    let out = Command::new(rtools_bin())
        .args(["funccount", "-d", "1", "t:syscalls:sys_enter_getcpu"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("funccount: error: writing output: No space left on device"),
        "{stderr}"
    );
}

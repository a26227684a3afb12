//! funccount's errors that need root to reach: unknown names, zero
//! matches, kernel features this machine lacks. One line each, with the
//! exit code of SPEC §5.

use std::path::Path;

use super::support::{require_root, run, source_file, testprog_path, Tracer};

fn assert_error(args: &[&str], code: i32, needle: &str) {
    let done = run(args);
    assert_eq!(done.code, Some(code), "{args:?}: {done:#?}");
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected: {done:#?}");
    assert!(lines[0].starts_with("funccount: error: "), "{lines:?}");
    assert!(
        lines[0].contains(needle),
        "{args:?}: {needle:?} not in {:?}",
        lines[0]
    );
    assert!(
        !done.stderr.contains("libbpf:"),
        "libbpf noise without -v: {done:#?}"
    );
}

#[test]
fn root_unknown_names_are_usage_errors() {
    let _bpf = require_root!();
    assert_error(
        &["funccount", "t:sched:no_such_event"],
        2,
        "no tracepoint matches 'sched:no_such_event' (looked in /sys/kernel/tracing/available_events)",
    );
    assert_error(
        &["funccount", "no_such_kernel_function_xyz"],
        2,
        "no kernel function matches 'no_such_kernel_function_xyz'",
    );
    assert_error(
        &["funccount", "nosuchlib_xyz:malloc"],
        2,
        "cannot find library or binary 'nosuchlib_xyz'",
    );
    assert_error(
        &["funccount", "c:no_such_function_xyz"],
        2,
        "no function matches 'no_such_function_xyz' (looked in the symbol tables of /",
    );
    let spec = format!("u:{}:no_such_probe", testprog_path());
    assert_error(
        &["funccount", &spec],
        2,
        "no USDT probe matches 'no_such_probe'",
    );
    assert_error(
        &["funccount", "-r", "t:sched:^zzz"],
        2,
        "no tracepoint matches",
    );
    assert_error(
        &["funccount", "/no/such/binary:f"],
        2,
        "no such file '/no/such/binary'",
    );
}

#[test]
fn root_kernel_functions_without_kprobes_or_fentry_are_explained() {
    let _bpf = require_root!();
    if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        // A kernel with kprobes: the backend works (the VM tests count).
        let tracer = Tracer::start(&["funccount", "--backend", "kprobe", "vfs_read"]);
        assert_eq!(tracer.stop().code, Some(0));
        return;
    }
    assert_error(
        &["funccount", "--backend", "kprobe", "vfs_read"],
        1,
        "cannot attach to any kernel function: kprobe: this kernel has no kprobes (CONFIG_KPROBES is off)",
    );
    // auto tries every backend and reports why each failed.
    let done = run(&["funccount", "vfs_read"]);
    assert_eq!(done.code, Some(1), "{done:#?}");
    for backend in ["kprobe-multi: ", "fentry: ", "kprobe: "] {
        assert!(
            done.stderr.contains(backend),
            "{backend} missing: {}",
            done.stderr
        );
    }
    // Regression (issue 10): it also says what to do next.
    assert!(
        done.stderr
            .contains("Here, trace tracepoints instead (t:CATEGORY:EVENT")
            && done
                .stderr
                .contains("Kernel functions need kprobes (CONFIG_KPROBES=y) or fentry"),
        "{}",
        done.stderr
    );
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
}

#[test]
fn root_verbose_shows_the_plan() {
    let _bpf = require_root!();
    let tracer = Tracer::start(&["funccount", "-v", "t:sched:sched_switch"]);
    let done = tracer.stop();
    assert!(
        done.stderr
            .contains("plan: slot 0 sched:sched_switch (tracepoint): raw tracepoint link"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("detached in"), "{}", done.stderr);
}

/// A file that is an ELF library of this machine but whose symbol tables
/// cannot be read (a fixture of rtools-core, a bad symbol-table size) is
/// damaged input: exit 2 naming the file and what is wrong (issue 25: it
/// was exit 1 with the parser's raw message).
#[test]
fn root_unreadable_symbols_are_named_as_damage() {
    let _bpf = require_root!();
    let file = source_file("crates/core/tests/fixtures/elf/bad-symbols.so");
    let file = file.display();
    for tool in ["funccount", "stackcount", "funclatency"] {
        let done = run(&[tool, &format!("{file}:fixture_*")]);
        assert_eq!(done.code, Some(2), "{tool}: {done:#?}");
        let line =
            format!("{tool}: error: resolving '{file}:fixture_*': {file} is a damaged or truncated ELF file: ");
        assert!(done.stderr.starts_with(&line), "{tool}: {done:#?}");
        assert_eq!(done.stderr.lines().count(), 1, "{tool}: {done:#?}");
    }
    // IFUNCs (glibc's strlen): the probe would sit on the resolver, and
    // BCC counts 0 without a word; rtools says so (issue 25).
    let w = super::support::Workload::start(&["funcs", "1", "0", "0"]);
    let pid = w.pid_str();
    let done = run(&["funccount", "-p", &pid, "-d", "1", "c:strlen"]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(
        done.stderr.contains("funccount: warning: strlen in ")
            && done
                .stderr
                .contains(" is an IFUNC: the probe sits on the resolver"),
        "{done:#?}"
    );
    w.exit();
    // The same pattern on a file that is no ELF at all is a usage error.
    assert_error(&["funccount", "/etc/hostname:f"], 2, "is a text file");
}

//! `rtools --version` names the kernel features found; `rtools --check`
//! tries each kind of probe for real and says why one does not work.

use std::path::Path;

use super::support::{require_root, run};

/// The line of `--check` for a kind of probe: (yes or no, the rest).
fn verdict<'a>(out: &'a str, kind: &str) -> (&'a str, &'a str) {
    out.lines()
        .find_map(|l| {
            let l = l.trim_start();
            let (word, rest) = l.split_once(' ')?;
            rest.trim_start()
                .starts_with(&format!("{kind} "))
                .then_some((word, rest))
        })
        .unwrap_or_else(|| panic!("no line for {kind}:\n{out}"))
}

#[test]
fn version_names_the_kernel_features() {
    let done = run(&["--version"]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines[0], format!("rtools {}", env!("CARGO_PKG_VERSION")));
    assert!(lines[1].starts_with("kernel "), "{}", done.stdout);
    for feature in [
        "BTF",
        "kprobe-multi",
        "uprobe-multi",
        "fentry",
        "ring buffer",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.trim_start().starts_with(&format!("{feature} "))),
            "{feature} missing:\n{}",
            done.stdout
        );
    }
    let btf = if Path::new("/sys/kernel/btf/vmlinux").exists() {
        "yes"
    } else {
        "no"
    };
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().take(2).eq(["BTF", btf])),
        "{}",
        done.stdout
    );
    // The tools keep their one-line version.
    let tool = run(&["funccount", "--version"]);
    assert_eq!(
        tool.stdout,
        format!("funccount {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn root_check_says_what_works_here_and_why_not() {
    let _bpf = require_root!();
    let done = run(&["--check"]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    let out = &done.stdout;
    for kind in [
        "tracepoints",
        "raw tracepoints",
        "user functions",
        "USDT probes",
        "software events",
    ] {
        assert_eq!(verdict(out, kind).0, "yes", "{kind}:\n{out}");
    }
    let kprobe = verdict(out, "kernel functions, kprobe");
    if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert_eq!(kprobe.0, "yes", "{out}");
    } else {
        assert_eq!(kprobe.0, "no", "{out}");
        assert!(
            kprobe
                .1
                .ends_with("this kernel has no kprobes (CONFIG_KPROBES is off)"),
            "{out}"
        );
    }
    // fentry says the kernel's answer: here the trampolines are forbidden.
    let fentry = verdict(out, "kernel functions, fentry");
    if fentry.0 == "no" {
        assert!(fentry.1.contains("fentry: "), "{out}");
    }
    let hardware = verdict(out, "hardware events");
    if !Path::new("/sys/bus/event_source/devices/cpu").exists() {
        assert_eq!(hardware.0, "no");
        assert!(
            hardware.1.contains("needs the CPU's performance counters"),
            "{out}"
        );
    }
    // Nothing attached is left behind, and libbpf stays quiet.
    assert!(done.stderr.is_empty(), "{}", done.stderr);
}

//! What this kernel offers tracing, found without attaching anything:
//! files the kernel publishes, its version where a feature arrived with
//! one, and libbpf's probes of program and map types (which load a
//! trivial program, so they need the privileges a tool needs).

use std::path::Path;

use libbpf_rs::libbpf_sys;

use crate::system;

/// A kernel feature and whether it is there, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub state: State,
    /// What decided it: the file, the version, the probe's answer.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Yes,
    No,
    /// Not known without root (the probe loads a program).
    Unknown,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Yes => "yes",
            State::No => "no",
            State::Unknown => "unknown",
        }
    }
}

fn file(name: &'static str, path: &str, missing: &str) -> Feature {
    let there = Path::new(path).exists();
    Feature {
        name,
        state: if there { State::Yes } else { State::No },
        why: if there {
            path.to_string()
        } else {
            format!("no {path}: {missing}")
        },
    }
}

fn since(name: &'static str, version: (u32, u32), what: &str) -> Feature {
    let (major, minor) = system::kernel_version();
    let there = (major, minor) >= version;
    Feature {
        name,
        state: if there { State::Yes } else { State::No },
        why: format!(
            "kernel {major}.{minor}; {what} came with {}.{}",
            version.0, version.1
        ),
    }
}

/// libbpf's answer to whether programs or maps of a type load here.
fn probe(name: &'static str, privileged: bool, answer: impl FnOnce() -> i32) -> Feature {
    if !privileged {
        return Feature {
            name,
            state: State::Unknown,
            why: "probing loads a program: run as root".into(),
        };
    }
    match answer() {
        1 => Feature {
            name,
            state: State::Yes,
            why: "libbpf's probe loaded it".into(),
        },
        0 => Feature {
            name,
            state: State::No,
            why: "libbpf's probe could not load one".into(),
        },
        err => Feature {
            name,
            state: State::No,
            why: format!(
                "libbpf's probe: {}",
                std::io::Error::from_raw_os_error(-err)
            ),
        },
    }
}

/// kprobe.multi links came with 5.18, but work only with CONFIG_FPROBE,
/// which no file shows: only an attach tells (`rtools --check`).
fn kprobe_multi() -> Feature {
    let mut f = since("kprobe-multi", (5, 18), "kprobe.multi links");
    if f.state == State::Yes {
        f.state = State::Unknown;
        f.why
            .push_str(", if CONFIG_FPROBE is on: rtools --check tries one");
    }
    f
}

/// The features `rtools --version` reports.
pub fn detect() -> Vec<Feature> {
    let privileged = system::check_privileges().is_ok();
    vec![
        file(
            "BTF",
            "/sys/kernel/btf/vmlinux",
            "fentry and kernel argument names need CONFIG_DEBUG_INFO_BTF",
        ),
        file(
            "kprobes",
            "/sys/bus/event_source/devices/kprobe",
            "CONFIG_KPROBES is off",
        ),
        kprobe_multi(),
        probe("fentry", privileged, || {
            // SAFETY: libbpf's probe takes a program type and no options.
            unsafe {
                libbpf_sys::libbpf_probe_bpf_prog_type(
                    libbpf_sys::BPF_PROG_TYPE_TRACING,
                    std::ptr::null(),
                )
            }
        }),
        file(
            "uprobes",
            "/sys/bus/event_source/devices/uprobe",
            "CONFIG_UPROBE_EVENTS is off",
        ),
        since("uprobe-multi", (6, 6), "uprobe.multi links"),
        since(
            "raw tracepoint cookies",
            (6, 10),
            "cookies on raw tracepoint links (tracepoints attach raw)",
        ),
        probe("ring buffer", privileged, || {
            // SAFETY: libbpf's probe takes a map type and no options.
            unsafe {
                libbpf_sys::libbpf_probe_bpf_map_type(
                    libbpf_sys::BPF_MAP_TYPE_RINGBUF,
                    std::ptr::null(),
                )
            }
        }),
        file(
            "hardware events",
            "/sys/bus/event_source/devices/cpu",
            "no PMU (virtual machines often have none)",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_say_why() {
        let all = detect();
        let names: Vec<&str> = all.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "BTF",
                "kprobes",
                "kprobe-multi",
                "fentry",
                "uprobes",
                "uprobe-multi",
                "raw tracepoint cookies",
                "ring buffer",
                "hardware events"
            ]
        );
        assert!(all.iter().all(|f| !f.why.is_empty()));
        let btf = &all[0];
        assert_eq!(
            btf.state == State::Yes,
            Path::new("/sys/kernel/btf/vmlinux").exists()
        );
        let f = file("x", "/nonexistent/rtools", "it is not there");
        assert_eq!(
            (f.state, f.why.as_str()),
            (State::No, "no /nonexistent/rtools: it is not there")
        );
        let old = since("y", (99, 0), "the future");
        assert_eq!(old.state, State::No);
        assert!(
            old.why.ends_with("the future came with 99.0"),
            "{}",
            old.why
        );
        assert_eq!(since("z", (0, 1), "z").state, State::Yes);
        let multi = kprobe_multi();
        assert_ne!(multi.state, State::Yes, "only an attach can tell");
        assert_eq!(probe("p", false, || 1).state, State::Unknown);
        assert_eq!(probe("p", true, || 1).state, State::Yes);
        assert_eq!(probe("p", true, || 0).state, State::No);
        let denied = probe("p", true, || -libc::EPERM);
        assert_eq!(denied.state, State::No);
        assert!(
            denied.why.contains("Operation not permitted"),
            "{}",
            denied.why
        );
        assert_eq!(State::Unknown.word(), "unknown");
    }
}

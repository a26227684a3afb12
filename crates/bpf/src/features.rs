//! What this kernel offers tracing, found without attaching anything:
//! files the kernel publishes, and probes of program and map types,
//! helpers and link types (`kernel_probes.rs`; they load a trivial
//! program, so they need the privileges a tool needs). Never the kernel's
//! version: distributions backport features and configure them away.

use std::path::Path;

use libbpf_rs::libbpf_sys;

use crate::{kernel_probes, system};

impl Feature {
    /// The reason, with what was probed.
    fn why_also(mut self, what: &str) -> Feature {
        if self.state != State::Unknown {
            self.why = format!("{}: {what}", self.why);
        }
        self
    }
}

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
            why: "the kernel took the probe".into(),
        },
        0 => Feature {
            name,
            state: State::No,
            why: "the kernel refused the probe".into(),
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

/// kprobe.multi links work only with CONFIG_FPROBE, which no file shows:
/// only an attach tells (`rtools --check`).
fn kprobe_multi() -> Feature {
    Feature {
        name: "kprobe-multi",
        state: State::Unknown,
        why: "only an attach tells (it needs CONFIG_FPROBE): rtools --check tries one".into(),
    }
}

/// A yes or no from one of `kernel_probes`' questions.
fn asked(
    name: &'static str,
    privileged: bool,
    what: &str,
    answer: impl FnOnce() -> bool,
) -> Feature {
    probe(name, privileged, || i32::from(answer())).why_also(what)
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
        asked(
            "uprobe-multi",
            privileged,
            "a uprobe.multi link attempted",
            kernel_probes::uprobe_multi,
        ),
        asked(
            "raw tracepoint cookies",
            privileged,
            "a raw tracepoint program reading its cookie loaded (tracepoints attach raw)",
            kernel_probes::raw_tracepoint_cookies,
        ),
        asked(
            "syscall tracepoint kernel stacks",
            privileged,
            "a program at syscalls:sys_enter_getppid read the kernel's stack",
            kernel_probes::syscall_tracepoint_kernel_stacks,
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
                "syscall tracepoint kernel stacks",
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
        let refused = asked("y", true, "a thing tried", || false);
        assert_eq!(
            (refused.state, refused.why.as_str()),
            (State::No, "the kernel refused the probe: a thing tried")
        );
        assert_eq!(asked("z", true, "z", || true).state, State::Yes);
        assert_eq!(asked("z", false, "z", || true).state, State::Unknown);
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

//! The probe-specification grammar every tool shares (SPEC §2).
//!
//! BCC short forms (`vfs_read`, `p:c:malloc`, `t:sched:sched_switch`,
//! `u:lib:probe`) and bpftrace long forms (`kprobe:vfs_read`,
//! `uprobe:/bin/bash:readline`, `usdt:PATH:provider:probe`) both parse into
//! one [`ProbeSpec`]. Where the two conventions clash (`u:`), BCC wins: `u:`
//! is a USDT probe, as in BCC, not bpftrace's uprobe shorthand. bpftrace's
//! perf-event probes parse too: `software:`/`s:`, `hardware:`/`h:`,
//! `profile:`, and `p:UNIT:N` (a number is never a function's name, so
//! `p:hz:99` cannot be BCC's `p:LIB:FUNC`).

use std::fmt;

use thiserror::Error;

use crate::perf_events::{self, PerfEvent, PerfKind, UNITS};

/// How a kernel-function probe asked to be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KernelFlavor {
    /// BCC forms: the loader picks the fastest backend.
    Auto,
    /// `kprobe:` / `kretprobe:`: the kprobe family (kprobe-multi or kprobe).
    Kprobe,
    /// `fentry:`/`kfunc:` / `fexit:`/`kretfunc:`: BPF trampolines.
    Fentry,
    /// Inside the function (trace's `func+0x12`): only a kprobe attaches
    /// there.
    Offset,
}

/// One parsed probe specification. Name fields may hold glob or regex
/// patterns; matching happens later, against the real candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    /// A kernel function, at entry or (`ret`) at return.
    Kernel {
        ret: bool,
        flavor: KernelFlavor,
        module: Option<String>,
        func: String,
    },
    /// A tracepoint; `category` and `event` may be patterns.
    Tracepoint { category: String, event: String },
    /// A raw tracepoint (bpftrace `rawtracepoint:`).
    RawTracepoint { event: String },
    /// A user function in a binary or library, as the user wrote it
    /// (`c`, `pthread`, `./bin`, `/usr/lib/...`).
    User {
        ret: bool,
        binary: String,
        func: String,
    },
    /// A USDT probe in a binary or library.
    Usdt {
        binary: String,
        provider: Option<String>,
        probe: String,
    },
    /// A software or hardware perf event, or a profile timer, sampled on
    /// every CPU.
    Perf(PerfEvent),
}

impl ProbeSpec {
    /// Whether it places return probes (`r:`, `kretprobe:`, `uretprobe:`,
    /// `fexit:`).
    pub fn is_return(&self) -> bool {
        matches!(
            self,
            ProbeSpec::Kernel { ret: true, .. } | ProbeSpec::User { ret: true, .. }
        )
    }
}

/// A specification that does not parse. Every variant names the spec and
/// the part that is wrong, and says what would be right.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("empty probe specification: give a function, e.g. 'vfs_read' or 'c:malloc'")]
    Empty,
    #[error("probe '{spec}' has an empty {part}: {hint}")]
    EmptyPart {
        spec: String,
        part: &'static str,
        hint: &'static str,
    },
    #[error(
        "probe '{spec}' has unknown type '{kind}': use p, r, t or u (BCC) or kprobe, \
         kretprobe, fentry, fexit, tracepoint, rawtracepoint, uprobe, uretprobe, usdt, \
         software, hardware, profile"
    )]
    UnknownType { spec: String, kind: String },
    /// A perf-event probe with a bad name, count or unit.
    #[error("probe '{spec}': {problem}")]
    Perf { spec: String, problem: String },
    #[error(
        "probe '{spec}': interval probes fire on one CPU and sample nothing: use -i SECONDS \
         for a summary every interval, or profile:hz:N to sample every CPU"
    )]
    Interval { spec: String },
    #[error("probe '{spec}' has too many ':'-separated parts: expected {expected}")]
    TooManyParts {
        spec: String,
        expected: &'static str,
    },
    #[error("probe '{spec}' is incomplete: expected {expected}")]
    TooFewParts {
        spec: String,
        expected: &'static str,
    },
}

const KERNEL_FORM: &str = "KIND:[MODULE:]FUNCTION";
const TRACEPOINT_FORM: &str = "tracepoint:CATEGORY:EVENT";
const RAW_TRACEPOINT_FORM: &str = "rawtracepoint:[MODULE:]EVENT";
const UPROBE_FORM: &str = "uprobe:PATH:FUNCTION";
const USDT_FORM: &str = "usdt:PATH:[PROVIDER:]PROBE";
const PERF_FORM: &str = "software:EVENT[:COUNT] or hardware:EVENT[:COUNT]";
const PROFILE_FORM: &str = "profile:hz:N, profile:s:N, profile:ms:N or profile:us:N";
const BCC_FORM: &str = "[p|r]:LIB:FUNC, t:CATEGORY:EVENT or u:LIB[:PROVIDER]:PROBE";

/// Parses one probe specification.
pub fn parse(spec: &str) -> Result<ProbeSpec, SpecError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(SpecError::Empty);
    }
    let parts: Vec<&str> = spec.split(':').collect();
    match parts[0] {
        "kprobe" | "kretprobe" | "fentry" | "kfunc" | "fexit" | "kretfunc" if parts.len() > 1 => {
            parse_kernel_long(spec, &parts)
        }
        "tracepoint" if parts.len() > 1 => {
            let [category, event] = exact(spec, &parts[1..], TRACEPOINT_FORM)?;
            tracepoint(spec, category, event)
        }
        "rawtracepoint" if parts.len() > 1 => {
            let event = match parts[1..] {
                [event] | [_, event] => event,
                _ => return Err(too_many(spec, RAW_TRACEPOINT_FORM)),
            };
            Ok(ProbeSpec::RawTracepoint {
                event: non_empty(spec, event, "event", "name the raw tracepoint")?,
            })
        }
        "uprobe" | "uretprobe" if parts.len() > 1 => {
            let [binary, func] = exact(spec, &parts[1..], UPROBE_FORM)?;
            user(spec, parts[0] == "uretprobe", binary, func)
        }
        "software" | "s" | "hardware" | "h" if parts.len() > 1 => {
            let kind = if matches!(parts[0], "software" | "s") {
                PerfKind::Software
            } else {
                PerfKind::Hardware
            };
            let (name, count) = match parts[1..] {
                [name] => (name, None),
                [name, count] => (name, Some(count)),
                _ => return Err(too_many(spec, PERF_FORM)),
            };
            let event = non_empty(spec, name, "event", "e.g. software:page-faults")?;
            perf(spec, perf_events::event(kind, &event, count))
        }
        "profile" if parts.len() > 1 => {
            let [unit, n] = exact(spec, &parts[1..], PROFILE_FORM)?;
            perf(spec, perf_events::profile(unit, n))
        }
        // bpftrace's short form, where it cannot be BCC's p:LIB:FUNC.
        "p" if is_timer(&parts) => perf(spec, perf_events::profile(parts[1], parts[2])),
        "interval" | "i" if parts.len() > 1 => Err(SpecError::Interval {
            spec: spec.to_string(),
        }),
        "usdt" if parts.len() > 1 => match parts[1..] {
            [binary, probe] => usdt(spec, binary, None, probe),
            [binary, provider, probe] => usdt(spec, binary, Some(provider), probe),
            [_] => Err(too_few(spec, USDT_FORM)),
            _ => Err(too_many(spec, USDT_FORM)),
        },
        _ => parse_bcc(spec, &parts),
    }
}

/// `p:UNIT:N`: a profile timer.
fn is_timer(parts: &[&str]) -> bool {
    matches!(parts, [_, unit, n] if UNITS.contains(unit) && n.starts_with(|c: char| c.is_ascii_digit()))
}

fn perf(spec: &str, event: Result<PerfEvent, String>) -> Result<ProbeSpec, SpecError> {
    event
        .map(ProbeSpec::Perf)
        .map_err(|problem| SpecError::Perf {
            spec: spec.to_string(),
            problem,
        })
}

/// BCC's short forms, read as BCC's funccount/trace read them.
fn parse_bcc(spec: &str, parts: &[&str]) -> Result<ProbeSpec, SpecError> {
    if parts.iter().all(|p| p.is_empty()) {
        return Err(SpecError::Empty);
    }
    match *parts {
        // A BCC type letter with one part after it is a spec cut short
        // (no library is named `t` or `u`; `p:`/`r:` need a library or `::`).
        ["t", _] => Err(too_few(spec, "t:CATEGORY:EVENT, e.g. t:sched:sched_switch")),
        ["u", _] => Err(too_few(
            spec,
            "u:LIB[:PROVIDER]:PROBE, e.g. u:/usr/bin/python3:gc__start",
        )),
        ["p", _] => Err(too_few(
            spec,
            "p:LIB:FUNC, or p::FUNC for a kernel function",
        )),
        ["r", _] => Err(too_few(
            spec,
            "r:LIB:FUNC, or r::FUNC for a kernel function",
        )),
        [func] => kernel(spec, false, KernelFlavor::Auto, None, func),
        [lib, func] => user(spec, false, lib, func),
        // BCC reads an empty type as p (trace(8): ':c:malloc', '::vfs_read').
        ["p" | "", "", func] => kernel(spec, false, KernelFlavor::Auto, None, func),
        ["r", "", func] => kernel(spec, true, KernelFlavor::Auto, None, func),
        ["p" | "", lib, func] => user(spec, false, lib, func),
        ["r", lib, func] => user(spec, true, lib, func),
        ["t", category, event] => tracepoint(spec, category, event),
        ["u", lib, probe] => usdt(spec, lib, None, probe),
        ["u", lib, provider, probe] => usdt(spec, lib, Some(provider), probe),
        [kind, _, _] | [kind, _, _, _] if !matches!(kind, "p" | "r" | "t" | "u") => {
            Err(SpecError::UnknownType {
                spec: spec.to_string(),
                kind: kind.to_string(),
            })
        }
        _ => Err(too_many(spec, BCC_FORM)),
    }
}

fn parse_kernel_long(spec: &str, parts: &[&str]) -> Result<ProbeSpec, SpecError> {
    let (ret, flavor) = match parts[0] {
        "kprobe" => (false, KernelFlavor::Kprobe),
        "kretprobe" => (true, KernelFlavor::Kprobe),
        "fentry" | "kfunc" => (false, KernelFlavor::Fentry),
        _ => (true, KernelFlavor::Fentry),
    };
    match parts[1..] {
        [func] => kernel(spec, ret, flavor, None, func),
        [module, func] => {
            let module = non_empty(spec, module, "module", "name the module or drop it")?;
            kernel(spec, ret, flavor, Some(module), func)
        }
        _ => Err(too_many(spec, KERNEL_FORM)),
    }
}

fn kernel(
    spec: &str,
    ret: bool,
    flavor: KernelFlavor,
    module: Option<String>,
    func: &str,
) -> Result<ProbeSpec, SpecError> {
    Ok(ProbeSpec::Kernel {
        ret,
        flavor,
        module,
        func: non_empty(
            spec,
            func,
            "function",
            "name a kernel function, e.g. vfs_read",
        )?,
    })
}

fn tracepoint(spec: &str, category: &str, event: &str) -> Result<ProbeSpec, SpecError> {
    Ok(ProbeSpec::Tracepoint {
        category: non_empty(spec, category, "category", "e.g. t:sched:sched_switch")?,
        event: non_empty(spec, event, "event", "e.g. t:sched:sched_switch")?,
    })
}

fn user(spec: &str, ret: bool, binary: &str, func: &str) -> Result<ProbeSpec, SpecError> {
    Ok(ProbeSpec::User {
        ret,
        binary: non_empty(
            spec,
            binary,
            "library or binary",
            "e.g. c:malloc or /bin/bash:readline",
        )?,
        func: non_empty(spec, func, "function", "e.g. c:malloc")?,
    })
}

fn usdt(
    spec: &str,
    binary: &str,
    provider: Option<&str>,
    probe: &str,
) -> Result<ProbeSpec, SpecError> {
    let provider = match provider {
        Some(p) => Some(non_empty(spec, p, "USDT provider", "name it or drop it")?),
        None => None,
    };
    Ok(ProbeSpec::Usdt {
        binary: non_empty(
            spec,
            binary,
            "library or binary",
            "e.g. u:/usr/bin/python3:function__entry",
        )?,
        provider,
        probe: non_empty(spec, probe, "USDT probe", "e.g. u:c:setjmp")?,
    })
}

fn non_empty(
    spec: &str,
    value: &str,
    part: &'static str,
    hint: &'static str,
) -> Result<String, SpecError> {
    if value.is_empty() {
        Err(SpecError::EmptyPart {
            spec: spec.to_string(),
            part,
            hint,
        })
    } else {
        Ok(value.to_string())
    }
}

fn exact<'a, const N: usize>(
    spec: &str,
    parts: &[&'a str],
    expected: &'static str,
) -> Result<[&'a str; N], SpecError> {
    match parts.len().cmp(&N) {
        std::cmp::Ordering::Less => Err(too_few(spec, expected)),
        std::cmp::Ordering::Greater => Err(too_many(spec, expected)),
        std::cmp::Ordering::Equal => Ok(std::array::from_fn(|i| parts[i])),
    }
}

fn too_many(spec: &str, expected: &'static str) -> SpecError {
    SpecError::TooManyParts {
        spec: spec.to_string(),
        expected,
    }
}

fn too_few(spec: &str, expected: &'static str) -> SpecError {
    SpecError::TooFewParts {
        spec: spec.to_string(),
        expected,
    }
}

impl fmt::Display for ProbeSpec {
    /// The bpftrace long form, which names every part explicitly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeSpec::Kernel {
                ret,
                flavor,
                module,
                func,
            } => {
                let kind = match (flavor, ret) {
                    (KernelFlavor::Fentry, false) => "fentry",
                    (KernelFlavor::Fentry, true) => "fexit",
                    (_, false) => "kprobe",
                    (_, true) => "kretprobe",
                };
                match module {
                    Some(m) => write!(f, "{kind}:{m}:{func}"),
                    None => write!(f, "{kind}:{func}"),
                }
            }
            ProbeSpec::Tracepoint { category, event } => write!(f, "tracepoint:{category}:{event}"),
            ProbeSpec::RawTracepoint { event } => write!(f, "rawtracepoint:{event}"),
            ProbeSpec::User { ret, binary, func } => {
                let kind = if *ret { "uretprobe" } else { "uprobe" };
                write!(f, "{kind}:{binary}:{func}")
            }
            ProbeSpec::Usdt {
                binary,
                provider,
                probe,
            } => match provider {
                Some(p) => write!(f, "usdt:{binary}:{p}:{probe}"),
                None => write!(f, "usdt:{binary}:{probe}"),
            },
            ProbeSpec::Perf(event) => write!(f, "{event}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_probes_are_known_by_their_spec() {
        for spec in [
            "r:c:malloc",
            "r::vfs_read",
            "kretprobe:vfs_read",
            "uretprobe:/bin/sh:main",
            "fexit:f",
        ] {
            assert!(parse(spec).unwrap().is_return(), "{spec}");
        }
        for spec in [
            "c:malloc",
            "vfs_read",
            "t:a:b",
            "u:c:setjmp",
            "fentry:f",
            "rawtracepoint:x",
        ] {
            assert!(!parse(spec).unwrap().is_return(), "{spec}");
        }
    }

    fn k(ret: bool, flavor: KernelFlavor, module: Option<&str>, func: &str) -> ProbeSpec {
        ProbeSpec::Kernel {
            ret,
            flavor,
            module: module.map(str::to_string),
            func: func.to_string(),
        }
    }

    fn u(ret: bool, binary: &str, func: &str) -> ProbeSpec {
        ProbeSpec::User {
            ret,
            binary: binary.to_string(),
            func: func.to_string(),
        }
    }

    fn usdt_spec(binary: &str, provider: Option<&str>, probe: &str) -> ProbeSpec {
        ProbeSpec::Usdt {
            binary: binary.to_string(),
            provider: provider.map(str::to_string),
            probe: probe.to_string(),
        }
    }

    fn tp(category: &str, event: &str) -> ProbeSpec {
        ProbeSpec::Tracepoint {
            category: category.to_string(),
            event: event.to_string(),
        }
    }

    #[test]
    fn bcc_kernel_forms() {
        use KernelFlavor::Auto;
        assert_eq!(parse("vfs_read"), Ok(k(false, Auto, None, "vfs_read")));
        assert_eq!(parse("vfs_*"), Ok(k(false, Auto, None, "vfs_*")));
        assert_eq!(parse("p::vfs_read"), Ok(k(false, Auto, None, "vfs_read")));
        assert_eq!(parse("r::vfs_read"), Ok(k(true, Auto, None, "vfs_read")));
    }

    #[test]
    fn bcc_user_forms() {
        assert_eq!(parse("c:malloc"), Ok(u(false, "c", "malloc")));
        assert_eq!(parse("p:c:malloc"), Ok(u(false, "c", "malloc")));
        assert_eq!(parse("r:c:malloc"), Ok(u(true, "c", "malloc")));
        assert_eq!(
            parse("/bin/bash:readline"),
            Ok(u(false, "/bin/bash", "readline"))
        );
        assert_eq!(parse("./target:gamma"), Ok(u(false, "./target", "gamma")));
        assert_eq!(
            parse("p:pthread:pthread_*"),
            Ok(u(false, "pthread", "pthread_*"))
        );
    }

    #[test]
    fn bcc_tracepoint_and_usdt_forms() {
        assert_eq!(
            parse("t:sched:sched_switch"),
            Ok(tp("sched", "sched_switch"))
        );
        assert_eq!(
            parse("t:syscalls:sys_enter_*"),
            Ok(tp("syscalls", "sys_enter_*"))
        );
        assert_eq!(parse("u:c:setjmp"), Ok(usdt_spec("c", None, "setjmp")));
        assert_eq!(
            parse("u:./bin:prov:probe"),
            Ok(usdt_spec("./bin", Some("prov"), "probe"))
        );
    }

    #[test]
    fn bpftrace_long_forms() {
        use KernelFlavor::{Fentry, Kprobe};
        assert_eq!(
            parse("kprobe:vfs_read"),
            Ok(k(false, Kprobe, None, "vfs_read"))
        );
        assert_eq!(
            parse("kretprobe:vfs_read"),
            Ok(k(true, Kprobe, None, "vfs_read"))
        );
        assert_eq!(
            parse("kprobe:ext4:ext4_*"),
            Ok(k(false, Kprobe, Some("ext4"), "ext4_*"))
        );
        assert_eq!(
            parse("fentry:vfs_read"),
            Ok(k(false, Fentry, None, "vfs_read"))
        );
        assert_eq!(
            parse("kfunc:vfs_read"),
            Ok(k(false, Fentry, None, "vfs_read"))
        );
        assert_eq!(
            parse("fexit:vfs_read"),
            Ok(k(true, Fentry, None, "vfs_read"))
        );
        assert_eq!(parse("kretfunc:m:f"), Ok(k(true, Fentry, Some("m"), "f")));
        assert_eq!(
            parse("tracepoint:sched:sched_*"),
            Ok(tp("sched", "sched_*"))
        );
        assert_eq!(
            parse("rawtracepoint:sys_enter"),
            Ok(ProbeSpec::RawTracepoint {
                event: "sys_enter".into()
            })
        );
        assert_eq!(
            parse("rawtracepoint:vmlinux:sys_enter"),
            Ok(ProbeSpec::RawTracepoint {
                event: "sys_enter".into()
            })
        );
        assert_eq!(
            parse("uprobe:/bin/bash:readline"),
            Ok(u(false, "/bin/bash", "readline"))
        );
        assert_eq!(
            parse("uretprobe:/bin/bash:readline"),
            Ok(u(true, "/bin/bash", "readline"))
        );
        assert_eq!(
            parse("usdt:/bin/x:probe"),
            Ok(usdt_spec("/bin/x", None, "probe"))
        );
        assert_eq!(
            parse("usdt:/bin/x:prov:probe"),
            Ok(usdt_spec("/bin/x", Some("prov"), "probe"))
        );
    }

    #[test]
    fn long_form_keyword_alone_is_a_kernel_function() {
        // `kprobe` with no colon is BCC's bare kernel function name; so is
        // every other long-form keyword.
        for word in [
            "kprobe",
            "tracepoint",
            "rawtracepoint",
            "uprobe",
            "uretprobe",
            "usdt",
        ] {
            assert_eq!(
                parse(word),
                Ok(k(false, KernelFlavor::Auto, None, word)),
                "{word}"
            );
        }
    }

    #[test]
    fn bcc_type_letters_cut_short_show_their_form() {
        for (spec, form) in [
            ("t:sched", "t:CATEGORY:EVENT"),
            ("u:probe", "u:LIB[:PROVIDER]:PROBE"),
            ("p:vfs_read", "p:LIB:FUNC, or p::FUNC"),
            ("r:vfs_read", "r:LIB:FUNC, or r::FUNC"),
        ] {
            let msg = error(spec);
            assert!(
                msg.contains("incomplete") && msg.contains(form),
                "{spec}: {msg}"
            );
        }
    }

    #[test]
    fn display_round_trips_through_the_long_form() {
        for spec in [
            "kprobe:vfs_read",
            "fexit:m:f",
            "tracepoint:a:b",
            "uprobe:/x:f",
            "usdt:/x:p:q",
        ] {
            assert_eq!(parse(spec).unwrap().to_string(), spec);
        }
    }

    fn error(spec: &str) -> String {
        parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn malformed_specs_name_the_bad_part() {
        assert!(error("").contains("empty probe specification"));
        assert!(error("   ").contains("empty probe specification"));
        assert!(error("c:").contains("empty function"));
        assert!(error(":malloc").contains("empty library or binary"));
        assert!(error("p::").contains("empty function"));
        assert!(error("t::sched_switch").contains("empty category"));
        assert!(error("t:sched:").contains("empty event"));
        assert!(error("u:c:").contains("empty USDT probe"));
        assert!(error("u:c::probe").contains("empty USDT provider"));
        assert!(error("kprobe:").contains("empty function"));
        assert!(error("kprobe::f").contains("empty module"));
        assert!(error("uprobe:/bin/x").contains("incomplete"));
        assert!(error("uprobe:/bin/x:f:g").contains("too many"));
        assert!(error("tracepoint:sched").contains("incomplete"));
        assert!(error("usdt:/bin/x").contains("incomplete"));
        assert!(error("usdt:/bin/x:a:b:c").contains("too many"));
        assert!(error("a:b:c:d:e").contains("too many"));
        assert!(error("kprobe:a:b:c").contains("too many"));
        assert!(error("rawtracepoint:a:b:c").contains("too many"));
    }

    /// Issue 25: trace(8)'s own examples `:c:malloc` and `::do_sys_openat2`
    /// were refused; BCC reads an empty type as p.
    #[test]
    fn an_empty_type_is_bccs_p() {
        assert_eq!(parse(":c:malloc").unwrap(), parse("p:c:malloc").unwrap());
        assert_eq!(
            parse("::do_sys_openat2").unwrap(),
            parse("p::do_sys_openat2").unwrap()
        );
        assert_eq!(parse("::").unwrap_err(), SpecError::Empty);
    }

    #[test]
    fn unknown_type_letter_is_named() {
        let msg = error("x:c:malloc");
        assert!(msg.contains("unknown type 'x'"), "{msg}");
        assert!(msg.contains("use p, r, t or u"), "{msg}");
        assert!(error("q:a:b:c").contains("unknown type 'q'"));
        // `r:` with four parts is not a form either.
        assert!(error("r:a:b:c").contains("too many"));
    }

    fn perf(spec: &str) -> PerfEvent {
        match parse(spec) {
            Ok(ProbeSpec::Perf(event)) => event,
            other => panic!("{spec}: {other:?}"),
        }
    }

    #[test]
    fn bpftraces_perf_event_forms_and_short_forms() {
        use crate::perf_events::Sampling;
        for (spec, text) in [
            ("software:page-faults", "software:page-faults:100"),
            ("s:faults:1", "software:page-faults:1"),
            ("software:cs:7", "software:context-switches:7"),
            ("s:cpu-clock", "software:cpu-clock:1000000"),
            ("hardware:cycles", "hardware:cpu-cycles:1000000"),
            ("h:instructions:1e6", "hardware:instructions:1000000"),
            ("h:branches", "hardware:branch-instructions:100000"),
            ("profile:hz:99", "profile:hz:99"),
            ("p:hz:99", "profile:hz:99"),
            ("p:ms:10", "profile:ms:10"),
            ("profile:us:500", "profile:us:500"),
            ("p:s:1", "profile:s:1"),
        ] {
            let event = perf(spec);
            assert_eq!(event.text, text, "{spec}");
            // The name a tool prints parses back to the same event.
            assert_eq!(perf(&parse(spec).unwrap().to_string()), event);
        }
        assert_eq!(perf("p:hz:99").kind, PerfKind::Software);
        assert_eq!(perf("h:cycles").kind, PerfKind::Hardware);
        assert_eq!(perf("p:ms:10").sampling, Sampling::Every(10_000_000));
        // p:LIB:FUNC is still BCC's user probe: a function is no number.
        assert!(matches!(parse("p:hz:main"), Ok(ProbeSpec::User { .. })));
        assert!(matches!(parse("p:c:malloc"), Ok(ProbeSpec::User { .. })));
        // The bare words are BCC's kernel functions, as the others.
        assert!(matches!(parse("software"), Ok(ProbeSpec::Kernel { .. })));
        assert!(matches!(parse("profile"), Ok(ProbeSpec::Kernel { .. })));
        assert!(matches!(parse("interval"), Ok(ProbeSpec::Kernel { .. })));
        assert!(matches!(parse("i"), Ok(ProbeSpec::Kernel { .. })));
    }

    #[test]
    fn bad_perf_events_say_what_is_wrong() {
        for (spec, says) in [
            (
                "software:nope",
                "probe 'software:nope': unknown software event 'nope': use one of ",
            ),
            ("h:cs", "probe 'h:cs': unknown hardware event 'cs'"),
            (
                "s:faults:0",
                "probe 's:faults:0': the count must be above 0",
            ),
            ("s:faults:many", "the count 'many' is not a whole number"),
            ("software:", "probe 'software:' has an empty event"),
            ("software:cs:1:2", "too many"),
            (
                "profile:hz:0",
                "probe 'profile:hz:0': the rate must be above 0",
            ),
            ("profile:min:5", "unknown unit 'min'"),
            ("profile:hz", "incomplete: expected profile:hz:N"),
            ("profile:hz:1:2", "too many"),
            ("p:hz:0", "the rate must be above 0"),
        ] {
            let msg = error(spec);
            assert!(msg.contains(says), "{spec}: {msg}");
        }
        for spec in ["interval:s:1", "i:ms:100", "interval:hz:1"] {
            let msg = error(spec);
            assert!(
                msg.contains("interval probes fire on one CPU") && msg.contains("-i SECONDS"),
                "{msg}"
            );
        }
        assert!(error("x:a:b").contains("software, hardware, profile"));
    }
}

//! `rtools --version` (the kernel features found) and `rtools --check`
//! (+): what can be traced on this machine, each kind tried for real with
//! funccount's program on a probe that every machine has, attached and
//! detached at once, with the kernel's reason where it refuses.

use std::mem::MaybeUninit;

use rtools_bpf::count::{CountConfig, Counter};
use rtools_bpf::features;
use rtools_bpf::{AttachOptions, Backend, Step};
use rtools_core::count::GroupBy;
use rtools_core::targets::ResolveError;

use crate::output;
use crate::tools::common::{self, Matching};

/// `rtools --version`: the version, the kernel, and its features.
pub fn version() -> String {
    let mut out = format!(
        "rtools {}\nkernel {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        kernel_release(),
        rtools_core::arch::NAME
    );
    for f in features::detect() {
        out.push_str(&format!(
            "  {:<34} {:<8} {}\n",
            f.name,
            f.state.word(),
            f.why
        ));
    }
    out
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// One kind of probe tried: its name, the spec (the first of `|`-separated
/// ones that matches something here), the kernel backend.
const TRIES: &[(&str, &str, Backend)] = &[
    ("tracepoints", "t:sched:sched_switch", Backend::Auto),
    (
        "raw tracepoints",
        "rawtracepoint:sched_switch",
        Backend::Auto,
    ),
    (
        "kernel functions, kprobe-multi",
        "vfs_read",
        Backend::KprobeMulti,
    ),
    ("kernel functions, fentry", "vfs_read", Backend::Fentry),
    ("kernel functions, kprobe", "vfs_read", Backend::Kprobe),
    ("USDT probes", "u:c:*|u:/usr/bin/python3:*", Backend::Auto),
    ("software events", "software:cpu-clock", Backend::Auto),
    ("profile timers", "profile:hz:99", Backend::Auto),
    ("hardware events", "hardware:cpu-cycles", Backend::Auto),
];

/// `rtools --check`: tries every kind of probe and says what happened.
pub fn check() -> anyhow::Result<()> {
    rtools_bpf::system::check_privileges()?;
    // The refusals are reported below, once each.
    rtools_bpf::system::set_libbpf_logging(false);
    let mut out = format!(
        "What rtools can trace here (kernel {}, {}):\n",
        kernel_release(),
        rtools_core::arch::NAME
    );
    let exe = std::env::current_exe()?;
    let own = format!("{}:main", exe.display());
    let tries = TRIES
        .iter()
        .map(|&(name, spec, backend)| (name, spec.to_string(), backend))
        .chain([("user functions", own, Backend::Auto)]);
    for (name, specs, backend) in tries {
        // The first spec that matches, else the last one's error.
        let mut result = Err(anyhow::anyhow!("nothing to try"));
        let mut spec = "";
        for one in specs.split('|') {
            spec = one;
            result = attach_once(one, backend);
            let unmatched = matches!(&result, Err(e) if matches!(
                e.downcast_ref::<ResolveError>(),
                Some(ResolveError::NoMatch { .. } | ResolveError::Binary { .. })
            ));
            if !unmatched {
                break;
            }
        }
        let (word, how) = match result {
            Ok(how) => ("yes", how),
            Err(e) => ("no", format!("{e:#}")),
        };
        out.push_str(&format!("  {word:<4} {name:<32} {spec}: {how}\n"));
    }
    output::stdout(&out);
    Ok(())
}

/// Attaches funccount's program to `spec` and detaches it; says how it
/// attached.
fn attach_once(spec: &str, backend: Backend) -> anyhow::Result<String> {
    let matching = Matching {
        tool: "rtools",
        pid: None,
        use_regex: false,
        returns: false,
        max_probes: None,
        verbose: false,
    };
    let (_, targets) = common::resolve(spec, &matching)?;
    let config = CountConfig {
        filters: Default::default(),
        group_by: GroupBy::None,
        keep_exited: true,
        attach: AttachOptions {
            backend,
            ..AttachOptions::default()
        },
    };
    let mut storage = MaybeUninit::uninit();
    let counter = Counter::start(&mut storage, &targets[..1], &config)?;
    let attached = counter.attached();
    let how = attached
        .plan
        .iter()
        .find_map(|step| match step {
            Step::Attached { how, .. } => Some(how.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let skipped = attached.warnings.first().map(|s| s.reason.text.clone());
    counter.detach();
    match skipped {
        Some(why) if how.is_empty() => anyhow::bail!(why),
        _ => Ok(how),
    }
}

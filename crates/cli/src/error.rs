//! Classifying errors into exit codes, and printing them on one line.

use std::fmt;

use rtools_bpf::BpfError;
use rtools_core::pattern::PatternError;
use rtools_core::spec::SpecError;
use rtools_core::targets::ResolveError;
use rtools_core::trace::ProbeError;

use crate::exit;
use crate::output::say;

/// An error in what the user typed, as opposed to one the machine raised.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Shorthand for `Err(Usage(...).into())`.
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(Usage(msg.into()).into())
}

/// The exit code an error deserves.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    let interrupted = err
        .chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(BpfError::Interrupted)));
    if interrupted {
        return exit::INTERRUPTED;
    }
    let is_usage = err.chain().any(|cause| {
        cause.is::<Usage>()
            || cause.is::<SpecError>()
            || cause.is::<PatternError>()
            || cause.is::<ProbeError>()
            || cause
                .downcast_ref::<ResolveError>()
                .is_some_and(ResolveError::is_usage)
    });
    if is_usage {
        exit::USAGE
    } else {
        exit::FAILURE
    }
}

/// Prints `tool: error: cause: cause`, on one line, and for usage errors a
/// pointer to --help.
pub fn report(tool: &str, err: &anyhow::Error) -> i32 {
    let (code, line) = message(tool, err);
    say!("{line}");
    code
}

/// What to do about an error, from its kind: the libraries say what
/// failed, the CLI what a user can do about it.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let bpf = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<BpfError>())?;
    match bpf {
        BpfError::NoKernelBackend { .. } => Some(KERNEL_FUNCTIONS),
        BpfError::Load(_) | BpfError::LoadFor { .. } if bpf.errno() == Some(libc::E2BIG) => Some(
            "(the program is past the verifier's limits: 8,192 branches pending at once, \
             1,000,000 instructions examined; use fewer STRCMPs or conditions in one probe)",
        ),
        // The verifier refuses some programs with EPERM too: never blame
        // a security policy alone for a load.
        BpfError::Load(_) | BpfError::LoadFor { .. } if bpf.errno() == Some(libc::EPERM) => Some(
            "(the kernel refused the program with EPERM: run with -v for the verifier's log, \
             which tells whether the program or a policy (lockdown, seccomp, a security module) \
             is at fault)",
        ),
        _ if bpf.errno() == Some(libc::EPERM) => Some(
            "(the kernel refused even root: lockdown, seccomp or a security module forbids \
             this kind of BPF program here; run with -v for libbpf's messages)",
        ),
        BpfError::Load(_) | BpfError::LoadFor { .. } => {
            Some("(run with -v for the verifier's log)")
        }
        _ => None,
    }
}

/// What kernel functions need, and what works where they can't be traced.
const KERNEL_FUNCTIONS: &str = "Kernel functions need kprobes (CONFIG_KPROBES=y) or fentry \
    (BTF, and BPF trampolines allowed: EPERM as root means lockdown, seccomp or a security \
    module forbids them). Here, trace tracepoints instead (t:CATEGORY:EVENT, listed in \
    /sys/kernel/tracing/available_events) or user functions (LIB:FUNC)";

/// The exit code and the line [`report`] prints.
fn message(tool: &str, err: &anyhow::Error) -> (i32, String) {
    let code = exit_code(err);
    let mut text = bounded(&printable(&format!("{err:#}")));
    match hint(err) {
        Some(hint) if hint.starts_with('(') => text = format!("{text} {hint}"),
        Some(hint) => text = format!("{text}. {hint}"),
        None => {}
    }
    let line = if code == exit::USAGE {
        format!("{tool}: error: {text} (see '{tool} --help')")
    } else {
        format!("{tool}: error: {text}")
    };
    (code, line)
}

/// `text` on one line with its control characters shown, not obeyed (an
/// input echoed back must not move the cursor or retitle the terminal).
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The longest message, in characters: input echoed back (a 100 KB
/// probe) is cut in the middle, keeping the start and the end, where the
/// cause and what to do are.
const MAX_MESSAGE: usize = 600;

fn bounded(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_MESSAGE {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_MESSAGE / 2).collect();
    let tail: String = text.chars().skip(count - MAX_MESSAGE / 2).collect();
    format!("{head} [... {} characters ...] {tail}", count - MAX_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 25: a 100 KB probe gave a 100 KB error line, and
    /// `trace $'c:\e]0;x\amalloc'` set the terminal's title.
    #[test]
    fn error_lines_are_bounded_and_show_control_characters() {
        let long = anyhow::anyhow!("no function '{}' in libc", "x".repeat(100_000));
        let (_, line) = message("trace", &long);
        assert!(line.chars().count() < MAX_MESSAGE + 100, "{}", line.len());
        assert!(line.starts_with("trace: error: no function 'xxx"), "{line}");
        assert!(line.ends_with("xxx' in libc"), "{line}");
        assert!(line.contains("[... 99"), "{line}");
        // Exactly the bound: whole.
        let just = "y".repeat(MAX_MESSAGE);
        assert_eq!(bounded(&just), just);
        assert_ne!(bounded(&format!("{just}y")), format!("{just}y"));
        let title = anyhow::anyhow!("no function 'c:\u{1b}]0;x\u{7}malloc'\nsecond");
        let (_, line) = message("trace", &title);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains("c:\\u{1b}]0;x\\u{7}malloc' second"), "{line}");
    }

    #[test]
    fn exit_codes_follow_whose_fault_it_is() {
        let usage_err = usage::<()>("bad flag").unwrap_err();
        assert_eq!(usage_err.to_string(), "bad flag");
        assert_eq!(exit_code(&usage_err), exit::USAGE);
        // The cause anywhere in the chain counts.
        assert_eq!(exit_code(&usage_err.context("while parsing")), exit::USAGE);
        let spec = rtools_core::spec::parse("").unwrap_err();
        assert_eq!(exit_code(&spec.into()), exit::USAGE);
        let pattern = rtools_core::pattern::Matcher::new("(", true).unwrap_err();
        assert_eq!(exit_code(&pattern.into()), exit::USAGE);
        let no_match = ResolveError::NoMatch {
            what: "tracepoint",
            pattern: "x".into(),
            place: "here".into(),
        };
        assert_eq!(exit_code(&no_match.into()), exit::USAGE);
        assert_eq!(exit_code(&ResolveError::NoTracefs.into()), exit::FAILURE);
        assert_eq!(exit_code(&anyhow::anyhow!("disk on fire")), exit::FAILURE);
        let interrupted = anyhow::Error::from(BpfError::Interrupted).context("attaching");
        assert_eq!(exit_code(&interrupted), exit::INTERRUPTED);
    }

    #[test]
    fn reports_are_one_line_and_point_usage_errors_to_help() {
        assert_eq!(
            message("t", &usage::<()>("bad\nflag").unwrap_err()),
            (exit::USAGE, "t: error: bad flag (see 't --help')".into())
        );
        let err = anyhow::anyhow!("no disk").context("reading");
        assert_eq!(
            message("t", &err),
            (exit::FAILURE, "t: error: reading: no disk".into())
        );
        assert_eq!(report("t", &err), exit::FAILURE);
        assert_eq!(report("t", &usage::<()>("x").unwrap_err()), exit::USAGE);
    }

    #[test]
    fn hints_follow_the_kind_of_error() {
        let errno = |n| libbpf_rs_error(n);
        let load = anyhow::Error::from(BpfError::Load(errno(libc::EINVAL))).context("attaching");
        let (_, line) = message("t", &load);
        assert!(
            line.starts_with("t: error: attaching: loading the BPF programs failed: "),
            "{line}"
        );
        assert!(
            line.ends_with("(run with -v for the verifier's log)"),
            "{line}"
        );
        // A parenthesised hint follows the message, not a sentence of its own.
        assert!(!line.contains(". (run with"), "{line}");
        // Issue 25: 65 long STRCMPs joined by && said "Argument list too
        // long".
        let big = anyhow::Error::from(BpfError::Load(errno(libc::E2BIG)));
        assert!(message("t", &big).1.contains("8,192 branches"));
        // Issue 25: a verifier's EPERM was blamed on a security policy.
        let refused = anyhow::Error::from(BpfError::Load(errno(libc::EPERM)));
        let (_, line) = message("t", &refused);
        assert!(
            line.contains("verifier's log") && line.contains("the program or a policy"),
            "{line}"
        );
        let denied = anyhow::Error::from(BpfError::AttachFor {
            what: "x".into(),
            source: errno(libc::EPERM),
        });
        assert!(message("t", &denied)
            .1
            .contains("the kernel refused even root"));
        let backends = anyhow::Error::from(BpfError::NoKernelBackend {
            failures: vec!["kprobe: no kprobes".into()],
        });
        let (code, line) = message("t", &backends);
        assert_eq!(code, exit::FAILURE);
        assert!(
            line.contains("kernel function: kprobe: no kprobes. Kernel functions need kprobes"),
            "{line}"
        );
        assert_eq!(hint(&BpfError::Interrupted.into()), None);
        assert_eq!(hint(&anyhow::anyhow!("other")), None);
    }

    /// A libbpf error with errno `n`, as the kernel's answers come.
    fn libbpf_rs_error(n: i32) -> rtools_bpf::LibbpfError {
        std::io::Error::from_raw_os_error(n).into()
    }
}

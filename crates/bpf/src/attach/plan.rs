//! What attaching did, as values: the tools print the steps with -v and
//! --debug (`plan:` lines) and the skipped targets as warnings. Their
//! wording lives here and nowhere else.

use std::fmt;

/// One step of the attach plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A target attached: its slot (the BPF cookie), name, kind and how
    /// ("kprobe-multi", "uretprobe.multi", "raw_syscalls table").
    Attached {
        slot: usize,
        target: String,
        kind: &'static str,
        how: String,
    },
    /// Kernel backends that failed, each with why, before one worked.
    KernelFallback { failures: Vec<String> },
    /// Multi links failed for a user binary: one `how` per function.
    OneEach { how: &'static str, error: String },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Attached {
                slot,
                target,
                kind,
                how,
            } => write!(f, "slot {slot} {target} ({kind}): {how}"),
            Step::KernelFallback { failures } => {
                write!(
                    f,
                    "kernel backends that failed first: {}",
                    failures.join("; ")
                )
            }
            Step::OneEach { how, error } => {
                write!(f, "{how}.multi failed ({error}); one {how} each")
            }
        }
    }
}

/// A target that could not be attached, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub target: String,
    pub kind: &'static str,
    pub reason: Reason,
}

/// Why the kernel (or rtools) refused a target or a backend: the text
/// shown, and the kernel's errno where it answered, for the CLI to
/// classify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub text: String,
    pub errno: Option<i32>,
}

impl Reason {
    /// What the kernel answered a system call made at `step` ("loading",
    /// "attaching").
    pub fn os(step: &str, e: &std::io::Error) -> Reason {
        let errno = e.raw_os_error();
        Reason {
            text: format!("{step}: {e}{}", explain(errno)),
            errno,
        }
    }
}

/// ENOTSUPP, the kernel's internal "not supported", which reaches user
/// space as a bare 524 ("Unknown error 524").
const ENOTSUPP: i32 = 524;

/// What an attach errno means where the kernel's own words do not say.
fn explain(errno: Option<i32>) -> &'static str {
    match errno {
        Some(libc::E2BIG) => {
            " (the kernel runs at most 64 BPF programs on one tracepoint or probe: use fewer \
             probes on it)"
        }
        Some(ENOTSUPP) => {
            " (ENOTSUPP: the kernel cannot probe there: an offset inside an instruction, or \
             code it does not let probes into)"
        }
        _ => "",
    }
}

impl From<&libbpf_rs::Error> for Reason {
    fn from(e: &libbpf_rs::Error) -> Reason {
        let errno = crate::error::libbpf_errno(e);
        Reason {
            text: format!("{e:#}{}", explain(errno)),
            errno,
        }
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason {
            text: text.to_string(),
            errno: None,
        }
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason { text, errno: None }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "skipped {} ({}): {}",
            self.target, self.kind, self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_skips_read_as_before() {
        let step = Step::Attached {
            slot: 0,
            target: "vfs_read".into(),
            kind: "kernel function",
            how: "fentry".into(),
        };
        assert_eq!(
            step.to_string(),
            "slot 0 vfs_read (kernel function): fentry"
        );
        let fallback = Step::KernelFallback {
            failures: vec!["kprobe-multi: no".into(), "fentry: no".into()],
        };
        assert_eq!(
            fallback.to_string(),
            "kernel backends that failed first: kprobe-multi: no; fentry: no"
        );
        let each = Step::OneEach {
            how: "uprobe",
            error: "EOPNOTSUPP".into(),
        };
        assert_eq!(
            each.to_string(),
            "uprobe.multi failed (EOPNOTSUPP); one uprobe each"
        );
        let skipped = Skipped {
            target: "tcp_collapse".into(),
            kind: "kernel function",
            reason: "ENOTSUPP".into(),
        };
        let denied = std::io::Error::from_raw_os_error(libc::EPERM);
        let os = Reason::os("loading", &denied);
        assert_eq!(os.errno, Some(libc::EPERM));
        assert!(os.text.starts_with("loading: "), "{os}");
        assert_eq!(
            skipped.to_string(),
            "skipped tcp_collapse (kernel function): ENOTSUPP"
        );
    }

    /// Issue 25: the 65th probe on a tracepoint said "Argument list too
    /// long", and a uprobe in mid-instruction "Unknown error 524".
    #[test]
    fn bare_errnos_of_attaching_are_explained() {
        let too_many = Reason::os("attaching", &std::io::Error::from_raw_os_error(libc::E2BIG));
        assert!(
            too_many.text.contains("at most 64 BPF programs"),
            "{too_many}"
        );
        let mid = Reason::os("attaching", &std::io::Error::from_raw_os_error(ENOTSUPP));
        assert!(mid.text.contains("inside an instruction"), "{mid}");
        let plain = Reason::os(
            "attaching",
            &std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(
            plain.text,
            "attaching: No such file or directory (os error 2)"
        );
    }
}

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
        Reason {
            text: format!("{step}: {e}"),
            errno: e.raw_os_error(),
        }
    }
}

impl From<&libbpf_rs::Error> for Reason {
    fn from(e: &libbpf_rs::Error) -> Reason {
        Reason {
            text: format!("{e:#}"),
            errno: crate::error::libbpf_errno(e),
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
}

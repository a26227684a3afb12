//! Errors of loading, attaching and reading BPF programs. Each keeps the
//! error it came from (libbpf's, or the system call's) as its source, so
//! the CLI can tell EPERM from ENOENT and choose the exit code and the
//! hint; the text says what failed.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::attach::Skipped;

#[derive(Debug, Error)]
pub enum BpfError {
    #[error(
        "rtools needs root, or the CAP_BPF and CAP_PERFMON capabilities (and CAP_SYS_ADMIN to \
         read other processes' files): run it with sudo"
    )]
    NotPrivileged,
    #[error("loading the BPF programs failed")]
    Load(#[source] libbpf_rs::Error),
    #[error("loading the BPF program for {what} failed")]
    LoadFor {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("attaching to {what} failed")]
    AttachFor {
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("cannot attach to any {what}: {}", list(skipped))]
    NothingAttached {
        what: &'static str,
        skipped: Vec<Skipped>,
    },
    /// Every kernel backend failed; one reason per backend tried.
    #[error("cannot attach to any kernel function: {}", failures.join("; "))]
    NoKernelBackend { failures: Vec<String> },
    #[error("interrupted while attaching; nothing was traced")]
    Interrupted,
    #[error("reading the BPF map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("opening the cgroup {}", dir.display())]
    Cgroup {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn list(skipped: &[Skipped]) -> String {
    skipped
        .iter()
        .map(Skipped::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl BpfError {
    /// The errno the kernel answered with, where the error came from it.
    pub fn errno(&self) -> Option<i32> {
        match self {
            BpfError::Load(e)
            | BpfError::AttachFor { source: e, .. }
            | BpfError::Map { source: e, .. } => libbpf_errno(e),
            BpfError::LoadFor { source, .. } | BpfError::Cgroup { source, .. } => {
                source.raw_os_error()
            }
            BpfError::NothingAttached { skipped, .. } => {
                skipped.iter().find_map(|s| s.reason.errno)
            }
            _ => None,
        }
    }
}

/// The errno behind a libbpf error, as far as its kind tells (libbpf-rs
/// keeps the system call's error inside, not in the source chain).
pub(crate) fn libbpf_errno(e: &libbpf_rs::Error) -> Option<i32> {
    use libbpf_rs::ErrorKind as K;
    let errno = match e.kind() {
        K::NotFound => libc::ENOENT,
        K::PermissionDenied => libc::EPERM,
        K::AlreadyExists => libc::EEXIST,
        K::WouldBlock => libc::EAGAIN,
        K::InvalidInput => libc::EINVAL,
        K::Unsupported => libc::EOPNOTSUPP,
        K::OutOfMemory => libc::ENOMEM,
        K::Interrupted => libc::EINTR,
        K::TooBig => libc::E2BIG,
        _ => return None,
    };
    Some(errno)
}

/// A map error of `map`, for `map_err`.
pub(crate) fn map_error(map: &'static str) -> impl Fn(libbpf_rs::Error) -> BpfError {
    move |source| BpfError::Map { map, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::Reason;

    #[test]
    fn errors_keep_the_kernels_answer() {
        let denied = libbpf_rs::Error::from(io::Error::from_raw_os_error(libc::EPERM));
        let load = BpfError::Load(denied);
        assert_eq!(load.errno(), Some(libc::EPERM));
        assert_eq!(load.to_string(), "loading the BPF programs failed");
        assert!(std::error::Error::source(&load).is_some());
        let missing = libbpf_rs::Error::from(io::Error::from_raw_os_error(libc::ENOENT));
        let map = map_error("counts")(missing);
        assert_eq!(map.errno(), Some(libc::ENOENT));
        assert_eq!(map.to_string(), "reading the BPF map counts");
        let skipped = Skipped {
            target: "a".into(),
            kind: "uprobe",
            reason: Reason {
                text: "no".into(),
                errno: Some(libc::EINVAL),
            },
        };
        let none = BpfError::NothingAttached {
            what: "probe",
            skipped: vec![skipped.clone(), skipped],
        };
        assert_eq!(none.errno(), Some(libc::EINVAL));
        assert_eq!(
            none.to_string(),
            "cannot attach to any probe: skipped a (uprobe): no; skipped a (uprobe): no"
        );
        let backends = BpfError::NoKernelBackend {
            failures: vec!["kprobe: x".into(), "fentry: y".into()],
        };
        assert_eq!(
            backends.to_string(),
            "cannot attach to any kernel function: kprobe: x; fentry: y"
        );
        assert_eq!(backends.errno(), None);
    }
}

//! Multi links (kprobe.multi, uprobe.multi): one link for many targets,
//! split in halves when the kernel refuses a batch for one bad target.

use rtools_core::targets::Target;

use super::{Attached, Reason, Stop};
use crate::links::Attachment;

/// Links made by [`attach_split`], each with the slots it covers, and the
/// slots no link would take.
pub(super) struct Split {
    links: Vec<(Attachment, Vec<usize>)>,
    refused: Vec<(usize, Reason)>,
}

/// A refused multi link: why, and whether the mechanism itself is missing
/// (EOPNOTSUPP) rather than one of the targets bad.
pub(super) struct MultiError {
    unsupported: bool,
    reason: Reason,
}

impl From<libbpf_rs::Error> for MultiError {
    fn from(e: libbpf_rs::Error) -> MultiError {
        MultiError {
            unsupported: e.kind() == libbpf_rs::ErrorKind::Unsupported,
            reason: Reason::from(&e),
        }
    }
}

impl From<std::io::Error> for MultiError {
    fn from(e: std::io::Error) -> MultiError {
        MultiError {
            unsupported: e.kind() == std::io::ErrorKind::Unsupported,
            reason: Reason {
                text: e.to_string(),
                errno: e.raw_os_error(),
            },
        }
    }
}

/// Attaches `slots` through one multi link (kprobe.multi, uprobe.multi).
/// The kernel refuses a whole link for one bad target, so a refused batch
/// is split in halves until the bad targets are found; the rest still get
/// few links. Fails when the mechanism itself is missing: EOPNOTSUPP, or
/// no target attached at all.
pub(super) fn attach_split(
    slots: &[usize],
    stop: &Stop,
    attach: impl Fn(&[usize]) -> Result<Attachment, MultiError>,
) -> Result<Split, SplitError> {
    let mut split = Split {
        links: Vec::new(),
        refused: Vec::new(),
    };
    let mut first_error = None;
    let mut pending = vec![slots.to_vec()];
    while let Some(batch) = pending.pop() {
        if stop.check().is_err() {
            return Err(SplitError::Interrupted);
        }
        match attach(&batch) {
            Ok(link) => split.links.push((link, batch)),
            Err(e) if e.unsupported => return Err(SplitError::Unsupported(e.reason)),
            Err(e) if batch.len() == 1 => {
                first_error.get_or_insert_with(|| e.reason.clone());
                split.refused.push((batch[0], e.reason));
            }
            Err(e) => {
                first_error.get_or_insert(e.reason);
                let (a, b) = batch.split_at(batch.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            }
        }
    }
    if split.links.is_empty() {
        return Err(SplitError::Unsupported(
            first_error.unwrap_or_else(|| Reason::from("nothing to attach")),
        ));
    }
    Ok(split)
}

/// Why [`attach_split`] attached nothing.
pub(super) enum SplitError {
    /// The mechanism is missing, or every target was refused.
    Unsupported(Reason),
    Interrupted,
}

impl Attached {
    /// Records the links and refusals of [`attach_split`].
    pub(super) fn split(&mut self, targets: &[Target], split: Split, how: &str) {
        for (link, slots) in split.links {
            self.link(link);
            for slot in slots {
                self.planned(slot, &targets[slot], how);
            }
        }
        for (slot, reason) in split.refused {
            self.skipped(&targets[slot], reason);
        }
    }
}

//! Perf events (software, hardware, profile timers): one event per online
//! CPU, opened for every task there, each running the program when it
//! overflows; a link each. Filters by process stay in the program, as
//! bpftrace does: per-task events would miss the threads a process starts
//! after attach.

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{PerfEventOpts, ProgramMut};
use rtools_core::perf_events::{PerfEvent, Sampling};
use rtools_core::targets::Target;

use super::plan::Reason;
use super::{Attached, NOT_FOR_THIS_TOOL};
use crate::links::Attachment;

/// Attaches `prog` to `event` on every online CPU with `slot` as cookie.
pub(super) fn attach_perf(
    prog: Option<&ProgramMut<'_>>,
    slot: usize,
    target: &Target,
    event: &PerfEvent,
    out: &mut Attached,
) {
    let Some(prog) = prog else {
        out.skipped(target, NOT_FOR_THIS_TOOL);
        return;
    };
    let cpus = match online_cpus() {
        Ok(cpus) => cpus,
        Err(e) => {
            out.skipped(
                target,
                Reason::os("reading /sys/devices/system/cpu/online", &e),
            );
            return;
        }
    };
    let opts = || PerfEventOpts {
        cookie: slot as u64,
        ..Default::default()
    };
    // All CPUs or none: a target counted on some CPUs only would mislead.
    let mut links = Vec::with_capacity(cpus.len());
    for &cpu in &cpus {
        let fd = match open(event, cpu) {
            Ok(fd) => fd,
            Err(e) => {
                out.skipped(
                    target,
                    Reason::os(&format!("opening the event on CPU {cpu}"), &e),
                );
                return;
            }
        };
        // The link owns the event from here: libbpf closes it at detach.
        let raw = fd.into_raw_fd();
        match prog.attach_perf_event_with_opts(raw, opts()) {
            Ok(link) => links.push(link),
            Err(e) => {
                // SAFETY: the attach failed, so the fd is still ours alone.
                drop(unsafe { OwnedFd::from_raw_fd(raw) });
                out.skipped(target, &e);
                return;
            }
        }
    }
    for link in links {
        out.link(Attachment::Libbpf(link));
    }
    out.planned(slot, target, format!("perf event on {} CPUs", cpus.len()));
}

/// perf_event_open for every task on `cpu`.
fn open(event: &PerfEvent, cpu: u32) -> io::Result<OwnedFd> {
    // SAFETY: perf_event_attr is plain data; all zeroes is its default.
    let mut attr: libbpf_sys::perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = event.kind.perf_type();
    attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
    attr.config = event.config;
    match event.sampling {
        Sampling::Every(n) => attr.__bindgen_anon_1.sample_period = n,
        Sampling::Frequency(hz) => {
            attr.__bindgen_anon_1.sample_freq = hz;
            attr.set_freq(1);
        }
    }
    // SAFETY: attr is a valid perf_event_attr of the size it says; pid -1
    // with a cpu is every task on it; no group.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            libbpf_sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The online CPUs, from the kernel's list (`0-3,5`).
fn online_cpus() -> io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    cpu_list(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, text.trim().to_string()))
}

fn cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        match part.split_once('-') {
            Some((from, to)) => cpus.extend(from.parse::<u32>().ok()?..=to.parse::<u32>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_as_the_kernel_writes_them() {
        assert_eq!(cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(cpu_list("0"), Some(vec![0]));
        assert_eq!(cpu_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(cpu_list(""), None);
        assert_eq!(cpu_list("a-b"), None);
        assert!(!online_cpus().unwrap().is_empty());
    }
}

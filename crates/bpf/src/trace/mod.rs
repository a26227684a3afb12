//! trace's loader: compiles each probe's programs (rtools-core's trace
//! compiler), packs them into one ELF object that libbpf loads
//! ([`object`]), attaches each group of targets through attach/ like the
//! other tools, and hands the ring buffer's records to the tool.
//!
//! Targets of a probe whose programs come out the same share them (a
//! group); the record's first field names the group, its cookie the
//! target within it.

mod compile;
pub mod kernel_params;
mod maps;
mod object;

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use libbpf_rs::{ObjectBuilder, ProgramMut, RingBuffer, RingBufferBuilder};
use rtools_core::spec::ProbeSpec;
use rtools_core::targets::usdt_sites;
use rtools_core::targets::{Attach, Target};
use rtools_core::trace::codegen::{self, Collect, Filters};
use rtools_core::trace::event::Layout;
use rtools_core::trace::insn::Insn;
use rtools_core::trace::parsed::Parsed;
use rtools_core::trace::{usdt_args, ProbeError};

use crate::attach::{self, AttachOptions, Attached, Backend, Programs};
use crate::error::{map_error, BpfError};
use crate::kernel_probes;
use compile::{Env, Kind, Place};
use kernel_params::KernelParams;
use maps::Maps;

/// One probe of the command line: read, and resolved to its targets.
pub struct Probe<'a> {
    pub parsed: &'a Parsed,
    pub spec: &'a ProbeSpec,
    pub targets: &'a [Target],
}

/// How trace runs, besides its probes.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// `-p`: kernel probes and tracepoints check it in the kernel, uprobes
    /// filter as they attach.
    pub pid: Option<u32>,
    /// `-L`.
    pub tid: Option<u32>,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `-S`: trace's own events too.
    pub include_self: bool,
    pub cgroup: Option<PathBuf>,
    /// `-Z`: bytes kept of each string.
    pub string_size: usize,
    pub kernel_stack: bool,
    pub user_stack: bool,
    /// `-b`: pages of ring buffer.
    pub pages: u32,
    pub attach: AttachOptions,
    /// The tracefs mount, where tracepoints' formats are.
    pub tracefs: Option<PathBuf>,
    /// The header fields the tool shows (the others cost nothing).
    pub collect: Collect,
}

/// Targets of one probe that share programs.
#[derive(Debug, Clone)]
pub struct Group {
    /// Which probe of the command line.
    pub probe: usize,
    /// Its targets' names, by slot (the cookie).
    pub names: Vec<String>,
}

/// A loaded and attached trace: its records come through the ring buffer
/// to the callback the tool gave.
pub struct Tracer {
    /// Each record's first field indexes it.
    pub groups: Vec<Group>,
    /// The records' layout, by probe.
    pub layouts: Vec<Layout>,
    /// The generated programs, for -v: (symbol, instructions).
    pub listing: Vec<(String, Vec<Insn>)>,
    attached: Attached,
    ring: RingBuffer<'static>,
    maps: Maps,
    /// Per probe with many syscall tracepoints, their programs by key.
    _prog_arrays: Vec<libbpf_rs::MapHandle>,
    _object: libbpf_rs::Object,
}

/// A program the object should hold but does not (a bug, not the input's
/// fault): a load error naming it.
fn missing(name: &str) -> BpfError {
    BpfError::Load(libbpf_rs::Error::from(std::io::Error::other(format!(
        "no program {name} in the generated object"
    ))))
}

/// A probe's raw_syscalls program (it names its program array in its
/// code): which object program, which direction.
struct Dispatcher {
    program: String,
    exit: bool,
}

impl Tracer {
    /// Compiles, loads and attaches every probe; each record goes to
    /// `on_record` while the tool takes them ([`Tracer::take`]).
    pub fn start(
        probes: &[Probe<'_>],
        config: &TraceConfig,
        on_record: impl FnMut(&[u8]) -> i32 + 'static,
    ) -> Result<Tracer, TraceStartError> {
        let maps = Maps::create(config.pages.max(1), config.cgroup.as_deref())?;
        let kernel = probes
            .iter()
            .any(|p| matches!(p.spec, ProbeSpec::Kernel { .. }))
            .then(KernelParams::load)
            .flatten();
        let env = Env {
            kernel: kernel.as_ref(),
            tracefs: config.tracefs.as_deref(),
            filters: Filters {
                tgid: None,
                tid: config.tid,
                uid: config.uid,
                not_tgid: (!config.include_self).then(std::process::id),
                cgroup_map: maps.cgroup_fd(),
            },
            pid: config.pid,
            events_map: maps.events_fd(),
            lost_map: maps.lost_fd(),
            // An eighth full: the reader wakes well before records are lost.
            wake_at: maps.events_size() / 8,
            collect: config.collect,
        };
        let mut groups = Vec::new();
        let mut group_targets: Vec<Vec<Target>> = Vec::new();
        let mut prog_arrays = Vec::new();
        let mut dispatchers: Vec<Dispatcher> = Vec::new();
        // (group, key in its probe's array, which array)
        let mut syscall_groups: Vec<(usize, u32, usize)> = Vec::new();
        let mut programs: Vec<object::Program> = Vec::new();
        let mut layouts = Vec::new();
        for (index, probe) in probes.iter().enumerate() {
            let parsed = probe.parsed;
            let err = |m: String| TraceStartError::Probe(ProbeError::new(&parsed.raw, m));
            let layout = Layout::new(
                &parsed.slots(config.string_size),
                config.kernel_stack,
                config.user_stack,
            );
            let ret = matches!(
                probe.spec,
                ProbeSpec::Kernel { ret: true, .. } | ProbeSpec::User { ret: true, .. }
            );
            let places = places(probe, parsed).map_err(err)?;
            let inside = |p: &Place| matches!(p.target.attach, Attach::Kernel { offset: 1.., .. });
            let backend = config.attach.backend;
            if matches!(backend, Backend::Fentry | Backend::KprobeMulti)
                && places.iter().any(inside)
            {
                return Err(err(format!(
                    "--backend {backend} attaches at a function's entry only: an offset into \
                     a function needs a kprobe (--backend kprobe or auto)"
                )));
            }
            // Targets whose programs come out the same share them; but a
            // shared raw tracepoint program reads its cookie, which raw
            // tracepoints carry only on some kernels: elsewhere each has
            // its own program.
            let share_raw = kernel_probes::raw_tracepoint_cookies();
            let mut by_code: BTreeMap<_, Vec<usize>> = BTreeMap::new();
            for (i, place) in places.iter().enumerate() {
                let code = compile::variants(parsed, ret, place, &layout, 0, false, &env)
                    .map_err(|m| err(at_target(&m, &place.target, places.len())))?;
                let raw = code.iter().any(|(kind, _)| *kind == Kind::RawTracepoint);
                let alone = place.syscall.is_some() || (!share_raw && raw);
                let key = (fingerprint(&code), alone.then_some(i));
                by_code.entry(key).or_default().push(i);
            }
            // The probe's program array and dispatchers, before the
            // programs that name the array.
            let wants = |exit: bool| places.iter().any(|p| p.syscall == Some(exit));
            if wants(false) || wants(true) {
                let array = maps::prog_array(2 * attach::SYSCALL_NR_MAX)?;
                for exit in [false, true].into_iter().filter(|&e| wants(e)) {
                    let insns = codegen::syscall_dispatcher(
                        exit,
                        array.as_fd().as_raw_fd(),
                        attach::SYSCALL_NR_MAX,
                    );
                    let name = format!("d{index}_{}", if exit { "exit" } else { "enter" });
                    programs.push(object::Program {
                        name: name.clone(),
                        section: "raw_tp",
                        insns,
                    });
                    dispatchers.push(Dispatcher {
                        program: name,
                        exit,
                    });
                }
                prog_arrays.push(array);
            }
            for members in by_code.into_values() {
                let id = groups.len() as u32;
                if let Some(key) = places[members[0]]
                    .syscall
                    .and_then(|_| syscall_key(&places[members[0]].target))
                {
                    syscall_groups.push((id as usize, key.1, prog_arrays.len() - 1));
                }
                let single = members.len() == 1;
                let code =
                    compile::variants(parsed, ret, &places[members[0]], &layout, id, single, &env)
                        .map_err(err)?;
                for (kind, insns) in code {
                    programs.push(object::Program {
                        name: format!("g{id}_{}", kind.tag()),
                        section: kind.section(),
                        insns,
                    });
                }
                let targets: Vec<Target> =
                    members.iter().map(|&m| places[m].target.clone()).collect();
                groups.push(Group {
                    probe: index,
                    names: targets.iter().map(|t| t.name.clone()).collect(),
                });
                group_targets.push(targets);
            }
            layouts.push(layout);
        }
        let listing = programs
            .iter()
            .map(|p| (p.name.clone(), p.insns.clone()))
            .collect();
        let elf = object::elf(&programs);
        let object = ObjectBuilder::default()
            .open_memory(&elf)
            .and_then(|open| open.load())
            .map_err(BpfError::Load)?;
        let progs: Vec<ProgramMut<'_>> = object.progs_mut().collect();
        let named = |name: &str| progs.iter().find(|p| p.name().to_str() == Some(name));
        let mut attached = Attached::default();
        // Syscall tracepoints: their programs in the arrays, then the
        // dispatchers attached to raw_syscalls.
        for &(id, key, array) in &syscall_groups {
            let name = format!("g{id}_{}", Kind::RawSyscall.tag());
            let prog = named(&name).ok_or_else(|| missing(&name))?;
            maps::set_program(&prog_arrays[array], key, prog.as_fd().as_raw_fd())?;
        }
        for d in &dispatchers {
            let prog = named(&d.program).ok_or_else(|| missing(&d.program))?;
            let link = attach::attach_raw_syscalls(prog, d.exit)?;
            attached.link(crate::links::Attachment::Libbpf(link));
        }
        for &(id, _, _) in &syscall_groups {
            attached.planned(0, &group_targets[id][0], "raw_syscalls, a tail call");
        }
        for (id, targets) in group_targets.iter().enumerate() {
            if syscall_groups.iter().any(|&(g, _, _)| g == id) {
                continue;
            }
            let find = |kind: Kind| {
                let name = format!("g{id}_{}", kind.tag());
                progs
                    .iter()
                    .find(|p| p.name().to_str() == Some(name.as_str()))
            };
            let group_progs = Programs {
                tracepoint: find(Kind::Tracepoint),
                raw_tracepoint: find(Kind::RawTracepoint),
                kprobe: find(Kind::Kprobe),
                kprobe_multi: find(Kind::KprobeMulti),
                tracing_template: find(Kind::FentryTemplate),
                uprobe: find(Kind::Uprobe),
                uprobe_multi: find(Kind::UprobeMulti),
                tracepoints_as_raw: true,
                ..Programs::default()
            };
            let got = attach::attach_all(&group_progs, targets, &config.attach)?;
            attached.merge(got);
        }
        drop(progs);
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&maps.events, on_record)
            .map_err(map_error("rt_events"))?;
        let ring = builder.build().map_err(map_error("rt_events"))?;
        Ok(Tracer {
            groups,
            layouts,
            listing,
            attached,
            ring,
            maps,
            _prog_arrays: prog_arrays,
            _object: object,
        })
    }

    pub fn attached(&self) -> &Attached {
        &self.attached
    }

    /// Readable when records wait in the ring buffer.
    pub fn events_fd(&self) -> RawFd {
        self.ring.epoll_fd()
    }

    /// Hands every waiting record to the callback.
    pub fn take(&self) -> Result<(), BpfError> {
        self.ring.consume().map_err(map_error("rt_events"))
    }

    /// Records that found the ring buffer full, since the start.
    pub fn lost(&self) -> Result<u64, BpfError> {
        self.maps.lost()
    }

    /// Detaches every probe; records already sent stay readable.
    pub fn stop(&mut self) -> Duration {
        self.attached.links.detach()
    }

    pub fn detach(mut self) -> Duration {
        self.stop()
    }
}

/// The targets of `probe` as they attach: USDT probes become their sites
/// (uprobes, with each site's arguments), user functions move by the
/// probe's `+offset`.
fn places(probe: &Probe<'_>, parsed: &Parsed) -> Result<Vec<Place>, String> {
    let offset = parsed.text.offset;
    let mut out = Vec::new();
    for target in probe.targets {
        match &target.attach {
            Attach::Usdt {
                binary,
                provider,
                name,
            } => {
                let sites = usdt_sites::sites(binary, provider, name).map_err(|e| e.to_string())?;
                for site in sites {
                    out.push(Place {
                        usdt: Some(usdt_args::parse(&site.args)?),
                        target: site.target,
                        syscall: None,
                    });
                }
            }
            Attach::Kernel { ret: true, .. } | Attach::Uprobe { ret: true, .. } if offset != 0 => {
                return Err(format!(
                    "+{offset:#x}: a return probe has no offset (it fires where the function \
                     returns): drop the offset, or probe p: at it"
                ))
            }
            Attach::Kernel { .. } | Attach::Uprobe { .. } if offset != 0 => {
                let mut t = target.clone();
                if let Attach::Kernel { offset: at, .. } | Attach::Uprobe { offset: at, .. } =
                    &mut t.attach
                {
                    *at += offset;
                }
                out.push(Place {
                    target: t,
                    usdt: None,
                    syscall: None,
                });
            }
            _ => out.push(Place {
                target: target.clone(),
                usdt: None,
                syscall: None,
            }),
        }
    }
    // Many syscall tracepoints: each reached from raw_syscalls through
    // its probe's dispatcher (two links to attach and detach, where a
    // perf tracepoint link each takes ~40 ms to close, one at a time).
    let syscalls: Vec<(usize, bool, u32)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, p)| syscall_key(&p.target).map(|(exit, key)| (i, exit, key)))
        .collect();
    if syscalls.len() >= attach::SYSCALL_TABLE_MIN {
        for (i, exit, _) in syscalls {
            out[i].syscall = Some(exit);
        }
    }
    Ok(out)
}

/// A `syscalls:sys_{enter,exit}_NAME` target's direction and key in its
/// probe's program array: the syscall's number, past SYSCALL_NR_MAX for
/// exits (as the counting tools' table).
fn syscall_key(target: &Target) -> Option<(bool, u32)> {
    let Attach::Tracepoint { category, event } = &target.attach else {
        return None;
    };
    if category != "syscalls" {
        return None;
    }
    let (exit, name) = match event.strip_prefix("sys_enter_") {
        Some(name) => (false, name),
        None => (true, event.strip_prefix("sys_exit_")?),
    };
    let nr = crate::syscalls::number(name).filter(|&nr| nr < attach::SYSCALL_NR_MAX)?;
    Some((
        exit,
        if exit {
            attach::SYSCALL_NR_MAX + nr
        } else {
            nr
        },
    ))
}

/// A program set as bytes, to tell targets with the same code apart from
/// the rest.
fn fingerprint(code: &[(Kind, Vec<Insn>)]) -> Vec<(Kind, Vec<u8>)> {
    code.iter()
        .map(|(k, insns)| (*k, insns.iter().flat_map(|i| i.to_bytes()).collect()))
        .collect()
}

/// A message about one of several targets names it.
fn at_target(message: &str, target: &Target, targets: usize) -> String {
    if targets > 1 {
        format!("at {}: {message}", target.name)
    } else {
        message.to_string()
    }
}

/// Why trace could not start: a probe at fault (the user's input), or the
/// machine.
#[derive(Debug, thiserror::Error)]
pub enum TraceStartError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Bpf(#[from] BpfError),
}

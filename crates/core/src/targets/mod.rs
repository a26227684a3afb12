//! Turns a probe specification into the concrete things to attach to, by
//! matching its patterns against what this machine really has (SPEC §2).

pub mod elf_file;
pub mod elf_funcs;
pub mod kernel;
pub mod libpath;
pub mod returns;
pub mod tracefs;
pub mod usdt_notes;
pub mod usdt_sites;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::pattern::{Matcher, PatternError};
use crate::perf_events::{PerfEvent, PerfKind};
use crate::spec::{KernelFlavor, ProbeSpec};
use elf_file::ElfFileError;
use returns::Returns;

/// One concrete attach point. Its index in the resolved list is its slot:
/// the BPF cookie that names it in the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the tools print: `vfs_read`, `sched:sched_switch`, `malloc`.
    pub name: String,
    pub attach: Attach,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    Kernel {
        func: String,
        module: Option<String>,
        ret: bool,
        flavor: KernelFlavor,
        /// Bytes into the function (trace's `func+0x12`): kprobes only.
        offset: u64,
    },
    Tracepoint {
        category: String,
        event: String,
    },
    RawTracepoint {
        event: String,
    },
    Uprobe {
        binary: PathBuf,
        offset: u64,
        func: String,
        ret: bool,
        /// Whether a return probe may go here (see [`returns`]).
        returns: Returns,
        /// A USDT site's semaphore, as a file offset (0: none): the kernel
        /// counts the probe's users there, so the program takes the
        /// probe's slow path only while traced.
        ref_ctr: u64,
    },
    Usdt {
        binary: PathBuf,
        provider: String,
        name: String,
    },
    /// A perf event on every CPU (software, hardware, profile).
    Perf(PerfEvent),
}

impl Attach {
    /// A short name of the attach kind, for plans and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attach::Kernel { ret: false, .. } => "kernel function",
            Attach::Kernel { ret: true, .. } => "kernel function return",
            Attach::Tracepoint { .. } => "tracepoint",
            Attach::RawTracepoint { .. } => "raw tracepoint",
            Attach::Uprobe { ret: false, .. } => "uprobe",
            Attach::Uprobe { ret: true, .. } => "uretprobe",
            Attach::Usdt { .. } => "USDT probe",
            Attach::Perf(PerfEvent {
                kind: PerfKind::Hardware,
                ..
            }) => "hardware event",
            Attach::Perf(_) => "software event",
        }
    }
}

#[derive(Debug, Error)]
pub enum ResolveError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("no {what} matches '{pattern}' (looked in {place})")]
    NoMatch {
        what: &'static str,
        pattern: String,
        place: String,
    },
    #[error("cannot find library or binary '{name}': {detail}")]
    Binary { name: String, detail: String },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot read the symbols of {path}: {detail}")]
    Symbols { path: PathBuf, detail: String },
    #[error(transparent)]
    File(#[from] ElfFileError),
    #[error(
        "tracefs is not mounted, or not readable by this user: as root, mount it with \
         'mount -t tracefs tracefs /sys/kernel/tracing' (CAP_BPF and CAP_PERFMON alone \
         cannot read it; run rtools as root)"
    )]
    NoTracefs,
    #[error(
        "'{event}' needs the CPU's performance counters, and this machine has none (no \
         PMU in /sys/bus/event_source/devices: virtual machines often get none): count \
         a software event, or sample with profile:hz:99"
    )]
    NoPmu { event: String },
}

impl ResolveError {
    /// True when the user's input is at fault (an unknown name, a bad
    /// pattern), false when the machine is (a file it could not read).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ResolveError::Pattern(_)
                | ResolveError::NoMatch { .. }
                | ResolveError::Binary { .. }
                | ResolveError::File(
                    ElfFileError::NotElf { .. }
                        | ElfFileError::Unsupported { .. }
                        | ElfFileError::Damaged { .. }
                )
        )
    }
}

/// What matching needs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// `-p`: look for libraries in this process's maps first.
    pub pid: Option<u32>,
    /// `-r`: patterns are regular expressions.
    pub use_regex: bool,
    /// The tracefs mount point, when there is one.
    pub tracefs: Option<PathBuf>,
    /// The tool also puts return probes on user functions: read DWARF for
    /// `noreturn` functions as well as the list of known names.
    pub return_probes: bool,
    /// Where the machine's files (/proc/kallsyms, the kprobe blacklist,
    /// the loader's cache and directories) are read: `/` when None; a
    /// fixture tree in tests.
    pub system_root: Option<PathBuf>,
}

impl Resolver {
    /// All targets matching `spec`, in a stable order. No match is an error
    /// that names the pattern and where it looked.
    pub fn resolve(&self, spec: &ProbeSpec) -> Result<Vec<Target>, ResolveError> {
        let targets = match spec {
            ProbeSpec::Kernel {
                ret,
                flavor,
                module,
                func,
            } => self.kernel(*ret, *flavor, module.as_deref(), func)?,
            ProbeSpec::Tracepoint { category, event } => self.tracepoints(category, event)?,
            ProbeSpec::RawTracepoint { event } => self.raw_tracepoints(event)?,
            ProbeSpec::User { ret, binary, func } => self.user(*ret, binary, func)?,
            ProbeSpec::Usdt {
                binary,
                provider,
                probe,
            } => self.usdt(binary, provider.as_deref(), probe)?,
            ProbeSpec::Perf(event) => self.perf(event)?,
        };
        Ok(targets)
    }

    /// Compiles every pattern of `spec` without looking at the machine, so
    /// a bad pattern is reported before anything that needs privileges.
    pub fn check_patterns(&self, spec: &ProbeSpec) -> Result<(), PatternError> {
        match spec {
            ProbeSpec::Kernel { func, module, .. } => {
                self.matcher(func)?;
                module.as_deref().map(Matcher::glob).transpose()?;
            }
            ProbeSpec::Tracepoint { category, event } => {
                self.matcher(category)?;
                self.matcher(event)?;
            }
            ProbeSpec::RawTracepoint { event } => {
                self.matcher(event)?;
            }
            ProbeSpec::User { func, .. } => {
                self.matcher(func)?;
            }
            ProbeSpec::Usdt {
                provider, probe, ..
            } => {
                provider.as_deref().map(|p| self.matcher(p)).transpose()?;
                self.matcher(probe)?;
            }
            ProbeSpec::Perf(_) => {}
        }
        Ok(())
    }

    /// A perf event is one target, sampled on every CPU; a hardware one
    /// needs the CPU's PMU (`cpu`, or `cpu_core`/`cpu_atom` on hybrid x86).
    fn perf(&self, event: &PerfEvent) -> Result<Vec<Target>, ResolveError> {
        if event.kind == PerfKind::Hardware {
            let pmu = ["cpu", "cpu_core", "cpu_atom"].iter().any(|name| {
                self.system_file(&format!("/sys/bus/event_source/devices/{name}"))
                    .exists()
            });
            if !pmu {
                return Err(ResolveError::NoPmu {
                    event: event.text.clone(),
                });
            }
        }
        Ok(vec![Target {
            name: event.text.clone(),
            attach: Attach::Perf(event.clone()),
        }])
    }

    fn matcher(&self, pattern: &str) -> Result<Matcher, PatternError> {
        Matcher::new(pattern, self.use_regex)
    }

    fn system_file(&self, path: &str) -> PathBuf {
        libpath::under(self.system_root(), path)
    }

    fn system_root(&self) -> &Path {
        self.system_root.as_deref().unwrap_or(Path::new("/"))
    }

    fn tracefs(&self) -> Result<&Path, ResolveError> {
        self.tracefs.as_deref().ok_or(ResolveError::NoTracefs)
    }

    fn kernel(
        &self,
        ret: bool,
        flavor: KernelFlavor,
        module: Option<&str>,
        func: &str,
    ) -> Result<Vec<Target>, ResolveError> {
        let matcher = self.matcher(func)?;
        let module_matcher = module.map(Matcher::glob).transpose()?;
        let tracefs = self.tracefs()?;
        let list = tracefs.join("available_filter_functions");
        let (mut funcs, place) = match fs::read_to_string(&list) {
            Ok(text) => (kernel::parse_filter_functions(&text), list),
            Err(_) => {
                let kallsyms = self.system_file("/proc/kallsyms");
                let text = read(&kallsyms)?;
                (kernel::parse_kallsyms(&text), kallsyms)
            }
        };
        for blacklist in [
            tracefs.join("../debug/kprobes/blacklist"),
            self.system_file("/sys/kernel/debug/kprobes/blacklist"),
        ] {
            if let Ok(text) = fs::read_to_string(blacklist) {
                let banned = kernel::parse_blacklist(&text);
                funcs.retain(|f| !banned.contains(&f.name));
                break;
            }
        }
        let targets: Vec<Target> = funcs
            .into_iter()
            .filter(|f| matcher.is_match(&f.name))
            .filter(|f| match (&module_matcher, &f.module) {
                (None, _) => true,
                (Some(m), Some(name)) => m.is_match(name),
                (Some(m), None) => m.is_match("vmlinux"),
            })
            .map(|f| Target {
                name: f.name.clone(),
                attach: Attach::Kernel {
                    func: f.name,
                    module: f.module,
                    ret,
                    flavor,
                    offset: 0,
                },
            })
            .collect();
        non_empty(
            targets,
            "kernel function",
            func,
            place.display().to_string(),
        )
    }

    fn available_events(&self) -> Result<(Vec<(String, String)>, PathBuf), ResolveError> {
        let path = self.tracefs()?.join("available_events");
        let text = read(&path)?;
        Ok((tracefs::parse_available_events(&text), path))
    }

    fn tracepoints(&self, category: &str, event: &str) -> Result<Vec<Target>, ResolveError> {
        let (cat_m, event_m) = (self.matcher(category)?, self.matcher(event)?);
        let (events, place) = self.available_events()?;
        let mut targets: Vec<Target> = events
            .into_iter()
            .filter(|(c, e)| cat_m.is_match(c) && event_m.is_match(e))
            .map(|(category, event)| Target {
                name: format!("{category}:{event}"),
                attach: Attach::Tracepoint { category, event },
            })
            .collect();
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        let pattern = format!("{category}:{event}");
        non_empty(targets, "tracepoint", &pattern, place.display().to_string())
    }

    fn raw_tracepoints(&self, event: &str) -> Result<Vec<Target>, ResolveError> {
        let matcher = self.matcher(event)?;
        let (events, place) = self.available_events()?;
        let mut names: Vec<String> = events
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| matcher.is_match(e))
            .collect();
        names.sort();
        names.dedup();
        let targets = names
            .into_iter()
            .map(|event| Target {
                name: event.clone(),
                attach: Attach::RawTracepoint { event },
            })
            .collect();
        non_empty(
            targets,
            "raw tracepoint",
            event,
            place.display().to_string(),
        )
    }

    fn binary(&self, name: &str) -> Result<PathBuf, ResolveError> {
        libpath::resolve(self.system_root(), name, self.pid).map_err(|detail| {
            ResolveError::Binary {
                name: name.to_string(),
                detail,
            }
        })
    }

    fn user(&self, ret: bool, binary: &str, func: &str) -> Result<Vec<Target>, ResolveError> {
        let matcher = self.matcher(func)?;
        let path = self.binary(binary)?;
        elf_file::check(&path)?;
        let noreturn = if self.return_probes {
            returns::dwarf_noreturn(&path)
        } else {
            Default::default()
        };
        // The file passed the ELF check: what its symbols' reader refuses
        // is damage (a bad section index, garbage tables), the input's
        // fault.
        let funcs =
            elf_funcs::functions(&path, |name| matcher.is_match(name), &noreturn).map_err(|e| {
                ResolveError::File(ElfFileError::Damaged {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })
            })?;
        let targets = funcs
            .into_iter()
            .map(|f| Target {
                name: f.name.clone(),
                attach: Attach::Uprobe {
                    binary: path.clone(),
                    offset: f.file_offset,
                    func: f.name,
                    ret,
                    returns: f.returns,
                    ref_ctr: 0,
                },
            })
            .collect();
        let place = format!("the symbol tables of {}", path.display());
        non_empty(targets, "function", func, place)
    }

    fn usdt(
        &self,
        binary: &str,
        provider: Option<&str>,
        probe: &str,
    ) -> Result<Vec<Target>, ResolveError> {
        let probe_m = self.matcher(probe)?;
        let provider_m = provider.map(|p| self.matcher(p)).transpose()?;
        let path = self.binary(binary)?;
        elf_file::check(&path)?;
        let notes = elf_file::sections(&path, &[usdt_notes::SECTION])?
            .pop()
            .flatten()
            .unwrap_or_default();
        let probes = usdt_notes::parse(&notes).map_err(|detail| ResolveError::Symbols {
            path: path.clone(),
            detail: detail.to_string(),
        })?;
        let targets = probes
            .into_iter()
            .filter(|p| probe_m.is_match(&p.name))
            .filter(|p| provider_m.as_ref().is_none_or(|m| m.is_match(&p.provider)))
            .map(|p| Target {
                name: p.name.clone(),
                attach: Attach::Usdt {
                    binary: path.clone(),
                    provider: p.provider,
                    name: p.name,
                },
            })
            .collect();
        let pattern = match provider {
            Some(p) => format!("{p}:{probe}"),
            None => probe.to_string(),
        };
        let place = format!("the .note.stapsdt notes of {}", path.display());
        non_empty(targets, "USDT probe", &pattern, place)
    }
}

fn non_empty(
    targets: Vec<Target>,
    what: &'static str,
    pattern: &str,
    place: String,
) -> Result<Vec<Target>, ResolveError> {
    if targets.is_empty() {
        Err(ResolveError::NoMatch {
            what,
            pattern: pattern.to_string(),
            place,
        })
    } else {
        Ok(targets)
    }
}

fn read(path: &Path) -> Result<String, ResolveError> {
    fs::read_to_string(path).map_err(|source| ResolveError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;

    /// The fixture system root (tests/fixtures/make.sh).
    fn fixture_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/root")
    }

    /// A resolver that sees only the fixture tree; `tracefs` is a
    /// directory under its sys/kernel/.
    fn fixture(tracefs: &str) -> Resolver {
        let root = fixture_root();
        Resolver {
            tracefs: Some(root.join("sys/kernel").join(tracefs)),
            system_root: Some(root),
            ..Resolver::default()
        }
    }

    fn names(r: &Resolver, spec: &str) -> Result<Vec<String>, String> {
        r.resolve(&parse(spec).unwrap())
            .map(|t| t.into_iter().map(|t| t.name).collect())
            .map_err(|e| e.to_string())
    }

    fn library() -> String {
        fixture_root()
            .join("opt/fixture/lib/libfixture.so.1")
            .display()
            .to_string()
    }

    #[test]
    fn kernel_functions_by_glob_regex_and_module() {
        let mut r = fixture("tracing");
        // Clones, CFI stubs, duplicates and blacklisted names are left out.
        assert_eq!(
            names(&r, "*").unwrap(),
            [
                "vfs_read",
                "vfs_write",
                "vfs_readv",
                "ext4_read",
                "ext4_file_open"
            ]
        );
        assert_eq!(names(&r, "vfs_read*").unwrap(), ["vfs_read", "vfs_readv"]);
        assert_eq!(
            names(&r, "kprobe:ext4:*").unwrap(),
            ["ext4_read", "ext4_file_open"]
        );
        assert_eq!(names(&r, "kprobe:vmlinux:*read").unwrap(), ["vfs_read"]);
        assert_eq!(names(&r, "kprobe:ext*:*read").unwrap(), ["ext4_read"]);
        r.use_regex = true;
        assert_eq!(
            names(&r, "^vfs_(read|write)$").unwrap(),
            ["vfs_read", "vfs_write"]
        );
        let err = names(&r, "nope").unwrap_err();
        assert!(
            err.starts_with("no kernel function matches 'nope' (looked in "),
            "{err}"
        );
        assert!(err.contains("available_filter_functions"), "{err}");
        let err = names(&r, "do_int3").unwrap_err();
        assert!(err.starts_with("no kernel function matches"), "{err}");
    }

    #[test]
    fn without_the_filter_list_kallsyms_text_symbols_are_used() {
        let r = fixture("tracing-without-filter-list");
        assert_eq!(
            names(&r, "*").unwrap(),
            ["_stext", "vfs_read", "vfs_write", "ext4_read"]
        );
        let err = names(&r, "nope").unwrap_err();
        assert!(err.contains("/proc/kallsyms)"), "{err}");
        let r = Resolver {
            system_root: Some(fixture_root().join("no-such-dir")),
            ..r
        };
        let err = names(&r, "*").unwrap_err();
        assert!(err.starts_with("cannot read "), "{err}");
        assert!(err.contains("kallsyms"), "{err}");
    }

    #[test]
    fn tracepoints_are_named_category_event() {
        let r = fixture("tracing");
        assert_eq!(
            names(&r, "t:sched:*").unwrap(),
            ["sched:sched_switch", "sched:sched_wakeup"]
        );
        assert_eq!(
            names(&r, "t:*:sys_enter_read").unwrap(),
            ["syscalls:sys_enter_read"]
        );
        assert_eq!(
            names(&r, "rawtracepoint:sched_s*").unwrap(),
            ["sched_switch"]
        );
        // One raw tracepoint per event name, whatever its categories.
        assert_eq!(
            names(&r, "rawtracepoint:sys_e*").unwrap(),
            ["sys_enter", "sys_enter_read", "sys_exit_read"]
        );
        let err = names(&r, "t:sched:nope").unwrap_err();
        assert!(
            err.starts_with("no tracepoint matches 'sched:nope'"),
            "{err}"
        );
        let err = names(&r, "rawtracepoint:nope").unwrap_err();
        assert!(err.starts_with("no raw tracepoint matches 'nope'"), "{err}");
    }

    #[test]
    fn missing_tracefs_is_explained() {
        let err = names(&Resolver::default(), "t:a:b").unwrap_err();
        assert!(err.contains("mount -t tracefs"), "{err}");
        let err = names(&Resolver::default(), "vfs_read").unwrap_err();
        assert!(err.contains("mount -t tracefs"), "{err}");
    }

    #[test]
    fn aliases_give_one_target_under_the_shortest_first_name() {
        let r = fixture("tracing");
        let spec = format!("{}:fixture_*", library());
        let targets = r.resolve(&parse(&spec).unwrap()).unwrap();
        let got: Vec<(&str, u64)> = targets
            .iter()
            .map(|t| match &t.attach {
                Attach::Uprobe { offset, .. } => (t.name.as_str(), *offset),
                other => panic!("{other:?}"),
            })
            .collect();
        // fixture_add, fixture_aaa, fixture_zzz and fixture_add_longer
        // are one function (nm: 0x10f9).
        assert_eq!(
            got,
            [
                ("fixture_aaa", 0x10f9),
                ("fixture_dies", 0x1104),
                ("fixture_other", 0x10ff)
            ]
        );
        // Only the names the pattern matches may name the function.
        let spec = format!("{}:fixture_add*", library());
        assert_eq!(names(&r, &spec).unwrap(), ["fixture_add"]);
        let spec = format!("{}:*longer", library());
        assert_eq!(
            names(&r, &spec).unwrap(),
            ["fixture_add_longer", "fixture_oa_longer"]
        );
        let err = names(&r, &format!("{}:no_such_function_xyz", library())).unwrap_err();
        assert!(
            err.contains("no function matches 'no_such_function_xyz'"),
            "{err}"
        );
    }

    #[test]
    fn libraries_by_name_come_from_the_system_root() {
        let r = fixture("tracing");
        assert_eq!(
            names(&r, "fixture:fixture_other").unwrap(),
            ["fixture_other"]
        );
        let err = names(&r, "nosuchlib_xyz:f").unwrap_err();
        assert!(
            err.starts_with("cannot find library or binary 'nosuchlib_xyz'"),
            "{err}"
        );
    }

    #[test]
    fn return_probes_know_how_each_function_returns() {
        let mut r = fixture("tracing");
        let spec = format!("r:{}:fixture_*", library());
        let returns = |r: &Resolver| -> Vec<(String, Returns)> {
            r.resolve(&parse(&spec).unwrap())
                .unwrap()
                .into_iter()
                .map(|t| match t.attach {
                    Attach::Uprobe { returns, ret, .. } => {
                        assert!(ret);
                        (t.name, returns)
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        // Without return probes DWARF is not read.
        assert!(returns(&r).iter().all(|(_, how)| *how == Returns::Normally));
        r.return_probes = true;
        let got = returns(&r);
        assert_eq!(
            got.iter().find(|(n, _)| n == "fixture_dies").unwrap().1,
            Returns::Never
        );
        assert_eq!(
            got.iter().find(|(n, _)| n == "fixture_aaa").unwrap().1,
            Returns::Normally
        );
    }

    #[test]
    fn usdt_probes_are_read_from_the_notes() {
        let r = fixture("tracing");
        let lib = library();
        assert_eq!(names(&r, &format!("u:{lib}:*")).unwrap(), ["add", "other"]);
        assert_eq!(
            names(&r, &format!("u:{lib}:fixture:ot*")).unwrap(),
            ["other"]
        );
        let err = names(&r, &format!("u:{lib}:nope:add")).unwrap_err();
        assert!(err.starts_with("no USDT probe matches 'nope:add'"), "{err}");
        // A file without notes: the miss names the file searched.
        let exe = fixture_root().join("../elf/elf32");
        let err = names(&r, &format!("u:{}:x", exe.display())).unwrap_err();
        assert!(err.contains("32-bit"), "{err}");
    }

    #[test]
    fn files_of_other_machines_are_refused() {
        let r = fixture("tracing");
        let dir = fixture_root().join("../elf");
        for (file, why) in [
            ("elf32", "a 32-bit ELF file"),
            ("big-endian", "a big-endian ELF file"),
        ] {
            let spec = format!("{}:*", dir.join(file).display());
            let err = r.resolve(&parse(&spec).unwrap()).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert!(err.is_usage(), "{err:?}");
        }
    }

    #[test]
    fn errors_of_the_machine_are_not_usage_errors() {
        let r = Resolver {
            system_root: Some(fixture_root().join("no-such-dir")),
            ..fixture("tracing-without-filter-list")
        };
        let err = r.resolve(&parse("vfs_read").unwrap()).unwrap_err();
        assert!(matches!(err, ResolveError::Read { .. }), "{err:?}");
        assert!(!err.is_usage());
        assert!(!ResolveError::NoTracefs.is_usage());
        let err = r.resolve(&parse("t:sched:nope").unwrap()).unwrap_err();
        assert!(err.is_usage(), "{err:?}");
        let err = r.resolve(&parse("nosuchlib_xyz:f").unwrap()).unwrap_err();
        assert!(err.is_usage(), "{err:?}");
    }

    #[test]
    fn attach_kinds_are_named() {
        let r = fixture("tracing");
        let kind = |spec: &str| {
            let targets = r.resolve(&parse(spec).unwrap()).unwrap();
            targets[0].attach.kind()
        };
        assert_eq!(kind("vfs_read"), "kernel function");
        assert_eq!(kind("r::vfs_read"), "kernel function return");
        assert_eq!(kind("t:sched:sched_switch"), "tracepoint");
        assert_eq!(kind("rawtracepoint:sched_switch"), "raw tracepoint");
        assert_eq!(kind(&format!("{}:fixture_other", library())), "uprobe");
        assert_eq!(kind(&format!("r:{}:fixture_other", library())), "uretprobe");
        assert_eq!(kind(&format!("u:{}:add", library())), "USDT probe");
    }

    #[test]
    fn bad_patterns_are_found_before_the_machine_is_read() {
        let r = Resolver {
            use_regex: true,
            ..Resolver::default()
        };
        for spec in [
            "vfs_(read",
            "kprobe:m:(",
            "t:sched:(",
            "t:(:x",
            "rawtracepoint:(",
            "/bin/true:(",
            "u:/bin/true:(",
            "u:/bin/true:(:x",
        ] {
            let spec = parse(spec).unwrap();
            assert!(r.check_patterns(&spec).is_err(), "{spec}");
        }
        assert!(r.check_patterns(&parse("vfs_read").unwrap()).is_ok());
    }

    #[test]
    fn perf_events_are_one_target_and_hardware_needs_a_pmu() {
        let r = fixture("tracing");
        let targets = r.resolve(&parse("s:faults:1").unwrap()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].name, "software:page-faults:1");
        assert_eq!(targets[0].attach.kind(), "software event");
        assert!(matches!(&targets[0].attach, Attach::Perf(e) if e.config == 2));
        assert_eq!(names(&r, "profile:hz:99").unwrap(), ["profile:hz:99"]);
        // The fixture machine has no PMU.
        let err = r.resolve(&parse("h:cycles").unwrap()).unwrap_err();
        assert!(!err.is_usage());
        assert!(
            err.to_string()
                .starts_with("'hardware:cpu-cycles:1000000' needs the CPU's performance counters"),
            "{err}"
        );
        // One with a hybrid core PMU has.
        let root = std::env::temp_dir().join(format!("rtools-pmu-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sys/bus/event_source/devices/cpu_core")).unwrap();
        let with_pmu = Resolver {
            system_root: Some(root.clone()),
            ..Resolver::default()
        };
        let targets = with_pmu.resolve(&parse("h:cycles").unwrap());
        std::fs::remove_dir_all(&root).unwrap();
        let targets = targets.unwrap();
        assert_eq!(targets[0].attach.kind(), "hardware event");
        assert!(r.check_patterns(&parse("s:cs").unwrap()).is_ok());
    }
}

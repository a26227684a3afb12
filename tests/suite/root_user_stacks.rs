//! stackcount --user-stacks on this machine's kernel: programs built
//! without frame pointers (as Debian builds its own), unwound from copies
//! of their stacks with the files' CFI; auto, which lets the kernel walk
//! the processes that keep frame pointers.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::c_programs::c_program;
use super::root_stackcount::{json_counts, stacks, Printed};
use super::support::{require_root, trace_command, Finished};

/// Calls of target through main -> path_a -> path_b -> path_c.
const CALLS: u64 = 1009;
const FOPENS: u64 = 1013;
const COLLECTS: u64 = 211;
/// Calls of target through the library late.c opens once traced.
const LATE_CALLS: u64 = 307;

/// The path to target, leaf first, as each mode should print it.
const WHOLE_PATH: [&str; 5] = ["target", "path_c", "path_b", "path_a", "main"];

/// nofp.c built as Debian builds its packages: optimized, no frame
/// pointers (symbols kept).
fn nofp() -> PathBuf {
    c_program("nofp")
}

/// fpstatic.c: static, no libc, frame pointers in every function.
fn fpstatic() -> PathBuf {
    c_program("fpstatic")
}

/// Runs `command` (a workload) under `stackcount ARGS` (`{pid}` replaced);
/// with `exit_first` the workload exits before rtools stops.
fn trace(command: Command, args: &[&str], exit_first: bool) -> Finished {
    let mut all = vec!["stackcount"];
    all.extend_from_slice(args);
    trace_command(command, &all, exit_first)
}

fn nofp_calls() -> Command {
    let mut c = Command::new(nofp());
    c.args(["calls", &CALLS.to_string()]);
    c
}

fn target_spec(program: &std::path::Path) -> String {
    format!("{}:target", program.display())
}

/// The one stack printed, which must hold every call.
fn only_stack(done: &Finished) -> Printed {
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 1, "{printed:#?}\n{}", done.stderr);
    printed.into_iter().next().unwrap()
}

fn assert_whole_path(stack: &Printed) {
    assert_eq!(&stack.frames[..5], WHOLE_PATH, "{stack:#?}");
    assert_eq!(
        stack.frames.last().map(String::as_str),
        Some("_start"),
        "{stack:#?}"
    );
    assert!(
        !stack.frames.iter().any(|f| f.starts_with('[')),
        "unknown or marker frames: {stack:#?}"
    );
}

#[test]
fn root_dwarf_unwinds_a_program_without_frame_pointers() {
    let _bpf = require_root!();
    let spec = target_spec(&nofp());
    // The kernel's frame-pointer walk: the caller put back at the entry,
    // then nothing (rbp holds data in this build).
    let fp = only_stack(&trace(nofp_calls(), &["-U", "-p", "{pid}", &spec], false));
    assert_eq!(fp.frames, ["target", "path_c"], "{fp:#?}");
    assert_eq!(fp.count, CALLS);

    let args = ["-U", "-p", "{pid}", "--user-stacks", "dwarf", &spec];
    let dwarf = only_stack(&trace(nofp_calls(), &args, false));
    assert_whole_path(&dwarf);
    // Through libc's start to the executable's entry.
    assert!(
        dwarf.frames.iter().any(|f| f.contains("libc_start")),
        "{dwarf:#?}"
    );
    assert_eq!(dwarf.count, CALLS);
}

#[test]
fn root_dwarf_stacks_fold_render_as_json_and_split_by_process() {
    let _bpf = require_root!();
    let spec = target_spec(&nofp());
    let folded = trace(
        nofp_calls(),
        &["-U", "-f", "--user-stacks", "dwarf", &spec],
        false,
    );
    let lines: Vec<&str> = folded.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", folded.stdout);
    assert!(lines[0].starts_with("nofp;"), "{}", lines[0]);
    assert!(
        lines[0].ends_with(&format!(";main;path_a;path_b;path_c;target {CALLS}")),
        "{}",
        lines[0]
    );

    let json = trace(
        nofp_calls(),
        &["-U", "--json", "--user-stacks", "dwarf", &spec],
        false,
    );
    let v: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    let all = v["stacks"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{v}");
    assert_eq!(all[0]["count"], CALLS, "{v}");
    let user: Vec<&str> = all[0]["user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(&user[..5], WHOLE_PATH, "{v}");
    assert_eq!(v["lost"], 0);

    let mut w = Command::new(nofp());
    w.args(["calls", &CALLS.to_string()]);
    let per_pid = trace(w, &["-U", "-P", "--user-stacks", "dwarf", &spec], true);
    let stack = only_stack(&per_pid);
    assert_whole_path(&stack);
    assert_eq!(stack.count, CALLS);
    // Without -p, and exited before the summary: still named.
    assert!(
        stack
            .process
            .as_deref()
            .is_some_and(|p| p.starts_with("nofp [")),
        "{stack:#?}"
    );
}

/// fopen's malloc, inside libc, which keeps no frame pointers: the path
/// from main through fopen's code (a tail call into __fopen_internal,
/// which libc6-dbg names) to malloc.
#[test]
fn root_dwarf_shows_fopen_above_malloc() {
    let _bpf = require_root!();
    let mut w = Command::new(nofp());
    w.args(["fopen", &FOPENS.to_string()]);
    let args = ["-U", "-p", "{pid}", "--user-stacks", "dwarf", "c:malloc"];
    let done = trace(w, &args, false);
    let printed = stacks(&done.stdout);
    let from_fopen: Vec<&Printed> = printed
        .iter()
        .filter(|p| p.frames.get(1).is_some_and(|f| f.contains("fopen")))
        .collect();
    assert_eq!(from_fopen.len(), 1, "{printed:#?}");
    let stack = from_fopen[0];
    assert!(stack.frames[0].contains("malloc"), "{stack:#?}");
    assert_eq!(&stack.frames[2..4], ["open_many", "main"], "{stack:#?}");
    assert_eq!(stack.frames.last().map(String::as_str), Some("_start"));
    assert_eq!(stack.count, FOPENS, "{printed:#?}");
}

/// A syscall tracepoint (a perf link, the kernel's context): the user
/// stack below the syscall, through libc's open to fopen and main.
#[test]
fn root_dwarf_unwinds_user_stacks_below_a_syscall() {
    let _bpf = require_root!();
    let mut w = Command::new(nofp());
    w.args(["fopen", &FOPENS.to_string()]);
    let args = [
        "-d",
        "-p",
        "{pid}",
        "--user-stacks",
        "dwarf",
        "t:syscalls:sys_enter_openat",
    ];
    let printed = stacks(&trace(w, &args, false).stdout);
    let stack = printed
        .iter()
        .find(|p| p.frames.iter().any(|f| f == "open_many"))
        .unwrap_or_else(|| panic!("no stack through open_many: {printed:#?}"));
    let user = &stack.frames[stack.frames.iter().position(|f| f == "--").unwrap() + 1..];
    assert!(user[0].contains("open"), "{stack:#?}");
    let from_fopen = user.iter().rposition(|f| f.contains("fopen")).unwrap();
    assert_eq!(
        user[from_fopen + 1..from_fopen + 3],
        ["open_many", "main"],
        "{stack:#?}"
    );
    assert_eq!(user.last().map(String::as_str), Some("_start"));
    assert_eq!(stack.count, FOPENS, "{printed:#?}");
}

/// late.c and the library it opens once traced (late_lib.c), both built
/// with frame pointers or both without.
fn late(frame_pointers: bool) -> Command {
    let tag = if frame_pointers { "fp" } else { "nofp" };
    let lib = c_program(&format!("late_lib_{tag}.so"));
    let exe = c_program(&format!("late_{tag}"));
    let mut c = Command::new(exe);
    c.arg(lib).arg(LATE_CALLS.to_string());
    c
}

/// The two stacks of late.c: target's one call before the library was
/// opened (the whole path), and the stack through the library.
fn late_stacks(done: &Finished) -> Printed {
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 2, "{printed:#?}\n{}", done.stderr);
    let before = printed
        .iter()
        .find(|p| p.count == 1)
        .expect("the first call");
    assert_eq!(&before.frames[..5], WHOLE_PATH, "{printed:#?}");
    let through = printed.iter().find(|p| p.count == LATE_CALLS);
    let through = through.unwrap_or_else(|| panic!("no {LATE_CALLS}: {printed:#?}"));
    let path = ["target", "late_inner", "late_outer", "main"];
    assert_eq!(&through.frames[..4], path, "{printed:#?}");
    through.clone()
}

/// A library opened after the process was set up from its mappings (at
/// its first event): its stacks leave the files set up, so its mappings
/// are read again and the stacks through the library are whole (and
/// named after the process exits).
#[test]
fn root_dwarf_unwinds_through_a_library_opened_after_the_first_event() {
    let _bpf = require_root!();
    let command = late(false);
    let spec = target_spec(Path::new(command.get_program()));
    let args = ["-U", "-P", "--user-stacks", "dwarf", &spec];
    let through = late_stacks(&trace(command, &args, true));
    assert_eq!(through.frames.last().map(String::as_str), Some("_start"));
    assert!(
        !through.frames.iter().any(|f| f.starts_with('[')),
        "unknown or marker frames: {through:#?}"
    );
}

/// The same with frame pointers, walked by the kernel: the library's
/// frames are named from the mappings read again at the summary.
#[test]
fn root_frame_pointer_stacks_name_a_library_opened_after_the_first_event() {
    let _bpf = require_root!();
    let command = late(true);
    let spec = target_spec(Path::new(command.get_program()));
    late_stacks(&trace(command, &["-U", "-p", "{pid}", &spec], false));
}

/// Calls of getppid after exec.c's exec.
const EXEC_CALLS: u64 = 401;

/// exec.c under `setarch -R` (libc where it was before the exec), its
/// first image running its second, built alike (non-PIE, no frame
/// pointers) with other code at the same addresses.
fn exec_workload() -> Command {
    let first = c_program("exec_first");
    let second = c_program("exec_second");
    let mut c = Command::new("setarch");
    c.args(["-R"])
        .arg(first)
        .arg("first")
        .arg(EXEC_CALLS.to_string());
    c.arg(second);
    c
}

/// A process first seen before it ran exec (a shell's child): its stacks
/// after the exec are unwound and named with its new image, though the
/// addresses fall where the old one's files were.
#[test]
fn root_dwarf_sets_a_process_up_again_after_it_runs_exec() {
    let _bpf = require_root!();
    let args = ["-U", "-p", "{pid}", "--user-stacks", "dwarf", "c:getppid"];
    let done = trace(exec_workload(), &args, false);
    let printed = stacks(&done.stdout);
    assert_eq!(printed.len(), 2, "{printed:#?}\n{}", done.stderr);
    let path = |p: &Printed| p.frames[1..4].to_vec();
    let before = printed
        .iter()
        .find(|p| p.count == 1)
        .expect("the first call");
    assert_eq!(path(before), ["ask", "before_exec", "main"], "{printed:#?}");
    let after = printed.iter().find(|p| p.count == EXEC_CALLS);
    let after = after.unwrap_or_else(|| panic!("no {EXEC_CALLS}: {printed:#?}"));
    assert_eq!(path(after), ["ask", "after_exec", "main"], "{printed:#?}");
    for stack in [before, after] {
        assert!(stack.frames[0].contains("getppid"), "{stack:#?}");
        assert_eq!(stack.frames.last().map(String::as_str), Some("_start"));
    }
}

/// A profile timer (NMI or timer interrupt in user code, anywhere in a
/// function): nearly every sample unwinds to _start.
#[test]
fn root_dwarf_profiles_a_program_without_frame_pointers() {
    let _bpf = require_root!();
    let mut w = Command::new(nofp());
    w.args(["spin", "1500"]);
    let args = [
        "-U",
        "-p",
        "{pid}",
        "--user-stacks",
        "dwarf",
        "profile:hz:199",
    ];
    let printed = stacks(&trace(w, &args, false).stdout);
    let total: u64 = printed.iter().map(|p| p.count).sum();
    let whole: u64 = printed
        .iter()
        .filter(|p| {
            p.frames.iter().any(|f| f == "main") && p.frames.last().is_some_and(|f| f == "_start")
        })
        .map(|p| p.count)
        .sum();
    // 1.5 s at 199 Hz on one CPU, give or take the start and the end.
    assert!((200..=330).contains(&total), "{total}: {printed:#?}");
    assert!(
        whole * 100 >= total * 95,
        "{whole} of {total}: {printed:#?}"
    );
    for p in &printed {
        assert!(
            !p.frames
                .iter()
                .any(|f| f == "[truncated: unwinding failed]"),
            "{p:#?}"
        );
    }
}

/// Debian's own CPython (no frame pointers): gc__start fired by
/// gc.collect(), unwound through the interpreter down to _start.
#[test]
fn root_dwarf_unwinds_debians_python() {
    let _bpf = require_root!();
    let python = "/usr/bin/python3.11";
    let script = "import gc, os, sys\n\
                  print('ready', os.getpid(), flush=True)\n\
                  sys.stdin.readline()\n\
                  gc.disable()\n\
                  for _ in range(int(sys.argv[1])):\n    gc.collect()\n\
                  print('done', flush=True)\n\
                  sys.stdin.read()\n";
    let mut w = Command::new(python);
    w.args(["-c", script, &COLLECTS.to_string()]);
    let spec = format!("u:{python}:gc__start");
    let args = ["-U", "-p", "{pid}", "--user-stacks", "dwarf", &spec];
    let done = trace(w, &args, false);
    let printed = stacks(&done.stdout);
    let total: u64 = printed.iter().map(|p| p.count).sum();
    assert_eq!(total, COLLECTS, "{printed:#?}");
    for p in &printed {
        for exported in ["_PyEval_EvalFrameDefault", "Py_RunMain", "Py_BytesMain"] {
            assert!(p.frames.iter().any(|f| f == exported), "{exported}: {p:#?}");
        }
        assert_eq!(
            p.frames.last().map(String::as_str),
            Some("_start"),
            "{p:#?}"
        );
        assert!(
            !p.frames.iter().any(|f| f.starts_with("[truncated")),
            "{p:#?}"
        );
    }
}

#[test]
fn root_auto_lets_the_kernel_walk_processes_with_frame_pointers() {
    let _bpf = require_root!();
    let program = fpstatic();
    let spec = target_spec(&program);
    let mut w = Command::new(&program);
    w.arg(CALLS.to_string());
    let args = ["-U", "-v", "-p", "{pid}", "--user-stacks", "auto", &spec];
    let done = trace(w, &args, false);
    assert!(
        done.stderr
            .contains("every mapped file keeps frame pointers: the kernel walks its stacks"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains(&format!(
            "0 user stacks unwound from copies, {CALLS} walked by the kernel"
        )),
        "{}",
        done.stderr
    );
    let stack = named(only_stack(&done));
    assert_eq!(
        stack.frames,
        ["target", "path_c", "path_b", "path_a", "main", "_start"],
        "{stack:#?}"
    );
    assert_eq!(stack.count, CALLS);

    // Debian's libc lacks them: copies, and whole stacks.
    let spec = target_spec(&nofp());
    let args = ["-U", "-v", "-p", "{pid}", "--user-stacks", "auto", &spec];
    let done = trace(nofp_calls(), &args, false);
    assert!(
        done.stderr
            .contains("lacks frame pointers: its stacks are unwound from copies"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains(&format!(
            "{CALLS} user stacks unwound from copies, 0 walked by the kernel"
        )),
        "{}",
        done.stderr
    );
    let stack = named(only_stack(&done));
    assert_whole_path(&stack);
    assert_eq!(stack.count, CALLS);
}

/// A stack printed with -v (`ADDRESS NAME` lines) by its names.
fn named(stack: Printed) -> Printed {
    let frames = stack
        .frames
        .iter()
        .map(|f| f.split_whitespace().last().unwrap_or("").to_string())
        .collect();
    Printed { frames, ..stack }
}

/// A stack deeper than the copy: the frames that fit, then the marker,
/// never a wrong frame; the largest copy holds it whole. Every call
/// counted either way.
#[test]
fn root_a_stack_deeper_than_the_copy_ends_in_a_marker() {
    let _bpf = require_root!();
    const DEEP: u64 = 101;
    let spec = target_spec(&nofp());
    let deep = || {
        let mut c = Command::new(nofp());
        c.args(["deep", &DEEP.to_string()]);
        c
    };
    let args = ["-U", "-p", "{pid}", "--user-stacks", "dwarf", &spec];
    let cut = only_stack(&trace(deep(), &args, false));
    assert_eq!(
        cut.frames.last().map(String::as_str),
        Some("[truncated: end of the stack copy]"),
        "{cut:#?}"
    );
    let unwound = &cut.frames[..cut.frames.len() - 1];
    assert_eq!(unwound[0], "target", "{cut:#?}");
    // 16 KiB of 200-byte frames: more than 40, fewer than the 100.
    assert!((40..100).contains(&unwound.len()), "{cut:#?}");
    assert!(unwound[1..].iter().all(|f| f == "descend"), "{cut:#?}");
    assert_eq!(cut.count, DEEP);

    let mut args = args.to_vec();
    args.splice(5..5, ["--stack-copy-size", "32768"]);
    let whole = only_stack(&trace(deep(), &args, false));
    let descents = whole.frames.iter().filter(|f| *f == "descend").count();
    assert_eq!(descents, 101, "{whole:#?}");
    assert_eq!(
        whole.frames.last().map(String::as_str),
        Some("_start"),
        "{whole:#?}"
    );
    assert!(whole.frames.iter().any(|f| f == "main"), "{whole:#?}");
    assert_eq!(whole.count, DEEP);
}

/// A flood of large copies into a ring buffer that holds three: what it
/// could not take is counted as lost, and counted plus lost is every call.
#[test]
fn root_copies_the_ring_buffer_cannot_take_are_counted() {
    let _bpf = require_root!();
    const FLOOD: u64 = 100_003;
    let spec = target_spec(&nofp());
    let mut w = Command::new(nofp());
    w.args(["calls", &FLOOD.to_string()]);
    let args = [
        "-U",
        "--json",
        "-p",
        "{pid}",
        "--user-stacks",
        "dwarf",
        "--stack-copy-size",
        "32768",
        "--copy-buffer-size",
        "131072",
        &spec,
    ];
    let done = trace(w, &args, false);
    let v: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    let counted: u64 = json_counts(&v).iter().sum();
    let lost = v["lost"].as_u64().unwrap();
    assert_eq!(counted + lost, FLOOD, "{v}");
    assert!(lost > 0 && counted > 0, "{v}");
    assert!(
        done.stderr
            .contains(&format!("{lost} copied stacks with the ring buffer full")),
        "{}",
        done.stderr
    );
}

/// Issue 25: `stackcount -D 2 --user-stacks dwarf c:malloc` ignored -D and
/// Ctrl-C: rtools' own mallocs while it unwound fed its probe, so the
/// buffer never drained. User probes leave rtools' own process out, in
/// the kernel, as BCC's trace does.
#[test]
fn root_user_probes_leave_rtools_own_process_out() {
    let _bpf = require_root!();
    use super::support::Tracer;
    use std::time::{Duration, Instant};
    let started = Instant::now();
    let t = Tracer::start(&[
        "stackcount",
        "-P",
        "-D",
        "2",
        "--user-stacks",
        "dwarf",
        "c:malloc",
    ]);
    let own = format!(" [{}]", t.pid());
    let done = t.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "-D 2 took {took:?}");
    assert!(
        !done.stdout.lines().any(|l| l.trim_end().ends_with(&own)),
        "rtools' own stacks counted:\n{}",
        done.stdout
    );
    let t = Tracer::start(&["funccount", "-P", "-d", "1", "c:malloc"]);
    let own = t.pid().to_string();
    let done = t.finish();
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(
        !done
            .stdout
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some(own.as_str())),
        "rtools' own calls counted:\n{}",
        done.stdout
    );
}

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rtools_global_optspecs
    string join \n V/version list check h/help
end

function __fish_rtools_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rtools_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rtools_using_subcommand
    set -l cmd (__fish_rtools_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rtools -n "__fish_rtools_needs_command" -s V -l version -d 'Print the version and the kernel features found'
complete -c rtools -n "__fish_rtools_needs_command" -l list -d 'List the tools'
complete -c rtools -n "__fish_rtools_needs_command" -l check -d 'Try every kind of probe and say what works here, and why not (+)'
complete -c rtools -n "__fish_rtools_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rtools -n "__fish_rtools_needs_command" -f -a "funccount" -d 'Count function calls, tracepoints and USDT probes'
complete -c rtools -n "__fish_rtools_needs_command" -f -a "stackcount" -d 'Count the call stacks that lead to events'
complete -c rtools -n "__fish_rtools_needs_command" -f -a "trace" -d 'Print a line for each event, with arguments'
complete -c rtools -n "__fish_rtools_needs_command" -f -a "funclatency" -d 'Time functions and print latency histograms'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s c -l cpu -d 'Trace this CPU only' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l by -d 'Group rows by this key as well as by function (+)' -r -f -a "comm\t'Process name'
pid\t'Process id (with its name)'
tid\t'Thread id (with its name)'
cpu\t'CPU number'
cgroup\t'cgroup v2, printed as its path (+)'"
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l top -d 'Show only the N most frequent rows (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l listen -d 'Serve Prometheus metrics at http://ADDR/metrics while tracing (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s d -l duration -d 'Total duration of trace, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s T -l timestamp -d 'Include timestamp on output'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s D -l debug -d 'Print the resolved attach plan before tracing (BCC: the BPF program)'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s P -l per-process -d 'One row per process name and pid (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s v -l verbose -d 'Print the attach plan, skipped targets and libbpf\'s messages (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -l json -d 'One JSON object per interval on stdout (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funccount" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s c -l cpu -d 'Trace this CPU only' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l flamegraph -d 'Write an SVG flame graph of all stacks to FILE at the end (+)' -r -F
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l stack-storage-size -d 'Number of stacks the stack map holds (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l max-depth -d 'Frames kept per stack, 1 to 127 (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l user-stacks -d 'How user stacks are walked: fp (frame pointers, in the kernel), dwarf (a copy of the stack, unwound from CFI), auto (dwarf where a mapped file lacks frame pointers) (+)' -r -f -a "fp\t''
dwarf\t''
auto\t''"
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l stack-copy-size -d 'Bytes of user stack copied per event with --user-stacks dwarf or auto, 8 to 32768, in whole pages from the stack pointer\'s (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l copy-buffer-size -d 'Bytes of the ring buffer that copied stacks go through, a power of two holding at least two copies; copies it has no room for are counted lost (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s D -l duration -d 'Total duration of trace, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s T -l timestamp -d 'Include timestamp on output'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s s -l offset -d 'Show address offsets'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s P -l perpid -d 'Display stacks separately for each process'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s K -l kernel-stacks-only -d 'Kernel stack only'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s U -l user-stacks-only -d 'User stack only'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s d -l delimited -d 'Insert delimiter between kernel/user stacks'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s f -l folded -d 'Output folded format'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l debug -d 'Print the resolved attach plan before tracing'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -l json -d 'One JSON object per interval on stdout (+)'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s v -l verbose -d 'Show raw addresses (and, on stderr, the attach plan)'
complete -c rtools -n "__fish_rtools_using_subcommand stackcount" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s b -l buffer-pages -d 'Pages of ring buffer for the events' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s L -l tid -d 'Trace this thread only' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -l uid -d 'Trace this user only' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s Z -l string-size -d 'Bytes read of each string' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s s -l sym_file_list -d 'Name user frames from these ELF files (separated by commas) where a mapped file has the same build id: an unstripped copy, a debug file' -r -F
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s M -l max-events -d 'Exit after printing this many events' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s n -l name -d 'Print events only of processes whose name contains NAME' -r
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s f -l msg-filter -d 'Print events only whose message contains MSG' -r
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s I -l include -d 'Accepted for BCC\'s command lines: rtools needs no headers (types come from BTF and tracefs)' -r
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s d -l duration -d 'Trace for this many seconds (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand trace" -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s c -l cgroup -l cgroup-path -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s S -l include-self -d 'Trace trace\'s own events too'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s B -l bin_cmp -d 'STRCMP\'s literal may be a C list of bytes, STRCMP("{0x6c, 0, 0, 0}", arg4): memory compared byte by byte, NULs included'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s t -l timestamp -d 'Print a time column: seconds since tracing started'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s u -l unix-timestamp -d 'With -t: seconds since the epoch instead'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s T -l time -d 'Print a time column: the clock, HH:MM:SS'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s C -l print_cpu -d 'Print the CPU'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s K -l kernel-stack -d 'Print the kernel stack of each event'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s U -l user-stack -d 'Print the user stack of each event'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s a -l address -d 'Print addresses in stacks'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s A -l aggregate -d 'Count identical events and print them with their counts at the end (needs -M)'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s v -l verbose -d 'Print the compiled BPF programs, the attach plan and libbpf\'s messages'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -l json -d 'One JSON object per event on stdout (+)'
complete -c rtools -n "__fish_rtools_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l listen -d 'Serve Prometheus metrics at http://ADDR/metrics while tracing (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l max-probes -d 'Refuse a pattern that matches more than N (default 1000 functions) (+)' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s l -l level -d 'Nesting levels to track (BCC); rtools always tracks 32' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s d -l duration -d 'Total duration of trace, seconds' -r -f
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s T -l timestamp -d 'Include timestamp on output'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s u -l microseconds -d 'Microsecond histogram'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s m -l milliseconds -d 'Millisecond histogram'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s F -l function -d 'Show a separate histogram per function'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l merge -d 'User functions: no section per process (BCC prints `Function = name [PID]` for each process unless -p is given) (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s v -l verbose -d 'Print the attach plan, skipped targets and libbpf\'s messages (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -l json -d 'One JSON object per interval on stdout (+)'
complete -c rtools -n "__fish_rtools_using_subcommand funclatency" -s h -l help -d 'Print help (see more with \'--help\')'

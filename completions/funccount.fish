complete -c funccount -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c funccount -s c -l cpu -d 'Trace this CPU only' -r -f
complete -c funccount -l by -d 'Group rows by this key as well as by function (+)' -r -f -a "comm\t'Process name'
pid\t'Process id (with its name)'
tid\t'Thread id (with its name)'
cpu\t'CPU number'
cgroup\t'cgroup v2, printed as its path (+)'"
complete -c funccount -l top -d 'Show only the N most frequent rows (+)' -r -f
complete -c funccount -l listen -d 'Serve Prometheus metrics at http://ADDR/metrics while tracing (+)' -r -f
complete -c funccount -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c funccount -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c funccount -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c funccount -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c funccount -s d -l duration -d 'Total duration of trace, seconds' -r -f
complete -c funccount -s T -l timestamp -d 'Include timestamp on output'
complete -c funccount -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c funccount -s D -l debug -d 'Print the resolved attach plan before tracing (BCC: the BPF program)'
complete -c funccount -s P -l per-process -d 'One row per process name and pid (+)'
complete -c funccount -s v -l verbose -d 'Print the attach plan, skipped targets and libbpf\'s messages (+)'
complete -c funccount -l json -d 'One JSON object per interval on stdout (+)'
complete -c funccount -s h -l help -d 'Print help (see more with \'--help\')'
complete -c funccount -s V -l version -d 'Print version'

complete -c funclatency -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c funclatency -l listen -d 'Serve Prometheus metrics at http://ADDR/metrics while tracing (+)' -r -f
complete -c funclatency -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c funclatency -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c funclatency -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c funclatency -l max-probes -d 'Refuse a pattern that matches more than N (default 1000 functions) (+)' -r -f
complete -c funclatency -s l -l level -d 'Nesting levels to track (BCC); rtools always tracks 32' -r -f
complete -c funclatency -s d -l duration -d 'Total duration of trace, seconds' -r -f
complete -c funclatency -s T -l timestamp -d 'Include timestamp on output'
complete -c funclatency -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c funclatency -s u -l microseconds -d 'Microsecond histogram'
complete -c funclatency -s m -l milliseconds -d 'Millisecond histogram'
complete -c funclatency -s F -l function -d 'Show a separate histogram per function'
complete -c funclatency -l merge -d 'User functions: no section per process (BCC prints `Function = name [PID]` for each process unless -p is given) (+)'
complete -c funclatency -s v -l verbose -d 'Print the attach plan, skipped targets and libbpf\'s messages (+)'
complete -c funclatency -l json -d 'One JSON object per interval on stdout (+)'
complete -c funclatency -s h -l help -d 'Print help (see more with \'--help\')'
complete -c funclatency -s V -l version -d 'Print version'

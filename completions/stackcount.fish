complete -c stackcount -s i -l interval -d 'Summary interval, seconds' -r -f
complete -c stackcount -s c -l cpu -d 'Trace this CPU only' -r -f
complete -c stackcount -l flamegraph -d 'Write an SVG flame graph of all stacks to FILE at the end (+)' -r -F
complete -c stackcount -l stack-storage-size -d 'Number of stacks the stack map holds (+)' -r -f
complete -c stackcount -l max-depth -d 'Frames kept per stack, 1 to 127 (+)' -r -f
complete -c stackcount -l user-stacks -d 'How user stacks are walked: fp (frame pointers, in the kernel), dwarf (a copy of the stack, unwound from CFI), auto (dwarf where a mapped file lacks frame pointers) (+)' -r -f -a "fp\t''
dwarf\t''
auto\t''"
complete -c stackcount -l stack-copy-size -d 'Bytes of user stack copied per event with --user-stacks dwarf or auto, 8 to 32768, in whole pages from the stack pointer\'s (+)' -r -f
complete -c stackcount -l copy-buffer-size -d 'Bytes of the ring buffer that copied stacks go through, a power of two holding at least two copies; copies it has no room for are counted lost (+)' -r -f
complete -c stackcount -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c stackcount -l cgroup -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c stackcount -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c stackcount -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c stackcount -s D -l duration -d 'Total duration of trace, seconds' -r -f
complete -c stackcount -s T -l timestamp -d 'Include timestamp on output'
complete -c stackcount -s r -l regexp -d 'Use regular expressions. Default is "*" wildcards only'
complete -c stackcount -s s -l offset -d 'Show address offsets'
complete -c stackcount -s P -l perpid -d 'Display stacks separately for each process'
complete -c stackcount -s K -l kernel-stacks-only -d 'Kernel stack only'
complete -c stackcount -s U -l user-stacks-only -d 'User stack only'
complete -c stackcount -s d -l delimited -d 'Insert delimiter between kernel/user stacks'
complete -c stackcount -s f -l folded -d 'Output folded format'
complete -c stackcount -l debug -d 'Print the resolved attach plan before tracing'
complete -c stackcount -l json -d 'One JSON object per interval on stdout (+)'
complete -c stackcount -s v -l verbose -d 'Show raw addresses (and, on stderr, the attach plan)'
complete -c stackcount -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stackcount -s V -l version -d 'Print version'

complete -c trace -s b -l buffer-pages -d 'Pages of ring buffer for the events' -r -f
complete -c trace -s L -l tid -d 'Trace this thread only' -r -f
complete -c trace -l uid -d 'Trace this user only' -r -f
complete -c trace -s Z -l string-size -d 'Bytes read of each string' -r -f
complete -c trace -s s -l sym_file_list -d 'Name user frames from these ELF files (separated by commas) where a mapped file has the same build id: an unstripped copy, a debug file' -r -F
complete -c trace -s M -l max-events -d 'Exit after printing this many events' -r -f
complete -c trace -s n -l name -d 'Print events only of processes whose name contains NAME' -r
complete -c trace -s f -l msg-filter -d 'Print events only whose message contains MSG' -r
complete -c trace -s I -l include -d 'Accepted for BCC\'s command lines: rtools needs no headers (types come from BTF and tracefs)' -r
complete -c trace -s d -l duration -d 'Trace for this many seconds (+)' -r -f
complete -c trace -s p -l pid -d 'Trace this PID only' -r -f -a '(__fish_complete_pids)'
complete -c trace -l max-probes -d 'Refuse a pattern that matches more than N (default 10000 probes) (+)' -r -f
complete -c trace -l backend -d 'How to attach kernel functions (+)' -r -f -a "auto\t'The fastest this kernel supports: kprobe-multi, else fentry, else kprobe'
kprobe-multi\t'One kprobe.multi link for all functions (needs CONFIG_FPROBE)'
fentry\t'BPF trampolines (fentry/fexit; needs BTF)'
kprobe\t'One kprobe per function'"
complete -c trace -s c -l cgroup -l cgroup-path -d 'Trace only tasks in this cgroup v2 directory and below: a path in the hierarchy (/system.slice/x.service) or under its mount (+)' -r -f -a "(__fish_complete_directories)"
complete -c trace -s S -l include-self -d 'Trace trace\'s own events too'
complete -c trace -s B -l bin_cmp -d 'STRCMP\'s literal may be a C list of bytes, STRCMP("{0x6c, 0, 0, 0}", arg4): memory compared byte by byte, NULs included'
complete -c trace -s t -l timestamp -d 'Print a time column: seconds since tracing started'
complete -c trace -s u -l unix-timestamp -d 'With -t: seconds since the epoch instead'
complete -c trace -s T -l time -d 'Print a time column: the clock, HH:MM:SS'
complete -c trace -s C -l print_cpu -d 'Print the CPU'
complete -c trace -s K -l kernel-stack -d 'Print the kernel stack of each event'
complete -c trace -s U -l user-stack -d 'Print the user stack of each event'
complete -c trace -s a -l address -d 'Print addresses in stacks'
complete -c trace -s A -l aggregate -d 'Count identical events and print them with their counts at the end (needs -M)'
complete -c trace -s v -l verbose -d 'Print the compiled BPF programs, the attach plan and libbpf\'s messages'
complete -c trace -l json -d 'One JSON object per event on stdout (+)'
complete -c trace -s h -l help -d 'Print help (see more with \'--help\')'
complete -c trace -s V -l version -d 'Print version'

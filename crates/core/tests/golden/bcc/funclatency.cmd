# bpfcc-tools 0.26.0+ds-1, 2026-11-25
# workload: rtools-testprog latency 3 11
# command: funclatency-bpfcc -p {pid} {prog}:lat_*

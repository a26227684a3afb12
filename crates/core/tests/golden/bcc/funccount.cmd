# bpfcc-tools 0.26.0+ds-1, 2026-11-25
# workload: rtools-testprog funcs 4999 3001 1009
# command: funccount-bpfcc -p {pid} -r {prog}:^rtools_test_(one|two|three)$

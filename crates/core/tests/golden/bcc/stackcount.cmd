# bpfcc-tools 0.26.0+ds-1, 2026-11-25
# workload: rtools-testprog stacks 13 7
# command: stackcount-bpfcc -U -p {pid} {prog}:gamma

/* A workload built without frame pointers (-O2 -fomit-frame-pointer, as
 * Debian builds its packages), for stackcount --user-stacks dwarf.
 *
 * nofp calls N   main -> path_a -> path_b -> path_c -> target, N times
 * nofp fopen N   main -> open_many -> fopen, N times (each closed again)
 * nofp spin MS   main -> path_a -> ... -> target over and over, for MS ms
 * nofp deep N    main -> descend x 100 -> target, N times: about 22 KiB of
 *                stack (200 bytes of locals a frame), more than the
 *                default copy, less than the largest
 *
 * It speaks protocol.h's protocol. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "call_path.h"
#include "protocol.h"

__attribute__((noinline)) long open_many(long n)
{
	long opened = 0;

	for (long i = 0; i < n; i++) {
		FILE *f = fopen("/proc/self/stat", "r");

		if (f) {
			opened++;
			fclose(f);
		}
	}
	__asm__ volatile("" ::: "memory");
	return opened;
}

#define DEPTH 100

__attribute__((noinline)) long descend(long depth, long x)
{
	volatile char pad[200];
	long r;

	pad[0] = (char)x;
	if (depth == 0)
		r = target(x);
	else
		r = descend(depth - 1, x + 1);
	__asm__ volatile("" ::: "memory");
	return r + pad[0];
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long n;

	if (argc < 3) {
		fprintf(stderr, "usage: nofp calls|fopen N\n");
		return 2;
	}
	n = atol(argv[2]);
	wait_to_start();
	if (strcmp(argv[1], "fopen") == 0) {
		if (open_many(n) != n)
			return 1;
	} else if (strcmp(argv[1], "deep") == 0) {
		for (long i = 0; i < n; i++)
			sum += descend(DEPTH, i);
	} else if (strcmp(argv[1], "spin") == 0) {
		for (long end = now_ms() + n; now_ms() < end;)
			for (long i = 0; i < 100000; i++)
				sum += path_a(i);
	} else {
		for (long i = 0; i < n; i++)
			sum += path_a(i);
	}
	finish();
	return 0;
}

/* A process that runs exec once traced, for stackcount --user-stacks: its
 * stacks after the exec must be unwound and named with the new image,
 * although it looks like the old one (built twice, non-PIE, the second
 * with -DSECOND; run under `setarch -R`, so libc maps where it did).
 *
 * exec first N PATH   main -> before_exec -> ask -> getppid once; a
 *                     second's pause (the tracer sets the process up
 *                     meanwhile); exec PATH second N
 * exec second N       main -> after_exec -> ask -> getppid, N times
 *
 * protocol.h's protocol: the first says it is ready and waits to start, the
 * second says when it is done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

#ifdef SECOND
/* The second image's code lies elsewhere at the same addresses. */
__attribute__((noinline)) long pad(long x)
{
	__asm__ volatile(".fill 512, 1, 0x90" ::: "memory");
	return x;
}
#endif

static volatile long sum;

/* noinline and a use of each result after the call: each keeps a frame. */
__attribute__((noinline)) long ask(long x)
{
	long r = getppid();
	__asm__ volatile("" ::: "memory");
	return r + x;
}

__attribute__((noinline)) long before_exec(long x)
{
	long r = ask(x);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) long after_exec(long x)
{
	long r = ask(x + 1);
	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	long n;

	if (argc < 3) {
		fprintf(stderr, "usage: exec first N PATH | exec second N\n");
		return 2;
	}
	n = atol(argv[2]);
	if (strcmp(argv[1], "first") == 0 && argc > 3) {
		wait_to_start();
		sum += before_exec(0);
		sleep(1);
		execl(argv[3], argv[3], "second", argv[2], (char *)NULL);
		perror("exec");
		return 1;
	}
#ifdef SECOND
	sum += pad(0);
#endif
	for (long i = 0; i < n; i++)
		sum += after_exec(i);
	finish();
	return 0;
}

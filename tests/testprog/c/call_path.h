/* The call path main -> path_a -> path_b -> path_c -> target that nofp.c
 * and fpstatic.c share (built with and without frame pointers), for
 * stackcount --user-stacks. Included once per program; no libc. */
#ifndef CALL_PATH_H
#define CALL_PATH_H

static volatile long sum;

/* noinline and a use of each result after the call: no function is
 * inlined into its caller or left by a tail call, so each keeps a frame. */
__attribute__((noinline)) long target(long x)
{
	sum += x;
	return sum & 7;
}

__attribute__((noinline)) long path_c(long x)
{
	long r = target(x * 3);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) long path_b(long x)
{
	long r = path_c(x + 1);
	__asm__ volatile("" ::: "memory");
	return r + 2;
}

__attribute__((noinline)) long path_a(long x)
{
	long r = path_b(x ^ 5);
	__asm__ volatile("" ::: "memory");
	return r + 3;
}

#endif

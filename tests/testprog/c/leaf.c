/* A workload for the entry-caller fix of stackcount: leaf_no_frame sets
 * up no frame of its own, so its first instruction is not `push %rbp`
 * and the kernel does not add the return address to a user stack taken
 * at a uprobe there (it does only for `push %rbp` entries). Its callers
 * have frames (the tests build with frame pointers).
 *
 * leaf A B   leaf_no_frame through leaf_caller_a A times, through
 *            leaf_caller_b B times
 *
 * It prints `ready PID`, waits for a line on stdin, works, prints
 * `done`, and exits when stdin closes. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile long sum;

__attribute__((noinline, optimize("omit-frame-pointer"))) long leaf_no_frame(long x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) long leaf_caller_a(long x)
{
	long r = leaf_no_frame(x);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) long leaf_caller_b(long x)
{
	long r = leaf_no_frame(x);
	__asm__ volatile("" ::: "memory");
	return r + 2;
}

int main(int argc, char **argv)
{
	char line[64];

	if (argc < 3) {
		fprintf(stderr, "usage: leaf A B\n");
		return 2;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	for (long i = 0; i < atol(argv[1]); i++)
		sum += leaf_caller_a(i);
	for (long i = 0; i < atol(argv[2]); i++)
		sum += leaf_caller_b(i);
	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

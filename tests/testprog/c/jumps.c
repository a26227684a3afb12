/* A workload for return-probe safety tests: functions that return twice
 * (setjmp, sigsetjmp, vfork, getcontext) or leave their frame without
 * `ret` (longjmp, siglongjmp, setcontext), around a normal function with
 * a known call count. Built by the tests with frame pointers and DWARF.
 *
 * jumps MODE N [T]
 *   siblings N  N rounds in main: jumps_normal, then jumps_inner and
 *               jumps_sig left by longjmp/siglongjmp at the same stack
 *               pointer, a vfork every 50th
 *   jumps N     N rounds: longjmp out of jumps_outer -> jumps_inner (two
 *               frames abandoned), jumps_normal, sigsetjmp/siglongjmp,
 *               getcontext/setcontext, vfork; jumps_normal runs N times
 *   threads N T T short threads that each call jumps_normal once, one
 *               after another, then N calls from the main thread
 *
 * It prints `ready PID`, waits for a line on stdin, works, prints its
 * result and `done`, and exits when stdin closes. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static jmp_buf env;
static sigjmp_buf sigenv;
static volatile long sum;

__attribute__((noinline)) void jumps_normal(long i)
{
	sum += i;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void jumps_inner(long i)
{
	sum += 2 * i;
	longjmp(env, 1);
}

__attribute__((noinline)) void jumps_sig(long i)
{
	sum += 3 * i;
	siglongjmp(sigenv, 1);
}

__attribute__((noinline)) void jumps_outer(long i)
{
	jumps_inner(i);
	sum += 1000000; /* never reached */
}

/* DWARF says DW_AT_noreturn: no return probe may go here. */
__attribute__((noreturn, noinline)) void jumps_die(int code)
{
	_exit(code);
}

static void *thread_main(void *arg)
{
	jumps_normal((long)arg);
	return NULL;
}

static void rounds(long n)
{
	for (long i = 0; i < n; i++) {
		volatile int resumed = 0;
		ucontext_t ctx;
		pid_t child;

		if (setjmp(env) == 0)
			jumps_outer(i);
		jumps_normal(i);
		if (sigsetjmp(sigenv, 1) == 0)
			siglongjmp(sigenv, 1);
		getcontext(&ctx);
		if (!resumed) {
			resumed = 1;
			setcontext(&ctx);
		}
		if ((i & 63) == 0) {
			child = vfork();
			if (child == 0)
				_exit(0);
			waitpid(child, NULL, 0);
		}
	}
}

static void threads(long n, long t)
{
	for (long i = 0; i < t; i++) {
		pthread_t th;

		if (pthread_create(&th, NULL, thread_main, (void *)i) != 0) {
			perror("pthread_create");
			exit(2);
		}
		pthread_join(th, NULL);
	}
	for (long i = 0; i < n; i++)
		jumps_normal(i);
}

int main(int argc, char **argv)
{
	char line[64];

	if (argc < 3) {
		fprintf(stderr, "usage: jumps jumps|threads N [T]\n");
		return 2;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	if (strcmp(argv[1], "jumps") == 0)
		rounds(atol(argv[2]));
	else if (strcmp(argv[1], "siblings") == 0) {
		/* Issue 25: the loop in main, entered before tracing; the
		 * plain call and the ones longjmp leaves are siblings at one
		 * stack pointer. */
		long n = atol(argv[2]);

		for (long i = 0; i < n; i++) {
			jumps_normal(i);
			if (setjmp(env) == 0)
				jumps_inner(i);
			if (sigsetjmp(sigenv, 1) == 0)
				jumps_sig(i);
			if (i % 50 == 0) {
				pid_t child = vfork();

				if (child == 0)
					_exit(0);
				waitpid(child, NULL, 0);
			}
		}
	}
	else if (strcmp(argv[1], "threads") == 0 && argc > 3)
		threads(atol(argv[2]), atol(argv[3]));
	else if (strcmp(argv[1], "die") == 0)
		jumps_die(atoi(argv[2]));
	else
		return 2;
	printf("sum %ld\ndone\n", sum);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

/* The workload protocol of the tests' C programs that use libc (nofp.c,
 * late.c, exec.c; tests/suite/support.rs's Workload speaks the other
 * side): print `ready PID`, wait for a line on stdin, work, print `done`,
 * wait for stdin to close. */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Says the program is ready and waits to be told to work (exits 2 if
 * stdin closes first). */
static void wait_to_start(void)
{
	char line[64];

	printf("ready %d\n", getpid());
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		exit(2);
}

/* Says the work is done and waits for stdin to close: the process stays
 * alive until the tracer has read it. */
static void finish(void)
{
	char line[64];

	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
}

#endif

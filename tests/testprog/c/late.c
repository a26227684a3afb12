/* A program that opens a library after rtools first saw it, for
 * stackcount --user-stacks: the mappings captured at its first event lack
 * the library, and its stacks through it must still be whole.
 *
 * late LIB N   main -> path_a -> path_b -> path_c -> target once; a
 *              second's pause (the tracer sets the process up from its
 *              mappings meanwhile: it reads its ring buffer every 100 ms);
 *              dlopen(LIB); main -> late_outer -> late_inner -> target
 *              (late_lib.c, through a function pointer), N times
 *
 * It speaks protocol.h's protocol. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "call_path.h"
#include "protocol.h"

typedef long (*late_outer_fn)(long (*)(long), long);

int main(int argc, char **argv)
{
	late_outer_fn outer;
	void *lib;
	long n;

	if (argc < 3) {
		fprintf(stderr, "usage: late LIB N\n");
		return 2;
	}
	n = atol(argv[2]);
	wait_to_start();
	sum += path_a(0);
	sleep(1);
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "late: %s\n", dlerror());
		return 1;
	}
	outer = (late_outer_fn)dlsym(lib, "late_outer");
	if (!outer)
		return 1;
	for (long i = 0; i < n; i++)
		sum += outer(target, i);
	finish();
	return 0;
}

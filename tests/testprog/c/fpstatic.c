/* A static program without libc, built with frame pointers: every file it
 * maps keeps them, so stackcount --user-stacks auto lets the kernel walk
 * its stacks. The same path as nofp.c: main -> path_a -> path_b -> path_c
 * -> target, N times (`fpstatic N`).
 *
 * It prints `ready PID`, waits for a line on stdin, works, prints `done`,
 * and exits when stdin closes. */

static long syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

#define SYS_read 0
#define SYS_write 1
#define SYS_getpid 39
#define SYS_exit 60

static void say(const char *s, long n)
{
	syscall3(SYS_write, 1, (long)s, n);
}

/* Reads stdin until a newline (1) or its end (0). */
static int read_line(void)
{
	char c;

	while (syscall3(SYS_read, 0, (long)&c, 1) == 1)
		if (c == '\n')
			return 1;
	return 0;
}

#include "call_path.h"

__attribute__((noinline)) long main(long argc, char **argv)
{
	char line[32] = "ready ";
	long n = 0, pid = syscall3(SYS_getpid, 0, 0, 0), len = 6, digits = 0;
	char rev[20];

	if (argc < 2)
		return 2;
	for (const char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	do
		rev[digits++] = '0' + pid % 10;
	while ((pid /= 10) != 0);
	while (digits)
		line[len++] = rev[--digits];
	line[len++] = '\n';
	say(line, len);
	if (!read_line())
		return 2;
	for (long i = 0; i < n; i++)
		sum += path_a(i);
	say("done\n", 5);
	while (read_line())
		;
	return 0;
}

/* The entry point: rbp 0 ends the frame chain; argc and argv from the
 * stack the kernel set up. */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call main\n"
	"	mov %rax, %rdi\n"
	"	mov $60, %eax\n"
	"	syscall\n");

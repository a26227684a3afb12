/* The library late.c opens once it is traced: late_outer -> late_inner
 * -> the function it is handed (late.c's target). Built as a shared
 * object, with frame pointers or without. */

/* noinline and a use of each result after the call: each keeps a frame
 * (no inlining, no tail call). */
__attribute__((noinline)) long late_inner(long (*f)(long), long x)
{
	long r = f(x * 3);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

__attribute__((noinline)) long late_outer(long (*f)(long), long x)
{
	long r = late_inner(f, x + 1);
	__asm__ volatile("" ::: "memory");
	return r + 2;
}

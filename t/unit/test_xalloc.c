#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "xalloc.h"

/* volatile: the compiler must not see the sizes and warn about them */
static volatile size_t huge = SIZE_MAX / 2 + 1, largest = SIZE_MAX;

static void calloc_overflow(void) { xcalloc(huge, 2); }
static void reallocarray_overflow(void) { xreallocarray(NULL, huge, 4); }
static void malloc_too_big(void) { xmalloc(largest); }

/* Runs fn in a child with its stderr captured in err: 1 when the child
 * ended by SIGABRT. */
static int aborts(void (*fn)(void), char *err, size_t errlen)
{
	int fds[2];
	if (pipe(fds))
		return 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		dup2(fds[1], 2);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n < errlen - 1 && (r = read(fds[0], err + n, errlen - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = '\0';
	close(fds[0]);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void test_copies(void)
{
	char *s = xstrndup("streaming", 6);
	CHECK_STR(s, "stream", "xstrndup copies n bytes and terminates them");
	free(s);
	s = xstrndup("hi", 10);
	CHECK_STR(s, "hi", "xstrndup stops at a shorter string's end");
	free(s);
	s = xstrdup("");
	CHECK_STR(s, "", "xstrdup copies an empty string");
	free(s);
}

static void test_zero_sizes(void)
{
	void *p = xmalloc(0);
	CHECK(p != NULL, "xmalloc(0) is not a failure");
	p = xrealloc(p, 0);
	CHECK(p != NULL, "xrealloc(p, 0) is not a failure and keeps a pointer");
	free(p);
	p = xcalloc(0, 8);
	CHECK(p != NULL, "xcalloc of no items is not a failure");
	free(p);
}

static void test_contents(void)
{
	/* a freed block full of ones is likely to be handed out again */
	unsigned char *dirty = xmalloc(4096);
	memset(dirty, 0xff, 4096);
	free(dirty);
	unsigned char *z = xcalloc(512, 8);
	size_t nonzero = 0;
	for (size_t i = 0; i < 4096; i++)
		nonzero += z[i] != 0;
	CHECK(nonzero == 0, "xcalloc zeroes");
	free(z);

	char *g = xmalloc(4);
	memcpy(g, "abc", 4);
	g = xrealloc(g, 1 << 20);
	CHECK_STR(g, "abc", "xrealloc keeps the contents while growing");
	g = xreallocarray(g, 3, 1);
	CHECK(memcmp(g, "abc", 3) == 0, "xreallocarray keeps the contents while shrinking");
	free(g);
}

static void test_failures(void)
{
	char err[512];
	CHECK(aborts(calloc_overflow, err, sizeof err) && strstr(err, "out of memory") &&
	      strstr(err, "count=9223372036854775808 size=2"),
	      "xcalloc: an overflowing count aborts after a line naming the sizes");
	CHECK(aborts(reallocarray_overflow, err, sizeof err) &&
	      strstr(err, "count=9223372036854775808 size=4"),
	      "xreallocarray: an overflowing count aborts after a line naming the sizes");
#ifndef __SANITIZE_ADDRESS__
	/* (AddressSanitizer's allocator reports such a request itself and exits) */
	CHECK(aborts(malloc_too_big, err, sizeof err) && strstr(err, "out of memory") &&
	      strstr(err, "size=18446744073709551615"),
	      "xmalloc: a size the libc refuses aborts after a line naming it");
#else
	(void)malloc_too_big;
#endif
}

void test_xalloc(void)
{
	test_copies();
	test_zero_sizes();
	test_contents();
	test_failures();
}

#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void out_of_memory(size_t count, size_t size) __attribute__((noreturn));

/* log_msg formats on the stack: it needs no memory of its own here */
static void out_of_memory(size_t count, size_t size)
{
	if (count == 1)
		log_error("out of memory", "size=%zu", size);
	else
		log_error("out of memory", "count=%zu size=%zu", count, size);
	abort();
}

/* checked here, before the allocator sees it, so that an overflow ends the
 * same way under a sanitizer's allocator as under the libc's */
static size_t array_size(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		out_of_memory(count, size);
	return count * size;
}

/* a libc may answer NULL to a request for 0 bytes: ask for 1 so that NULL
 * only ever means out of memory (and realloc(p, 0) never frees p) */
void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		out_of_memory(1, size);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	array_size(count, size);
	void *p = calloc(count && size ? count : 1, count && size ? size : 1);
	if (!p)
		out_of_memory(count, size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *np = realloc(p, size ? size : 1);
	if (!np)
		out_of_memory(1, size);
	return np;
}

void *xreallocarray(void *p, size_t count, size_t size)
{
	return xrealloc(p, array_size(count, size));
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

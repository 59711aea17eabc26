/* Allocation that cannot fail: when memory runs out the process logs one
 * line naming the size it asked for and aborts, the same way everywhere, so
 * no caller carries a NULL check of its own. A size of 0 is a valid request
 * (it gets a pointer that can be freed), never a failure. */
#ifndef SC_XALLOC_H
#define SC_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);    /* zeroed; aborts when count * size overflows */
void *xrealloc(void *p, size_t size);
/* realloc of an array of count items: aborts when count * size overflows */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);     /* at most n bytes, always terminated */

#endif

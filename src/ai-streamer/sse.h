/* An incremental parser of the text/event-stream format that OpenAI-style
 * servers stream chat completions in: bytes arrive in arbitrary pieces; each
 * complete event's data lines (joined with \n) are handed to a callback.
 * Comments (":...") and fields other than data are skipped. Pure, no I/O;
 * unit-tested and fuzzed. */
#ifndef SC_SSE_H
#define SC_SSE_H

#include <stddef.h>

#include "strbuf.h"

#define SSE_MAX_EVENT (1 << 20)

/* Returns 0 to go on, nonzero to stop parsing (sse_feed returns it). */
typedef int (*sse_event_fn)(void *ud, const char *data, size_t len);

struct sse {
	struct strbuf line;       /* the line being read */
	struct strbuf data;       /* data lines of the event being read */
	int has_data;
	int after_cr;             /* the last byte was \r: a following \n is the same line end */
};

void sse_init(struct sse *p);
void sse_release(struct sse *p);

/* Returns 0, the callback's nonzero answer, or -1 when an event grows past
 * SSE_MAX_EVENT. */
int sse_feed(struct sse *p, const char *buf, size_t n, sse_event_fn cb, void *ud);

#endif

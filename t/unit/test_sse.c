#include <stdlib.h>

#include "ai-streamer/sse.h"
#include "tap.h"
#include "xalloc.h"

struct got {
	struct strbuf all;   /* events joined with | */
	int n, stop_at;
};

static int on_event(void *ud, const char *data, size_t len)
{
	struct got *g = ud;
	if (g->n++)
		sb_addc(&g->all, '|');
	sb_add(&g->all, data, len);
	return g->stop_at && g->n == g->stop_at;
}

/* Feeds s in pieces of k bytes; the joined events. */
static const char *feed(const char *s, size_t k, struct got *g)
{
	struct sse p;
	sse_init(&p);
	sb_reset(&g->all);
	g->n = 0;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i += k)
		if (sse_feed(&p, s + i, i + k <= n ? k : n - i, on_event, g))
			break;
	sse_release(&p);
	return g->all.buf ? g->all.buf : "";
}

void test_sse(void)
{
	struct got g = { STRBUF_INIT, 0, 0 };
	const char *stream = ": keep-alive\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\nevent: x\nid: 7\n"
			     "data: line1\ndata: line2\n\ndata: [DONE]\n\n";
	int all_same = 1;
	for (size_t k = 1; k <= strlen(stream); k++)
		all_same &= !strcmp(feed(stream, k, &g), "{\"a\":1}|{\"b\":2}|line1\nline2|[DONE]");
	CHECK(all_same, "events come out the same whatever the read sizes");
	CHECK_STR(feed("data: x\r\rdata: y\r\r", 3, &g), "x|y", "bare \\r ends lines too");
	CHECK_STR(feed("data: x\n\ndata: partial", 4, &g), "x", "an event without its blank line is not given");
	CHECK_STR(feed(": only comments\n:\n\n\n", 2, &g), "", "comments and blank lines give nothing");
	CHECK_STR(feed("data\n\n", 1, &g), "", "a field without colon is ignored");
	g.stop_at = 1;
	CHECK_STR(feed("data: a\n\ndata: b\n\n", 100, &g), "a", "the callback can stop the parse");
	g.stop_at = 0;
	struct sse p;
	sse_init(&p);
	char *big = xmalloc(SSE_MAX_EVENT + 10);
	memset(big, 'x', SSE_MAX_EVENT + 9);
	big[SSE_MAX_EVENT + 9] = '\0';
	CHECK(sse_feed(&p, big, SSE_MAX_EVENT + 9, on_event, &g) == -1, "an endless line is refused");
	sse_release(&p);
	free(big);
	sb_release(&g.all);
}

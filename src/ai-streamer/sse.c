#include "sse.h"

#include <string.h>

void sse_init(struct sse *p) { memset(p, 0, sizeof *p); }

void sse_release(struct sse *p)
{
	sb_release(&p->line);
	sb_release(&p->data);
}

/* One complete line (without its end). An empty line ends the event. */
static int line(struct sse *p, sse_event_fn cb, void *ud)
{
	const char *s = p->line.buf ? p->line.buf : "";
	size_t n = p->line.len;
	int rc = 0;
	if (n == 0) {
		if (p->has_data)
			rc = cb(ud, p->data.buf ? p->data.buf : "", p->data.len);
		sb_reset(&p->data);
		p->has_data = 0;
	} else if (n >= 5 && !memcmp(s, "data:", 5)) {
		size_t skip = n > 5 && s[5] == ' ' ? 6 : 5;
		if (p->has_data)
			sb_addc(&p->data, '\n');
		sb_add(&p->data, s + skip, n - skip);
		p->has_data = 1;
	}
	/* ":comment", event:, id:, retry: and unknown fields are ignored */
	sb_reset(&p->line);
	return rc;
}

int sse_feed(struct sse *p, const char *buf, size_t n, sse_event_fn cb, void *ud)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c != '\n' && c != '\r') {
			p->after_cr = 0;
			continue;
		}
		if (c == '\n' && p->after_cr && i == start) {
			/* the \n of a \r\n split or not: the line already ended */
			p->after_cr = 0;
			start = i + 1;
			continue;
		}
		sb_add(&p->line, buf + start, i - start);
		start = i + 1;
		p->after_cr = c == '\r';
		if (p->line.len + p->data.len > SSE_MAX_EVENT)
			return -1;
		int rc = line(p, cb, ud);
		if (rc)
			return rc;
	}
	sb_add(&p->line, buf + start, n - start);
	return p->line.len + p->data.len > SSE_MAX_EVENT ? -1 : 0;
}

/* The bench's HTTP stream sessions (--transport sse): the same sockets as
 * ws.c's, asking a relay for GET /stream/{id} in plain SSE instead of an
 * upgrade. A session's message id is its session id; the relay finds the
 * message's session and owner in its meta, which sse_prepare writes. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "keys.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "xalloc.h"

int sse_prepare(struct sess *ss, long n, const char *redis_url)
{
	struct redis_cfg cfg;
	const char *err;
	char ebuf[200], k[KEY_MAX];
	if (redis_url_parse(redis_url, &cfg, &err)) {
		fprintf(stderr, "chat-bench: REDIS_URL: %s\n", err);
		return -1;
	}
	redisContext *c = rs_connect_single(&cfg, 5000, ebuf, sizeof ebuf);
	if (!c) {
		fprintf(stderr, "chat-bench: redis: %s\n", ebuf);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		key_meta(k, ss[i].id);
		redisAppendCommand(c, "HSET %s session_id %s user_id %s status streaming", k, ss[i].id,
				   ss[i].id);
		redisAppendCommand(c, "EXPIRE %s 3600", k);  /* the bench leaves nothing for good */
	}
	int rc = 0;
	for (long i = 0; i < 2 * n && rc == 0; i++) {
		redisReply *r;
		if (redisGetReply(c, (void **)&r) != REDIS_OK)
			rc = -1;
		else
			freeReplyObject(r);
	}
	redisFree(c);
	return rc;
}

char *sse_request(const struct sess *s, const char *hostport, size_t *len)
{
	char req[512];
	int n = snprintf(req, sizeof req,
			 "GET /stream/%s?format=sse&from=0&user_id=%s HTTP/1.1\r\nHost: %s\r\n"
			 "Accept: text/event-stream\r\n\r\n", s->id, s->id, hostport);
	*len = (size_t)n;
	return xstrndup(req, (size_t)n);
}

int sse_headers(const unsigned char *buf, size_t len, size_t *hl)
{
	const unsigned char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return len > 8192 ? -1 : 0;
	*hl = (size_t)(end - buf) + 4;
	return len >= 12 && !memcmp(buf, "HTTP/1.1 200", 12) ? 1 : -1;
}

/* One event: a chunk's data line goes to on_frame as it is (main.c reads
 * its index); the end event as a complete frame of the session's message. */
static void event(struct sess *s, const char *ev, size_t n,
		  void (*on_frame)(struct sess *, const char *, size_t, void *), void *ud)
{
	const char *data = NULL, *name = NULL;
	size_t dl = 0;
	for (const char *p = ev, *end = ev + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl - p > 6 && !memcmp(p, "data: ", 6)) {
			data = p + 6;
			dl = (size_t)(nl - p - 6);
		} else if (nl - p > 7 && !memcmp(p, "event: ", 7))
			name = p + 7;
		p = nl + 1;
	}
	if (name && !strncmp(name, "end\n", 4)) {
		char done[160];
		int l = snprintf(done, sizeof done, "{\"type\":\"complete\",\"messageId\":\"%s\"}", s->id);
		on_frame(s, done, (size_t)l, ud);
	} else if (data && on_frame)
		on_frame(s, data, dl, ud);
}

size_t sse_events(struct sess *s, void (*on_frame)(struct sess *, const char *, size_t, void *),
		  void *ud)
{
	size_t off = 0;
	const char *buf = (const char *)s->buf;
	for (;;) {
		const char *end = memmem(buf + off, s->len - off, "\n\n", 2);
		if (!end)
			break;
		event(s, buf + off, (size_t)(end - buf - off) + 1, on_frame, ud);
		off = (size_t)(end - buf) + 2;
	}
	return off;
}

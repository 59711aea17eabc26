#include "redis_sentinel.h"

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static int last_answered;  /* where the next search starts */

/* The answer to what c has pending, or NULL (c->errstr set, or empty when
 * the deadline passed). The socket's timeout bounds each read, not the
 * answer: a sentinel sending a byte now and then would hold the caller's
 * loop, a relay's or a worker's, for as long as it liked. */
static redisReply *answer_within(redisContext *c, int64_t deadline_us)
{
	int done = 0;
	void *r = NULL;
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return NULL;
	for (;;) {
		if (redisGetReplyFromReader(c, &r) != REDIS_OK || r)
			return r;
		int64_t left_ms = (deadline_us - mono_us() + 999) / 1000;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0 || redisBufferRead(c) != REDIS_OK)
			return NULL;
	}
}

/* One sentinel's answer: 1 found, 0 does not know the master, -1 unreachable
 * or a bad answer; why holds the reason for the last two. */
static int ask_one(const struct redis_addr *s, const char *master, struct redis_addr *out,
		   char *why, size_t whylen)
{
	struct timeval tv = { 0, SENTINEL_TIMEOUT_MS * 1000 };
	redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
	if (!c || c->err) {
		snprintf(why, whylen, "%s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return -1;
	}
	redisSetTimeout(c, tv);
	redisAppendCommand(c, "SENTINEL get-master-addr-by-name %s", master);
	redisReply *r = answer_within(c, mono_us() + SENTINEL_TIMEOUT_MS * 1000LL);
	int found = -1;
	if (!r)
		snprintf(why, whylen, "%s", c->errstr[0] ? c->errstr : "no answer in time");
	else if (r->type == REDIS_REPLY_NIL) {
		snprintf(why, whylen, "does not know master %s", master);
		found = 0;
	} else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, whylen, "%s", r->str);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		 r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
		snprintf(why, whylen, "unexpected answer");
	else if (r->element[0]->len == 0 || r->element[0]->len >= sizeof out->host ||
		 strlen(r->element[0]->str) != r->element[0]->len)
		snprintf(why, whylen, "unexpected host of %zu bytes", r->element[0]->len);
	else {
		long port;
		snprintf(out->host, sizeof out->host, "%s", r->element[0]->str);
		if (parse_long(r->element[1]->str, 1, 65535, &port) == 0) {
			out->port = (int)port;
			found = 1;
		} else
			snprintf(why, whylen, "unexpected port %s", r->element[1]->str);
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return found;
}

int sentinel_primary(const struct redis_cfg *cfg, struct redis_addr *out, int *which,
		     char *errbuf, size_t errlen)
{
	int unknown = 0;
	size_t used = 0;
	errbuf[0] = '\0';
	for (int k = 0; k < cfg->naddrs; k++) {
		int i = (last_answered + k) % cfg->naddrs;
		const struct redis_addr *s = &cfg->addrs[i];
		char why[160];
		int found = ask_one(s, cfg->master, out, why, sizeof why);
		if (found == 1) {
			last_answered = i;
			if (which)
				*which = i;
			return 0;
		}
		unknown += found == 0;
		if (used < errlen) {
			int n = snprintf(errbuf + used, errlen - used, "%s%s:%d: %s", used ? "; " : "",
					 s->host, s->port, why);
			used += n > 0 ? (size_t)n : 0;
		}
	}
	char each[512];
	snprintf(each, sizeof each, "%s", errbuf);
	if (unknown)
		snprintf(errbuf, errlen, "no sentinel knows master %s (%s)", cfg->master, each);
	else
		snprintf(errbuf, errlen, "no sentinel reachable (%s)", each);
	return -1;
}

int role_refused(const redisReply *r, char *errbuf, size_t errlen)
{
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(errbuf, errlen, "ROLE: %s",
			 r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
		return -1;
	}
	if (strcmp(r->element[0]->str, "master") != 0) {
		snprintf(errbuf, errlen, "ROLE: the node is a %s, not the primary (yet)",
			 r->element[0]->str);
		return -1;
	}
	return 0;
}

int reply_demoted(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "READONLY", 8) == 0;
}

/* hiredis's own reply builders, with createString wrapped */
static redisReplyObjectFunctions *plain_fn, watched_fn;

static void *create_string(const redisReadTask *t, char *s, size_t len)
{
	const struct readonly_watch *w = t->privdata;
	if (t->type == REDIS_REPLY_ERROR && len >= 8 && memcmp(s, "READONLY", 8) == 0 && w)
		w->demoted(w->arg);
	return plain_fn->createString(t, s, len);
}

void watch_readonly(redisReader *r, struct readonly_watch *w)
{
	if (!plain_fn) {
		plain_fn = r->fn;
		watched_fn = *r->fn;
		watched_fn.createString = create_string;
	}
	r->fn = &watched_fn;
	r->privdata = w;
}

int switch_names_master(const char *payload, size_t len, const char *master)
{
	size_t n = strlen(master);
	return len > n && memcmp(payload, master, n) == 0 && payload[n] == ' ';
}

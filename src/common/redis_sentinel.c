#include "redis_sentinel.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static int last_answered;  /* where the next search starts */

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
	redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
	int found = -1;
	if (!r)
		snprintf(why, whylen, "%s", c->errstr);
	else if (r->type == REDIS_REPLY_NIL) {
		snprintf(why, whylen, "does not know master %s", master);
		found = 0;
	} else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, whylen, "%s", r->str);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str ||
		 !r->element[1]->str)
		snprintf(why, whylen, "unexpected answer");
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

int role_is_master(const redisReply *r, char *errbuf, size_t errlen)
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

#include "redis_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "redis_sentinel.h"

static int failed(redisReply *r, char *errbuf, size_t errlen, const char *what)
{
	if (r && r->type != REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return 0;
	}
	snprintf(errbuf, errlen, "%s: %s", what, r ? r->str : "no reply");
	if (r)
		freeReplyObject(r);
	return -1;
}

/* hiredis's reply builders, with createString wrapped so that a READONLY
 * anywhere in a reply (a pipelined one, an EXEC's) breaks the connection:
 * the caller gets this reply, and its next command fails as on a lost
 * connection, so that it reconnects to whatever is the primary now. */
static redisReplyObjectFunctions *plain_fn, watched_fn;

static void *create_string(const redisReadTask *t, char *s, size_t len)
{
	if (t->type == REDIS_REPLY_ERROR && len >= 8 && memcmp(s, "READONLY", 8) == 0 && t->privdata)
		rs_break(t->privdata, "the primary was demoted (READONLY)");
	return plain_fn->createString(t, s, len);
}

static void watch_readonly_sync(redisContext *c)
{
	if (!plain_fn) {
		plain_fn = c->reader->fn;
		watched_fn = *plain_fn;
		watched_fn.createString = create_string;
	}
	c->reader->fn = &watched_fn;
	c->reader->privdata = c;
}

/* The node to talk to: the URL's, or the one the sentinels name now. */
static redisContext *connect_node(const struct redis_cfg *cfg, struct timeval tv, char *errbuf,
				  size_t errlen)
{
	struct redis_addr primary;
	const char *host = cfg->host;
	int port = cfg->port;
	const char *unsupported = redis_cfg_unsupported(cfg);
	if (unsupported) {
		snprintf(errbuf, errlen, "%s", unsupported);
		return NULL;
	}
	if (cfg->topology == REDIS_SENTINEL) {
		char why[800];
		if (sentinel_primary(cfg, &primary, NULL, why, sizeof why)) {
			snprintf(errbuf, errlen, "sentinel: %s", why);
			return NULL;
		}
		host = primary.host;
		port = primary.port;
	}
	redisContext *c = cfg->path[0] ? redisConnectUnixWithTimeout(cfg->path, tv)
				       : redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		snprintf(errbuf, errlen, "connect %s:%d: %s", host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

/* Under Sentinel, a node the sentinels named may not be the primary (yet, or
 * any more): it is refused, and the next try asks them again. */
static int check_role(redisContext *c, const struct redis_cfg *cfg, char *errbuf, size_t errlen)
{
	if (cfg->topology != REDIS_SENTINEL)
		return 0;
	redisReply *r = redisCommand(c, "ROLE");
	int rc = role_is_master(r, errbuf, errlen);
	if (r)
		freeReplyObject(r);
	return rc;
}

redisContext *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = connect_node(cfg, tv, errbuf, errlen);
	if (!c)
		return NULL;
	redisSetTimeout(c, tv);
	watch_readonly_sync(c);
	if (cfg->password[0]) {
		redisReply *r = cfg->user[0]
			? redisCommand(c, "AUTH %s %s", cfg->user, cfg->password)
			: redisCommand(c, "AUTH %s", cfg->password);
		if (failed(r, errbuf, errlen, "AUTH"))
			goto err;
	}
	if (check_role(c, cfg, errbuf, errlen))
		goto err;
	if (cfg->db && failed(redisCommand(c, "SELECT %d", cfg->db), errbuf, errlen, "SELECT"))
		goto err;
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		const struct script *s = script_get((enum script_id)i);
		if (failed(redisCommand(c, "SCRIPT LOAD %b", s->body, s->len), errbuf, errlen,
			   "SCRIPT LOAD"))
			goto err;
	}
	return c;
err:
	redisFree(c);
	return NULL;
}

redisReply *rs_eval(redisContext *c, enum script_id id, int nkeys, const char *const *keys,
		    int nargs, const char *const *args, const size_t *lens)
{
	const struct script *s = script_get(id);
	int argc = 3 + nkeys + nargs;
	const char *argv[argc];
	size_t argl[argc];
	char nk[16];
	script_argv(id, nkeys, keys, nargs, args, lens, argv, argl, nk);
	redisReply *r = redisCommandArgv(c, argc, argv, argl);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argl[0] = 4;
		argv[1] = s->body;
		argl[1] = s->len;
		r = redisCommandArgv(c, argc, argv, argl);
	}
	if (reply_demoted(r)) {  /* c is broken already (create_string) */
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

void rs_break(redisContext *c, const char *why)
{
	c->err = REDIS_ERR_OTHER;
	snprintf(c->errstr, sizeof c->errstr, "%s", why);
	shutdown(c->fd, SHUT_RDWR);
}

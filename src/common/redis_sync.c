#include "redis_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

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

redisContext *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = cfg->path[0] ? redisConnectUnixWithTimeout(cfg->path, tv)
				       : redisConnectWithTimeout(cfg->host, cfg->port, tv);
	if (!c || c->err) {
		snprintf(errbuf, errlen, "connect: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (cfg->password[0]) {
		redisReply *r = cfg->user[0]
			? redisCommand(c, "AUTH %s %s", cfg->user, cfg->password)
			: redisCommand(c, "AUTH %s", cfg->password);
		if (failed(r, errbuf, errlen, "AUTH"))
			goto err;
	}
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
	return r;
}

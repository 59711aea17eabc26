#include "redis_cmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_cluster.h"
#include "scripts.h"
#include "xalloc.h"

/* "<digits>\r\n" at p: the number, p moved past it; -1 if incomplete or bad
 * (*bad set for bad). */
static long read_number(const char **p, const char *end, int *bad)
{
	long n = 0;
	const char *s = *p;
	if (s >= end)
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		if (n > 100000000) {
			*bad = 1;
			return -1;
		}
		n = n * 10 + (*s++ - '0');
	}
	if (s + 2 > end)
		return -1;
	if (s == *p || s[0] != '\r' || s[1] != '\n') {
		*bad = 1;
		return -1;
	}
	*p = s + 2;
	return n;
}

static void grow(struct redis_argv *a, int n)
{
	if (n <= a->cap)
		return;
	a->argv = xreallocarray(a->argv, (size_t)n, sizeof *a->argv);
	a->lens = xreallocarray(a->lens, (size_t)n, sizeof *a->lens);
	a->cap = n;
}

long redis_argv_parse(const char *buf, size_t len, struct redis_argv *a)
{
	const char *p = buf, *end = buf + len;
	int bad = 0;
	a->argc = 0;
	if (len == 0)
		return 0;
	if (*p++ != '*')
		return -1;
	long n = read_number(&p, end, &bad);
	if (n < 1 || n > 1000000)
		return bad || n == 0 ? -1 : 0;
	grow(a, (int)n);
	for (long i = 0; i < n; i++) {
		if (p >= end)
			return 0;
		if (*p++ != '$')
			return -1;
		long l = read_number(&p, end, &bad);
		if (l < 0)
			return bad ? -1 : 0;
		if ((size_t)(end - p) < (size_t)l + 2)
			return 0;
		if (p[l] != '\r' || p[l + 1] != '\n')
			return -1;
		a->argv[i] = p;
		a->lens[i] = (size_t)l;
		p += l + 2;
	}
	a->argc = (int)n;
	return (long)(p - buf);
}

void redis_argv_free(struct redis_argv *a)
{
	free(a->argv);
	free(a->lens);
	*a = (struct redis_argv){ 0 };
}

int redis_cmd_is(int argc, const char *const *argv, const size_t *lens, const char *word)
{
	size_t l = strlen(word);
	return argc > 0 && (lens ? lens[0] : strlen(argv[0])) == l && strncasecmp(argv[0], word, l) == 0;
}

static int script_resend_safe(const char *sha, size_t len)
{
	static const enum script_id fenced[] = { SCRIPT_APPEND, SCRIPT_RENEW };
	for (size_t i = 0; i < sizeof fenced / sizeof *fenced; i++) {
		const struct script *s = script_get(fenced[i]);
		if (s->body && len == 40 && strncasecmp(s->sha, sha, 40) == 0)
			return 1;
	}
	return 0;
}

int redis_cmd_flags(int argc, const char *const *argv, const size_t *lens)
{
	/* a second DEL, PEXPIRE, HSET of the same values... changes nothing */
	static const char *const again[] = {
		"GET", "HGET", "HMGET", "HGETALL", "HKEYS", "HLEN", "EXISTS", "TTL", "PTTL", "TYPE",
		"LRANGE", "LLEN", "LINDEX", "ZRANGE", "ZRANGEBYSCORE", "ZCOUNT", "ZSCORE", "ZCARD",
		"XRANGE", "XREVRANGE", "XLEN", "XPENDING", "XINFO", "SCAN", "PING", "INFO", "DBSIZE",
		"DEL", "UNLINK", "HDEL", "ZREM", "ZREMRANGEBYSCORE", "PEXPIRE", "HSET", "ZADD",
		"XACK", "XDEL"
	};
	if (argc < 1)
		return 0;
	for (size_t i = 0; i < sizeof again / sizeof *again; i++)
		if (redis_cmd_is(argc, argv, lens, again[i]))
			return RC_IDEMPOTENT;
	if (argc >= 2 && redis_cmd_is(argc, argv, lens, "EVALSHA") &&
	    script_resend_safe(argv[1], lens ? lens[1] : strlen(argv[1])))
		return RC_IDEMPOTENT;
	return 0;
}

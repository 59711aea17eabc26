#include "heartbeat.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "redis_sync.h"

/* A command hiredis formatted, "*<n>\r\n" then n bulk strings: its strings
 * join the fields. That is how one HSET gets the common fields and each
 * program's own, each formatted by hiredis as the program wrote it. */
static void add_formatted(struct heartbeat *hb, char *cmd, int len)
{
	char *end = NULL;
	long n = len > 0 && cmd[0] == '*' ? strtol(cmd + 1, &end, 10) : -1;
	if (n < 0 || !end || end + 2 > cmd + len || memcmp(end, "\r\n", 2) != 0) {
		hb->bad = 1;
	} else {
		end += 2;
		sb_add(&hb->fields, end, (size_t)(cmd + len - end));
		hb->nfields += (int)n;
	}
	if (len > 0)
		redisFreeCommand(cmd);
}

void heartbeat_begin(struct heartbeat *hb, char *(*node_key)(char *, const char *),
		     char *(*set_key)(char *), const char *node, long long now_ms, long ttl_ms)
{
	memset(hb, 0, sizeof *hb);
	node_key(hb->key, node);
	set_key(hb->set);
	hb->node = node;
	hb->now_ms = now_ms;
	hb->ttl_ms = ttl_ms;
	heartbeat_fields(hb, "id %s last_seen_ms %lld", node, now_ms);
}

void heartbeat_fields(struct heartbeat *hb, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	int len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	add_formatted(hb, cmd, len);
}

void heartbeat_fields_argv(struct heartbeat *hb, int argc, const char *const *argv,
			   const size_t *lens)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
	add_formatted(hb, cmd, len);
}

void heartbeat_release(struct heartbeat *hb)
{
	sb_release(&hb->fields);
}

int heartbeat_hset(const struct heartbeat *hb, struct strbuf *out)
{
	sb_reset(out);
	if (hb->bad)
		return -1;
	sb_addf(out, "*%d\r\n$4\r\nHSET\r\n$%zu\r\n", hb->nfields + 2, strlen(hb->key));
	sb_adds(out, hb->key);
	sb_adds(out, "\r\n");
	sb_add(out, hb->fields.buf, hb->fields.len);
	return 0;
}

int heartbeat_append(const struct heartbeat *hb, struct rs *c, int fields_only)
{
	struct strbuf hset = STRBUF_INIT;
	int n = -1;
	if (heartbeat_hset(hb, &hset) == 0 &&
	    rs_append_formatted(c, hset.buf, hset.len) == REDIS_OK)
		n = 1;
	sb_release(&hset);
	if (n < 0 || fields_only)
		return n;
	if (rs_append(c, "PEXPIRE %s %ld", hb->key, hb->ttl_ms) != REDIS_OK ||
	    rs_append(c, "ZADD %s %lld %s", hb->set, hb->now_ms, hb->node) != REDIS_OK)
		return -1;
	return 3;
}

int heartbeat_write(const struct heartbeat *hb, struct rs *c)
{
	int n = heartbeat_append(hb, c, 0);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		void *r = NULL;
		if (rs_get_reply(c, &r) != REDIS_OK)
			return -1;
		freeReplyObject(r);
	}
	return 0;
}


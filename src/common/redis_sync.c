#include "redis_sync.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"
#include "redis_cluster.h"
#include "redis_cmd.h"
#include "redis_sentinel.h"
#include "strbuf.h"
#include "xalloc.h"

struct rs {
	redisContext *c;              /* single, sentinel */
	struct rcluster *cl;          /* cluster */
	/* cluster: the commands appended and not yet run, RESP one after
	 * another; the replies of those rs_flush ran */
	struct strbuf queue;
	size_t queued_at;
	redisReply **done;
	int ndone, done_at, done_cap;
	redisContext *pinned;         /* WATCH or MULTI: the node they are on */
	int pinned_slot;
	int err;
	char errstr[256];
};

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

static void ctx_break(redisContext *c, const char *why)
{
	c->err = REDIS_ERR_OTHER;
	snprintf(c->errstr, sizeof c->errstr, "%s", why);
	shutdown(c->fd, SHUT_RDWR);
}

/* hiredis's reply builders, with createString wrapped so that a READONLY
 * anywhere in a reply (a pipelined one, an EXEC's) breaks the connection:
 * the caller gets this reply, and its next command fails as on a lost
 * connection, so that it reconnects to whatever is the primary now. */
static redisReplyObjectFunctions *plain_fn, watched_fn;

static void *create_string(const redisReadTask *t, char *s, size_t len)
{
	if (t->type == REDIS_REPLY_ERROR && len >= 8 && memcmp(s, "READONLY", 8) == 0 && t->privdata)
		ctx_break(t->privdata, "the primary was demoted (READONLY)");
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
	int rc = role_refused(r, errbuf, errlen);
	if (r)
		freeReplyObject(r);
	return rc;
}

redisContext *rs_connect_single(const struct redis_cfg *cfg, int timeout_ms, char *errbuf,
				size_t errlen)
{
	if (cfg->topology == REDIS_CLUSTER) {
		snprintf(errbuf, errlen, "a Redis Cluster URL: this program needs a single Redis");
		return NULL;
	}
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

/* The scripts are not loaded on every primary here: rs_eval's EVALSHA
 * falls back to EVAL on a NOSCRIPT, which loads them where they run.
 * Seeds that cannot be reached are the caller's to retry; a seed that is no
 * cluster node, or refuses the password, is a configuration that retrying
 * cannot mend: the program ends with one line. */
static struct rcluster *connect_cluster(const struct redis_cfg *cfg, int timeout_ms, char *errbuf,
					size_t errlen)
{
	struct rcluster_opts o = { cfg->user, cfg->password, timeout_ms, 0 };
	struct rcluster *cl = rcluster_new(cfg->addrs, cfg->naddrs, &o);
	if (rcluster_connect(cl, errbuf, errlen) == 0)
		return cl;
	if (rcluster_fatal(cl))
		die(100, "REDIS_URL: %s", errbuf);
	rcluster_free(cl);
	return NULL;
}

struct rs *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen)
{
	struct rs *rs = xcalloc(1, sizeof *rs);
	if (cfg->topology == REDIS_CLUSTER)
		rs->cl = connect_cluster(cfg, timeout_ms, errbuf, errlen);
	else
		rs->c = rs_connect_single(cfg, timeout_ms, errbuf, errlen);
	if (rs->c || rs->cl)
		return rs;
	free(rs);
	return NULL;
}

struct rs *rs_wrap(redisContext *c)
{
	struct rs *rs = xcalloc(1, sizeof *rs);
	rs->c = c;
	return rs;
}

static void drop_done(struct rs *rs)
{
	for (int i = rs->done_at; i < rs->ndone; i++)
		freeReplyObject(rs->done[i]);
	rs->ndone = rs->done_at = 0;
}

void rs_free(struct rs *rs)
{
	if (!rs)
		return;
	if (rs->c)
		redisFree(rs->c);
	rcluster_free(rs->cl);
	drop_done(rs);
	free(rs->done);
	sb_release(&rs->queue);
	free(rs);
}

int rs_err(const struct rs *rs)
{
	return rs->c ? rs->c->err : rs->err;
}

const char *rs_errstr(const struct rs *rs)
{
	return rs->c ? rs->c->errstr : rs->errstr;
}

int rs_fd(const struct rs *rs)
{
	return rs->c ? rs->c->fd : -1;
}

void rs_break(struct rs *rs, const char *why)
{
	if (rs->c) {
		ctx_break(rs->c, why);
		return;
	}
	rs->err = REDIS_ERR_OTHER;
	snprintf(rs->errstr, sizeof rs->errstr, "%s", why);
}

/* --- the cluster's side: each command run on its own when its reply is
 * wanted */

static redisReply *lost(struct rs *rs, const char *why)
{
	rs_break(rs, why && why[0] ? why : "connection lost");
	rs->pinned = NULL;
	return NULL;
}

static int redirected(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_ERROR)
		return !strncmp(r->str, "MOVED ", 6) || !strncmp(r->str, "ASK ", 4);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (redirected(r->element[i]))
			return 1;
	return 0;
}

/* The key MULTI's transaction is routed by: the first key queued after it. */
static int next_key(struct rs *rs, const char **key, size_t *len)
{
	struct redis_argv a = { 0 };
	size_t at = rs->queued_at;
	long used;
	int found = 0;
	while (!found && (used = redis_argv_parse(rs->queue.buf + at, rs->queue.len - at, &a)) > 0) {
		at += (size_t)used;
		if (redis_cmd_is(a.argc, a.argv, a.lens, "EXEC"))
			break;
		int ki = rcluster_key_index(a.argc, a.argv, a.lens);
		if (ki >= 0) {
			*key = a.argv[ki];
			*len = a.lens[ki];
			found = 1;
		}
	}
	redis_argv_free(&a);
	return found;
}

static int pin(struct rs *rs, const char *key, size_t len)
{
	rs->pinned = rcluster_node(rs->cl, key, len);
	rs->pinned_slot = cluster_key_slot(key, len);
	return rs->pinned ? 0 : -1;
}

/* A command on another slot while pinned: the transaction was given up
 * (a WATCH without its EXEC); its watch must not fail a later one. */
static void unpin_if_elsewhere(struct rs *rs, int argc, const char *const *argv, const size_t *lens)
{
	int ki = rcluster_key_index(argc, argv, lens);
	if (!rs->pinned || ki < 0 || redis_cmd_is(argc, argv, lens, "WATCH") ||
	    cluster_key_slot(argv[ki], lens[ki]) == rs->pinned_slot)
		return;
	redisReply *u = redisCommand(rs->pinned, "UNWATCH");
	if (u)
		freeReplyObject(u);
	rs->pinned = NULL;
}

static redisReply *run_pinned(struct rs *rs, int argc, const char *const *argv, const size_t *lens)
{
	redisReply *r = redisCommandArgv(rs->pinned, argc, (const char **)argv, lens);
	if (!r)
		return lost(rs, rs->pinned->errstr);
	if (redis_cmd_is(argc, argv, lens, "EXEC") || redis_cmd_is(argc, argv, lens, "DISCARD") ||
	    redis_cmd_is(argc, argv, lens, "UNWATCH"))
		rs->pinned = NULL;
	if (redirected(r)) {
		rs->pinned = NULL;   /* the map may close the connection it names */
		rcluster_refresh(rs->cl);
	}
	return r;
}

static redisReply *run_one(struct rs *rs, int argc, const char *const *argv, const size_t *lens)
{
	unpin_if_elsewhere(rs, argc, argv, lens);
	if (!rs->pinned) {
		const char *key = NULL;
		size_t klen = 0;
		if (redis_cmd_is(argc, argv, lens, "WATCH") && argc >= 2) {
			key = argv[1];
			klen = lens[1];
		} else if (redis_cmd_is(argc, argv, lens, "MULTI")) {
			next_key(rs, &key, &klen);
		}
		if (key && pin(rs, key, klen))
			return lost(rs, rcluster_error(rs->cl));
	}
	if (rs->pinned)
		return run_pinned(rs, argc, argv, lens);
	redisReply *r = rcluster_command(rs->cl, redis_cmd_flags(argc, argv, lens), NULL, 0, argc,
					 argv, lens);
	return r ? r : lost(rs, rcluster_error(rs->cl));
}

/* The next queued command run: its reply, or NULL. */
static redisReply *run_next(struct rs *rs)
{
	struct redis_argv a = { 0 };
	long used = redis_argv_parse(rs->queue.buf + rs->queued_at, rs->queue.len - rs->queued_at, &a);
	if (used <= 0) {
		redis_argv_free(&a);
		return lost(rs, "no command to read a reply of");
	}
	rs->queued_at += (size_t)used;
	redisReply *r = run_one(rs, a.argc, a.argv, a.lens);
	redis_argv_free(&a);
	if (rs->queued_at == rs->queue.len) {
		sb_reset(&rs->queue);
		rs->queued_at = 0;
	}
	return r;
}

static int queue_formatted(struct rs *rs, char *cmd, int len)
{
	if (len < 0)
		return REDIS_ERR;
	sb_add(&rs->queue, cmd, (size_t)len);
	free(cmd);
	return REDIS_OK;
}

/* --- the calls */

int rs_append_formatted(struct rs *rs, const char *cmd, size_t len)
{
	if (rs->c)
		return redisAppendFormattedCommand(rs->c, cmd, len);
	sb_add(&rs->queue, cmd, len);
	return REDIS_OK;
}

static int rs_vappend(struct rs *rs, const char *fmt, va_list ap)
{
	if (rs->c)
		return redisvAppendCommand(rs->c, fmt, ap);
	char *cmd = NULL;
	return queue_formatted(rs, cmd, redisvFormatCommand(&cmd, fmt, ap));
}

int rs_append(struct rs *rs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = rs_vappend(rs, fmt, ap);
	va_end(ap);
	return rc;
}

int rs_append_argv(struct rs *rs, int argc, const char **argv, const size_t *lens)
{
	if (rs->c)
		return redisAppendCommandArgv(rs->c, argc, argv, lens);
	char *cmd = NULL;
	return queue_formatted(rs, cmd, redisFormatCommandArgv(&cmd, argc, argv, lens));
}

int rs_get_reply(struct rs *rs, void **reply)
{
	*reply = NULL;
	if (rs->c)
		return redisGetReply(rs->c, reply);
	if (rs->err)
		return REDIS_ERR;
	if (rs->done_at < rs->ndone) {
		*reply = rs->done[rs->done_at++];
		if (rs->done_at == rs->ndone)
			rs->done_at = rs->ndone = 0;
		return REDIS_OK;
	}
	*reply = run_next(rs);
	return *reply ? REDIS_OK : REDIS_ERR;
}

int rs_flush(struct rs *rs)
{
	if (rs->c) {
		for (int done = 0; !done;)
			if (redisBufferWrite(rs->c, &done) != REDIS_OK)
				return REDIS_ERR;
		return REDIS_OK;
	}
	while (!rs->err && rs->queued_at < rs->queue.len) {
		redisReply *r = run_next(rs);
		if (!r)
			break;
		if (rs->ndone == rs->done_cap) {
			rs->done_cap = rs->done_cap ? 2 * rs->done_cap : 8;
			rs->done = xreallocarray(rs->done, (size_t)rs->done_cap, sizeof *rs->done);
		}
		rs->done[rs->ndone++] = r;
	}
	return rs->err ? REDIS_ERR : REDIS_OK;
}

redisReply *rs_command(struct rs *rs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = NULL;
	if (rs->c) {
		r = redisvCommand(rs->c, fmt, ap);
	} else if (rs_vappend(rs, fmt, ap) == REDIS_OK) {
		void *out;
		rs_get_reply(rs, &out);
		r = out;
	}
	va_end(ap);
	return r;
}

redisReply *rs_command_argv(struct rs *rs, int argc, const char **argv, const size_t *lens)
{
	if (rs->c)
		return redisCommandArgv(rs->c, argc, argv, lens);
	void *out = NULL;
	if (rs_append_argv(rs, argc, argv, lens) == REDIS_OK)
		rs_get_reply(rs, &out);
	return out;
}

int rs_nodes(const struct rs *rs)
{
	return rs->c ? 1 : rcluster_primaries(rs->cl);
}

redisReply *rs_command_node(struct rs *rs, int i, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = NULL;
	if (rs->c) {
		r = redisvCommand(rs->c, fmt, ap);
		va_end(ap);
		return r;
	}
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	struct redis_argv a = { 0 };
	if (len > 0 && redis_argv_parse(cmd, (size_t)len, &a) > 0)
		r = rcluster_command_primary(rs->cl, i, a.argc, a.argv, a.lens);
	redis_argv_free(&a);
	free(cmd);
	return r ? r : lost(rs, rcluster_error(rs->cl));
}

redisReply *rs_eval(struct rs *rs, enum script_id id, int nkeys, const char *const *keys,
		    int nargs, const char *const *args, const size_t *lens)
{
	const struct script *s = script_get(id);
	int argc = 3 + nkeys + nargs;
	const char *argv[argc];
	size_t argl[argc];
	char nk[16];
	script_argv(id, nkeys, keys, nargs, args, lens, argv, argl, nk);
	redisReply *r = rs_command_argv(rs, argc, argv, argl);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argl[0] = 4;
		argv[1] = s->body;
		argl[1] = s->len;
		r = rs_command_argv(rs, argc, argv, argl);
	}
	if (rs->c && reply_demoted(r)) {  /* c is broken already (create_string) */
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

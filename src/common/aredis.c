#include "aredis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis_cluster.h"
#include "cluster_conf.h"
#include "log.h"
#include "redis_cmd.h"
#include "redis_sentinel.h"
#include "redis_uv.h"
#include "strbuf.h"
#include "xalloc.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define WATCH_RETRY_MS 1000

static void connect_now(struct aredis *ar);

static void retry_cb(uv_timer_t *t) { connect_now(t->data); }

/* Logs why the connection is not there and when the next try comes. */
static void schedule_retry(struct aredis *ar, const char *what, const char *why)
{
	ar->backoff_ms = ar->backoff_ms ? ar->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (ar->backoff_ms > BACKOFF_MAX_MS)
		ar->backoff_ms = BACKOFF_MAX_MS;
	log_warn(what, "conn=%s error=\"%s\" retry_ms=%d", ar->name, why, ar->backoff_ms);
	uv_timer_start(&ar->retry, retry_cb, (uint64_t)ar->backoff_ms, 0);
}

static void setup_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct aredis *ar = ac->data;
	redisReply *reply = r;
	const char *step = priv;
	if (!reply || (ac->c.flags & REDIS_DISCONNECTING))
		return;  /* being dropped (a step failed): on_disconnect handles it */
	char why[200];
	if (strcmp(step, "ROLE") == 0 && role_refused(reply, why, sizeof why)) {
		log_warn("redis node refused", "conn=%s node=%s:%d error=\"%s\"", ar->name,
			 ar->primary.host, ar->primary.port, why);
		redisAsyncDisconnect(ac);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		log_error("redis setup failed", "conn=%s step=%s error=\"%s\"", ar->name, step,
			  reply->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (strcmp(step, "ready") == 0) {
		ar->ready = 1;
		ar->backoff_ms = 0;
		log_info("redis connected", "conn=%s reconnects=%u", ar->name, ar->reconnects);
		if (ar->on_ready)
			ar->on_ready(ar);
	}
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	struct aredis *ar = cac->data;
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	if (status != REDIS_OK) {
		ar->ac = NULL;
		schedule_retry(ar, "redis connect failed", cac->errstr);
		return;
	}
	const struct redis_cfg *cfg = ar->cfg;
	if (cfg->password[0]) {
		if (cfg->user[0])
			redisAsyncCommand(ac, setup_reply, "AUTH", "AUTH %s %s", cfg->user,
					  cfg->password);
		else
			redisAsyncCommand(ac, setup_reply, "AUTH", "AUTH %s", cfg->password);
	}
	if (cfg->topology == REDIS_SENTINEL)
		redisAsyncCommand(ac, setup_reply, "ROLE", "ROLE");
	if (cfg->db)
		redisAsyncCommand(ac, setup_reply, "SELECT", "SELECT %d", cfg->db);
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		const struct script *s = script_get((enum script_id)i);
		redisAsyncCommand(ac, setup_reply, "SCRIPT LOAD", "SCRIPT LOAD %b", s->body, s->len);
	}
	redisAsyncCommand(ac, setup_reply, "ready", "PING");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	struct aredis *ar = cac->data;
	(void)status;
	ar->ac = NULL;
	int was_ready = ar->ready;
	ar->ready = 0;
	if (!ar->loop)
		return;  /* aredis_stop */
	ar->reconnects++;
	if (was_ready && ar->on_lost)
		ar->on_lost(ar);
	schedule_retry(ar, "redis connection lost", cac->errstr[0] ? cac->errstr : "closed");
}

/* --- Sentinel: +switch-master drops the connection, the reconnect re-asks */

static void watch_start(struct aredis *ar);

static void watch_retry_cb(uv_timer_t *t) { watch_start(t->data); }

static void on_switch(redisAsyncContext *wac, void *r, void *priv)
{
	struct aredis *ar = priv;
	redisReply *m = r;
	(void)wac;
	if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
	    m->element[0]->type != REDIS_REPLY_STRING || m->element[2]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = m->element[0]->str;  /* "subscribe", then each "message" */
	if (strcmp(kind, "message") ||
	    !switch_names_master(m->element[2]->str, m->element[2]->len, ar->cfg->master))
		return;
	log_info("sentinel switched the primary", "conn=%s switch=\"%s\"", ar->name,
		 m->element[2]->str);
	if (ar->ac) {
		redisAsyncDisconnect(ar->ac);
	} else if (ar->loop) {
		/* waiting out a backoff meant for the dead primary: go now */
		ar->backoff_ms = 0;
		uv_timer_start(&ar->retry, retry_cb, 0, 0);
	}
}

static void watch_connected(const redisAsyncContext *wac, int status)
{
	if (status != REDIS_OK) {
		struct aredis *ar = wac->data;
		ar->watch = NULL;  /* hiredis frees it; watch_lost is not called */
		if (ar->loop)
			uv_timer_start(&ar->watch_retry, watch_retry_cb, WATCH_RETRY_MS, 0);
	}
}

static void watch_lost(const redisAsyncContext *wac, int status)
{
	struct aredis *ar = wac->data;
	(void)status;
	ar->watch = NULL;
	if (!ar->loop)
		return;  /* aredis_stop */
	/* the next sentinel, in case this one is gone for good */
	ar->sentinel = (ar->sentinel + 1) % ar->cfg->naddrs;
	uv_timer_start(&ar->watch_retry, watch_retry_cb, WATCH_RETRY_MS, 0);
}

static void watch_start(struct aredis *ar)
{
	if (ar->watch || !ar->loop)
		return;
	const struct redis_addr *s = &ar->cfg->addrs[ar->sentinel];
	redisAsyncContext *wac = redisAsyncConnect(s->host, s->port);
	if (wac && !wac->err)
		wac->data = ar;
	if (!wac || wac->err || redis_uv_attach(wac, ar->loop) != REDIS_OK) {
		if (wac)
			redisAsyncFree(wac);
		uv_timer_start(&ar->watch_retry, watch_retry_cb, WATCH_RETRY_MS, 0);
		return;
	}
	redisAsyncSetConnectCallback(wac, watch_connected);
	redisAsyncSetDisconnectCallback(wac, watch_lost);
	redisAsyncCommand(wac, on_switch, ar, "SUBSCRIBE +switch-master");
	ar->watch = wac;
}

/* --- a READONLY answer: the primary was demoted under us */

static void demoted_cb(uv_timer_t *t)
{
	struct aredis *ar = t->data;
	if (ar->ac) {
		log_warn("redis primary demoted", "conn=%s error=\"READONLY\"", ar->name);
		redisAsyncDisconnect(ar->ac);
	}
}

/* Called by hiredis's reader in the middle of a reply: the owner's callbacks
 * still get their answers; the connection is dropped right after. */
static void demoted(void *arg)
{
	struct aredis *ar = arg;
	if (ar->loop)
		uv_timer_start(&ar->demote, demoted_cb, 0, 0);
}

/* --- connecting */

/* Where to connect: the URL's node, or the primary the sentinels name now.
 * 0, or -1 with the reason logged and a retry scheduled. */
static int pick_node(struct aredis *ar, const char **host, int *port)
{
	const struct redis_cfg *cfg = ar->cfg;
	*host = cfg->host;
	*port = cfg->port;
	if (cfg->topology != REDIS_SENTINEL)
		return 0;
	char why[800], line[840];
	if (sentinel_primary(cfg, &ar->primary, &ar->sentinel, why, sizeof why)) {
		snprintf(line, sizeof line, "sentinel: %s", why);
		schedule_retry(ar, "redis connect failed", line);
		return -1;
	}
	watch_start(ar);
	*host = ar->primary.host;
	*port = ar->primary.port;
	return 0;
}

static void connect_now(struct aredis *ar)
{
	const struct redis_cfg *cfg = ar->cfg;
	const char *host;
	int port;
	if (pick_node(ar, &host, &port))
		return;
	redisAsyncContext *ac = cfg->path[0] ? redisAsyncConnectUnix(cfg->path)
					     : redisAsyncConnect(host, port);
	if (!ac || ac->err) {
		schedule_retry(ar, "redis connect failed", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		return;
	}
	ac->data = ar;
	if (redis_uv_attach(ac, ar->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		schedule_retry(ar, "redis connect failed", "cannot watch the socket");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	watch_readonly(ac->c.reader, &ar->readonly);
	ar->ac = ac;
}

/* --- a Redis Cluster: the arcluster connects, authenticates and routes */

#define CLUSTER_TIMEOUT_MS 5000

static void load_scripts(redisAsyncContext *ac)
{
	for (int s = 0; ac && s < SCRIPT_COUNT; s++) {
		const struct script *sc = script_get((enum script_id)s);
		redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %b", sc->body, sc->len);
	}
}

static void cluster_ready(struct arcluster *c, int status)
{
	struct aredis *ar = arcluster_data(c);
	if (status != 0)
		die(100, "REDIS_URL: %s", arcluster_error(c));
	/* the scripts in every primary's cache: an EVALSHA between MULTI and
	 * EXEC (the relay's claim) cannot fall back to EVAL. Elsewhere a
	 * NOSCRIPT (a primary new since) is sent again as EVAL. */
	for (int i = 0; i < arcluster_map(c)->nnodes; i++)
		load_scripts(arcluster_primary_ctx(c, i));
	ar->ready = 1;
	log_info("redis connected", "conn=%s topology=cluster primaries=%d", ar->name,
		 arcluster_map(c)->nnodes);
	if (ar->on_ready)
		ar->on_ready(ar);
}

static void cluster_start(struct aredis *ar)
{
	const struct redis_cfg *cfg = ar->cfg;
	struct rcluster_opts o = { cfg->user, cfg->password,
				   ar->timeout_ms > 0 ? ar->timeout_ms : CLUSTER_TIMEOUT_MS, 0 };
	ar->cluster = arcluster_start(ar->loop, cfg->addrs, cfg->naddrs, &o, cluster_ready, ar);
}

void aredis_start(struct aredis *ar, uv_loop_t *loop, const struct redis_cfg *cfg,
		  const char *name)
{
	ar->loop = loop;
	ar->cfg = cfg;
	ar->name = name;
	ar->ac = NULL;
	ar->ready = 0;
	ar->backoff_ms = 0;
	ar->watch = NULL;
	ar->sentinel = 0;
	uv_timer_init(loop, &ar->retry);
	ar->retry.data = ar;
	uv_timer_init(loop, &ar->watch_retry);
	ar->watch_retry.data = ar;
	uv_timer_init(loop, &ar->demote);
	ar->demote.data = ar;
	ar->readonly = (struct readonly_watch){ demoted, ar };
	ar->cluster = NULL;
	if (cfg->topology == REDIS_CLUSTER)
		cluster_start(ar);
	else
		connect_now(ar);
}

void aredis_stop(struct aredis *ar)
{
	ar->loop = NULL;
	uv_timer_stop(&ar->retry);
	uv_timer_stop(&ar->watch_retry);
	uv_timer_stop(&ar->demote);
	if (ar->cluster)
		arcluster_stop(ar->cluster);
	ar->cluster = NULL;
	ar->ready = 0;
	if (ar->ac)
		redisAsyncDisconnect(ar->ac);
	if (ar->watch)
		redisAsyncDisconnect(ar->watch);
}

/* --- the calls, routed on a cluster */

/* A command on its way through the arcluster: the owner's callback, and
 * for an EVALSHA the command kept to be sent as EVAL after a NOSCRIPT (a
 * primary whose script cache never saw it). */
struct routed {
	struct aredis *ar;
	redisCallbackFn *cb;
	void *priv;
	enum script_id script;
	char *evalsha;               /* RESP; NULL when no script */
	size_t len;
};

static void routed_reply(struct arcluster *c, redisAsyncContext *from, redisReply *r, void *p);

static int route(struct aredis *ar, int argc, const char *const *argv, const size_t *lens,
		 const char *key, size_t keylen, struct routed *x)
{
	if (arcluster_command(ar->cluster, redis_cmd_flags(argc, argv, lens), key, keylen, argc,
			      argv, lens, routed_reply, x) == 0)
		return 0;
	free(x->evalsha);
	free(x);
	return -1;
}

static struct routed *routed_new(struct aredis *ar, redisCallbackFn *cb, void *priv)
{
	struct routed *x = xcalloc(1, sizeof *x);
	*x = (struct routed){ ar, cb, priv, SCRIPT_COUNT, NULL, 0 };
	return x;
}

/* 0: x went again as EVAL (or, the client stopping, is gone); -1: x is
 * still the caller's. */
static int resend_as_eval(struct routed *x)
{
	struct redis_argv a = { 0 };
	if (redis_argv_parse(x->evalsha, x->len, &a) <= 0 || a.argc < 2) {
		redis_argv_free(&a);
		return -1;
	}
	const struct script *s = script_get(x->script);
	a.argv[0] = "EVAL";
	a.lens[0] = 4;
	a.argv[1] = s->body;
	a.lens[1] = s->len;
	char *keep = x->evalsha;
	x->evalsha = NULL;   /* sent once as EVAL, not again */
	route(x->ar, a.argc, a.argv, a.lens, NULL, 0, x);
	free(keep);
	redis_argv_free(&a);
	return 0;
}

static void routed_reply(struct arcluster *c, redisAsyncContext *from, redisReply *r, void *p)
{
	struct routed *x = p;
	(void)c;
	if (x->evalsha && r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) &&
	    resend_as_eval(x) == 0)
		return;
	if (x->cb)
		x->cb(from, r, x->priv);
	free(x->evalsha);
	free(x);
}

/* Each command of a RESP buffer routed; x (cb) goes with the last one. */
static int route_formatted(struct aredis *ar, const char *cmd, size_t len, const char *key,
			   struct routed *x)
{
	struct redis_argv a = { 0 };
	size_t at = 0;
	int rc = 0;
	while (rc == 0 && at < len) {
		long used = redis_argv_parse(cmd + at, len - at, &a);
		if (used <= 0) {
			rc = -1;
			break;
		}
		at += (size_t)used;
		int last = at == len;
		rc = route(ar, a.argc, a.argv, a.lens, key, key ? strlen(key) : 0,
			   last ? x : routed_new(ar, NULL, NULL));
		if (last)
			x = NULL;
	}
	if (x) {
		free(x->evalsha);
		free(x);
	}
	redis_argv_free(&a);
	return rc;
}

int aredis_formatted(struct aredis *ar, redisCallbackFn *cb, void *priv, const char *cmd,
		     size_t len)
{
	if (!ar->ready)
		return -1;
	if (!ar->cluster)
		return ar->ac && redisAsyncFormattedCommand(ar->ac, cb, priv, cmd, len) == REDIS_OK ? 0 : -1;
	return route_formatted(ar, cmd, len, NULL, routed_new(ar, cb, priv));
}

static int vcommand(struct aredis *ar, const char *key, redisCallbackFn *cb, void *priv,
		    const char *fmt, va_list ap)
{
	if (!ar->ready)
		return -1;
	if (!ar->cluster)
		return ar->ac && redisvAsyncCommand(ar->ac, cb, priv, fmt, ap) == REDIS_OK ? 0 : -1;
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);
	if (len < 0)
		return -1;
	int rc = route_formatted(ar, cmd, (size_t)len, key, routed_new(ar, cb, priv));
	free(cmd);
	return rc;
}

int aredis_command(struct aredis *ar, redisCallbackFn *cb, void *priv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcommand(ar, NULL, cb, priv, fmt, ap);
	va_end(ap);
	return rc;
}

int aredis_command_on(struct aredis *ar, const char *key, redisCallbackFn *cb, void *priv,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcommand(ar, key, cb, priv, fmt, ap);
	va_end(ap);
	return rc;
}

int aredis_command_argv(struct aredis *ar, redisCallbackFn *cb, void *priv, int argc,
			const char **argv, const size_t *lens)
{
	if (!ar->ready)
		return -1;
	if (!ar->cluster)
		return ar->ac && redisAsyncCommandArgv(ar->ac, cb, priv, argc, argv, lens) == REDIS_OK
			? 0 : -1;
	return route(ar, argc, argv, lens, NULL, 0, routed_new(ar, cb, priv));
}

/* --- MULTI ... EXEC on one connection */

#define TX_RETRY_MS 5000

struct tx {
	struct aredis *ar;
	redisCallbackFn *cb;
	void *priv;
	char *key, *cmds;
	size_t len;
	uint64_t deadline;
	int backoff;
	uv_timer_t timer;
};

static void tx_free(uv_handle_t *h)
{
	struct tx *t = h->data;
	free(t->key);
	free(t->cmds);
	free(t);
}

static void tx_done(struct tx *t, redisAsyncContext *ac, redisReply *r)
{
	if (t->cb)
		t->cb(ac, r, t->priv);
	uv_close((uv_handle_t *)&t->timer, tx_free);
}

static void tx_reply(redisAsyncContext *ac, void *rv, void *priv);

/* A transaction goes straight to its slot's node, not through the routed
 * commands that read the slot map again when a node is gone: without this,
 * a killed primary stays its slots' owner in the map, and every later
 * transaction on them (a relay's resync) fails at once, forever. */
static void tx_node_gone(struct aredis *ar)
{
	if (ar->cluster)
		arcluster_refresh(ar->cluster);
}

/* Every command on the one connection: hiredis wants one callback a reply,
 * so cmds goes command by command. */
static int tx_send(struct tx *t)
{
	struct aredis *ar = t->ar;
	redisAsyncContext *ac = !ar->ready ? NULL : ar->cluster
		? arcluster_node(ar->cluster, t->key, strlen(t->key)) : ar->ac;
	if (!ac || redisAsyncCommand(ac, NULL, NULL, "MULTI") != REDIS_OK) {
		tx_node_gone(ar);
		return -1;
	}
	struct redis_argv a = { 0 };
	size_t at = 0;
	long used;
	while (at < t->len && (used = redis_argv_parse(t->cmds + at, t->len - at, &a)) > 0) {
		redisAsyncFormattedCommand(ac, NULL, NULL, t->cmds + at, (size_t)used);
		at += (size_t)used;
	}
	redis_argv_free(&a);
	return redisAsyncCommand(ac, tx_reply, t, "EXEC") == REDIS_OK ? 0 : -1;
}

static void tx_again(uv_timer_t *timer)
{
	struct tx *t = timer->data;
	if (tx_send(t))
		tx_done(t, NULL, NULL);
}

/* A cluster's slot moving under the transaction: queued commands met
 * MOVED or ASK, and EXEC discarded it all. */
static int tx_discarded(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR &&
	       (!strncmp(r->str, "EXECABORT", 9) || !strncmp(r->str, "MOVED ", 6) ||
		!strncmp(r->str, "ASK ", 4) || !strncmp(r->str, "TRYAGAIN", 8) ||
		!strncmp(r->str, "CLUSTERDOWN", 11));
}

static void tx_reply(redisAsyncContext *ac, void *rv, void *priv)
{
	struct tx *t = priv;
	struct aredis *ar = t->ar;
	if (ar->cluster && ar->loop && tx_discarded(rv) &&
	    uv_now(ar->loop) + (uint64_t)t->backoff <= t->deadline) {
		/* a NOSCRIPT (a primary new since the map was read) aborts it too */
		load_scripts(ac);
		arcluster_refresh(ar->cluster);
		uv_timer_start(&t->timer, tx_again, (uint64_t)t->backoff, 0);
		t->backoff = cluster_backoff_next(t->backoff);
		return;
	}
	if (!rv)
		tx_node_gone(ar);  /* its connection lost */
	tx_done(t, ac, rv);
}

int aredis_transaction(struct aredis *ar, const char *key, redisCallbackFn *cb, void *priv,
		       const char *cmds, size_t len)
{
	if (!ar->ready)
		return -1;
	struct tx *t = xcalloc(1, sizeof *t);
	*t = (struct tx){ .ar = ar, .cb = cb, .priv = priv, .key = xstrdup(key),
			  .cmds = xmalloc(len ? len : 1), .len = len,
			  .deadline = uv_now(ar->loop) + TX_RETRY_MS,
			  .backoff = CLUSTER_BACKOFF_FIRST_MS };
	memcpy(t->cmds, cmds, len);
	uv_timer_init(ar->loop, &t->timer);
	t->timer.data = t;
	if (tx_send(t) == 0)
		return 0;
	t->cb = NULL;
	uv_close((uv_handle_t *)&t->timer, tx_free);
	return -1;
}

void resp_add(struct strbuf *sb, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	int len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len > 0)
		sb_add(sb, cmd, (size_t)len);
	free(cmd);
}

int aredis_eval(struct aredis *ar, redisCallbackFn *cb, void *priv, enum script_id id,
		int nkeys, const char *const *keys, int nargs, const char *const *args,
		const size_t *lens)
{
	/* formatted here rather than by hiredis (a printf-like format per
	 * argument); hiredis copies it into its output buffer at once */
	static __thread struct strbuf cmd = STRBUF_INIT;
	if (!ar->ready)
		return -1;
	sb_reset(&cmd);
	script_resp(&cmd, id, nkeys, keys, nargs, args, lens);
	if (!ar->cluster)
		return aredis_formatted(ar, cb, priv, cmd.buf, cmd.len);
	struct routed *x = routed_new(ar, cb, priv);
	x->script = id;
	x->evalsha = xmalloc(cmd.len);
	memcpy(x->evalsha, cmd.buf, cmd.len);
	x->len = cmd.len;
	return route_formatted(ar, cmd.buf, cmd.len, NULL, x);
}

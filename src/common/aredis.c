#include "aredis.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis_sentinel.h"
#include "redis_uv.h"
#include "strbuf.h"

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
	if (strcmp(step, "ROLE") == 0 && role_is_master(reply, why, sizeof why)) {
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
	connect_now(ar);
}

void aredis_stop(struct aredis *ar)
{
	ar->loop = NULL;
	uv_timer_stop(&ar->retry);
	uv_timer_stop(&ar->watch_retry);
	uv_timer_stop(&ar->demote);
	if (ar->ac)
		redisAsyncDisconnect(ar->ac);
	if (ar->watch)
		redisAsyncDisconnect(ar->watch);
}

int aredis_eval(struct aredis *ar, redisCallbackFn *cb, void *priv, enum script_id id,
		int nkeys, const char *const *keys, int nargs, const char *const *args,
		const size_t *lens)
{
	/* formatted here rather than by hiredis (a printf-like format per
	 * argument); hiredis copies it into its output buffer at once */
	static __thread struct strbuf cmd = STRBUF_INIT;
	if (!ar->ready || !ar->ac)
		return -1;
	sb_reset(&cmd);
	script_resp(&cmd, id, nkeys, keys, nargs, args, lens);
	return redisAsyncFormattedCommand(ar->ac, cb, priv, cmd.buf, cmd.len) == REDIS_OK ? 0 : -1;
}

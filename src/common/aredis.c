#include "aredis.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis_uv.h"
#include "strbuf.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

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
	if (!reply)
		return;  /* disconnected meanwhile: on_disconnect handles it */
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

static void connect_now(struct aredis *ar)
{
	const struct redis_cfg *cfg = ar->cfg;
	redisAsyncContext *ac = cfg->path[0] ? redisAsyncConnectUnix(cfg->path)
					     : redisAsyncConnect(cfg->host, cfg->port);
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
	uv_timer_init(loop, &ar->retry);
	ar->retry.data = ar;
	connect_now(ar);
}

void aredis_stop(struct aredis *ar)
{
	ar->loop = NULL;
	uv_timer_stop(&ar->retry);
	if (ar->ac)
		redisAsyncDisconnect(ar->ac);
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

/* POST /api/chat's checks that live outside the session's partition, run
 * before enqueue.lua (doc/redis.md, "Two steps"): a live worker (nodes:ai),
 * then admit.lua on the user's slot (the rate counter, the user's replies
 * in flight, a reservation for the new reply). */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "redis_sync.h"

/* A reservation younger than this may still be on its way to enqueue.lua
 * in another process: the cleanup leaves it. */
#define RESERVATION_GRACE_MS 5000
#define CLEANUP_MAX 256
#define RATE_WINDOW_MS 60000

static redisReply *sent(struct api *api, redisReply *r, struct http_response *res)
{
	if (!r) {
		log_warn("redis command failed", "error=\"%s\"", rs_errstr(api->redis));
		api_drop_redis(api);
		api_unavailable(res, "redis is unreachable");
	}
	return r;
}

/* 0 if a worker's heartbeat is fresh, else -1 with res filled (503). */
static int live_worker(struct api *api, struct rs *c, int64_t now, struct http_response *res)
{
	char knodes[KEY_MAX];
	redisReply *r = sent(api, rs_command(c, "ZCOUNT %s %lld +inf", key_nodes_ai(knodes),
					       (long long)(now - api->cfg.node_stale_ms)), res);
	if (!r)
		return -1;
	int ok = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("worker check failed", "error=\"%s\"", r->str);
		api_unavailable(res, "could not enqueue the message");
	} else if (!ok)
		api_unavailable(res, "no AI worker is running");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static redisReply *run_admit(struct api *api, struct rs *c, const struct chat_request *cr,
			     const char *mid, int64_t now, int count, struct http_response *res)
{
	char krate[KEY_MAX], kstreams[KEY_MAX];
	const char *keys[] = { key_ratelimit_chat(krate, cr->user_id, (long long)(now / RATE_WINDOW_MS)),
			       key_streams_user(kstreams, cr->user_id) };
	char snow[24], srate[24], sleft[24], sstreams[24], sstale[24];
	snprintf(snow, sizeof snow, "%lld", (long long)now);
	snprintf(srate, sizeof srate, "%ld", api->cfg.chat_per_min);
	snprintf(sleft, sizeof sleft, "%lld", (long long)(RATE_WINDOW_MS - now % RATE_WINDOW_MS));
	snprintf(sstreams, sizeof sstreams, "%ld", api->cfg.streams_per_user);
	snprintf(sstale, sizeof sstale, "%ld", api->cfg.stream_stale_ms);
	const char *args[] = { mid, snow, srate, sleft, sstreams, sstale, count ? "1" : "0" };
	return sent(api, rs_eval(c, SCRIPT_ADMIT, 2, keys, 7, args, NULL), res);
}

/* Whether the reply is over, or was never enqueued: its meta has ended, or
 * there is none and the reservation is older than the grace. */
static int reservation_done(const redisReply *status, double score, int64_t now)
{
	if (status->type == REDIS_REPLY_NIL)
		return score < (double)(now - RESERVATION_GRACE_MS);
	return status->type == REDIS_REPLY_STRING && strcmp(status->str, "queued") != 0 &&
	       strcmp(status->str, "streaming") != 0;
}

/* Removes the user's reservations whose reply is over or never came: a
 * process that died between admit.lua and enqueue.lua (nothing was queued),
 * or a worker that died between finish.lua and its ZREM (the reply ended).
 * Returns how many it removed, or -1 when Redis failed (res filled). */
static int sweep(struct api *api, struct rs *c, const char *user, int64_t now,
		 struct http_response *res)
{
	char kstreams[KEY_MAX];
	key_streams_user(kstreams, user);
	redisReply *z = sent(api, rs_command(c, "ZRANGE %s 0 %d WITHSCORES", kstreams,
					       CLEANUP_MAX - 1), res);
	if (!z)
		return -1;
	int removed = 0;
	size_t n = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;
	for (size_t i = 0; i < n && removed >= 0; i++) {
		const redisReply *m = z->element[2 * i], *sc = z->element[2 * i + 1];
		if (m->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING)
			continue;
		char kmeta[KEY_MAX];
		redisReply *st = sent(api, rs_command(c, "HGET %s status", key_meta(kmeta, m->str)), res);
		if (!st) {
			removed = -1;
			break;
		}
		if (reservation_done(st, atof(sc->str), now)) {
			redisReply *d = sent(api, rs_command(c, "ZREM %s %s", kstreams, m->str), res);
			if (!d)
				removed = -1;
			else {
				removed++;
				freeReplyObject(d);
			}
		}
		freeReplyObject(st);
	}
	freeReplyObject(z);
	if (removed > 0)
		log_info("stale reservations removed", "user=%s count=%d", user, removed);
	return removed;
}

/* Fills res for an answer of admit.lua other than ok; -1 always. */
static int refused(struct api *api, const struct chat_request *cr, const redisReply *r,
		   struct http_response *res)
{
	const char *status = r->element[0]->str;
	const char *detail = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
	char msg[120];
	if (!strcmp(status, "rate_limited")) {
		snprintf(msg, sizeof msg, "more than %ld messages in a minute", api->cfg.chat_per_min);
		api_error(res, 429, "rate_limited", msg);
		long s = (atol(detail) + 999) / 1000;
		snprintf(res->headers, sizeof res->headers, "Retry-After: %ld\r\n", s > 0 ? s : 1);
		log_info("chat rate limited", "session=%s user=%s", cr->session_id, cr->user_id);
	} else if (!strcmp(status, "too_many_streams")) {
		snprintf(msg, sizeof msg, "%ld replies are already streaming for this user",
			 api->cfg.streams_per_user);
		api_error(res, 429, "rate_limited", msg);
		snprintf(res->headers, sizeof res->headers, "Retry-After: 2\r\n");
	} else
		api_unavailable(res, "could not enqueue the message");
	return -1;
}

static int well_formed(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	       r->element[0]->type == REDIS_REPLY_STRING;
}

int chat_admit(struct api *api, struct rs *c, const struct chat_request *cr, const char *mid,
	       int64_t now, struct http_response *res)
{
	if (live_worker(api, c, now, res))
		return -1;
	redisReply *r = run_admit(api, c, cr, mid, now, 1, res);
	if (r && well_formed(r) && !strcmp(r->element[0]->str, "too_many_streams")) {
		int swept = sweep(api, c, cr->user_id, now, res);
		if (swept != 0)
			freeReplyObject(r);
		if (swept < 0)
			return -1;
		if (swept > 0)  /* once more, the request already counted */
			r = run_admit(api, c, cr, mid, now, 0, res);
	}
	if (!r)
		return -1;
	int rc;
	if (!well_formed(r)) {
		log_error("admit failed", "user=%s error=\"%s\"", cr->user_id,
			  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		api_unavailable(res, "could not enqueue the message");
		rc = -1;
	} else
		rc = strcmp(r->element[0]->str, "ok") ? refused(api, cr, r, res) : 0;
	freeReplyObject(r);
	return rc;
}

void chat_admit_undo(struct api *api, const char *user, const char *mid)
{
	struct rs *c = api_redis(api);
	char kstreams[KEY_MAX];
	redisReply *r = c ? rs_command(c, "ZREM %s %s", key_streams_user(kstreams, user), mid) : NULL;
	if (r)
		freeReplyObject(r);
	else if (c)
		api_drop_redis(api);  /* the cleanup removes the reservation later */
}

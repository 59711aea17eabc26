/* GET /api/sessions (the caller's conversations, from the archive) and
 * DELETE /api/sessions/{S} (one conversation, from Redis and the archive). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "keys.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define SESSIONS_LIMIT_DEFAULT 50
#define SESSIONS_LIMIT_MAX 200
#define CURSOR_MAX (20 + 1 + ID_MAX)

/* A cursor is "<updated_at>:<session id>" of the last conversation of the
 * previous page, as next_cursor gave it. */
static int parse_cursor(const char *s, long long *updated, char sid[ID_MAX + 1])
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || colon - s > 19)
		return -1;
	for (const char *p = s; p < colon; p++)
		if (*p < '0' || *p > '9')
			return -1;
	if (!valid_id(colon + 1, strlen(colon + 1)))
		return -1;
	*updated = atoll(s);
	snprintf(sid, ID_MAX + 1, "%s", colon + 1);
	return 0;
}

void handle_sessions(struct api *api, const struct http_request *req, struct http_response *res)
{
	char user[ID_MAX + 1], cursor[CURSOR_MAX + 1], after_sid[ID_MAX + 1];
	long limit;
	long long after_updated = 0;
	if (api_reader(req, user, res) ||
	    api_query_long(req, "limit", SESSIONS_LIMIT_DEFAULT, 1, SESSIONS_LIMIT_MAX, &limit, res))
		return;
	int qc = query_get(req->query, "before", cursor, sizeof cursor);
	if (qc < 0 || (qc == 1 && parse_cursor(cursor, &after_updated, after_sid))) {
		api_error(res, 400, "invalid_request", "before must be a next_cursor of this endpoint");
		return;
	}
	if (!db_enabled(&api->archive)) {
		/* not a failure, a deployment without the list: a 200 that says so
		 * (null, not an empty list, so that no client takes it for "none") */
		res->status = 200;
		sb_adds(&res->body, "{\"sessions\":null,\"next_cursor\":null,\"archive\":\"none\"}");
		return;
	}
	struct strbuf list = STRBUF_INIT;
	char next[CURSOR_MAX + 1];
	if (db_sessions(&api->archive, user, after_updated, qc == 1 ? after_sid : NULL, limit,
			     &list, next, sizeof next) != DB_OK) {
		sb_release(&list);
		api_unavailable(res, "the archive is unreachable");
		return;
	}
	res->status = 200;
	sb_adds(&res->body, "{\"sessions\":");
	sb_add(&res->body, list.buf, list.len);
	if (next[0]) {
		sb_adds(&res->body, ",\"next_cursor\":");
		sb_add_json_str(&res->body, next, strlen(next));
	} else
		sb_adds(&res->body, ",\"next_cursor\":null");
	sb_addc(&res->body, '}');
	sb_release(&list);
}

/* Reads one reply; NULL (connection dropped) on an I/O error. */
static redisReply *reply(struct api *api)
{
	redisReply *r = NULL;
	if (rs_get_reply(api->redis, (void **)&r) != REDIS_OK) {
		log_warn("redis command failed", "error=\"%s\"", rs_errstr(api->redis));
		api_drop_redis(api);
		return NULL;
	}
	return r;
}

/* The keys of the session's replies: their meta and chunks live on for
 * CHUNK_TTL_S after they end, and GET /api/stream would still serve them. */
static void delete_message_keys(struct api *api, redisReply *hist)
{
	static const char pre[] = "{\"message_id\":\"";
	size_t pl = sizeof pre - 1, sent = 0;
	for (size_t i = 0; i < hist->elements; i++) {
		const redisReply *it = hist->element[i];
		if (it->type != REDIS_REPLY_STRING || it->len <= pl || memcmp(it->str, pre, pl))
			continue;
		char mid[ID_MAX + 1];
		const char *end = memchr(it->str + pl, '"', it->len - pl);
		size_t n = end ? (size_t)(end - (it->str + pl)) : 0;
		if (n == 0 || n > ID_MAX)
			continue;
		memcpy(mid, it->str + pl, n);
		mid[n] = '\0';
		char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], k4[KEY_MAX];
		rs_append(api->redis, "UNLINK %s %s %s %s", key_meta(k1, mid),
				   key_chunks(k2, mid), key_lock(k3, mid), key_cancel(k4, mid));
		sent++;
	}
	for (; sent > 0; sent--) {
		redisReply *r = reply(api);
		if (!r)
			return;
		freeReplyObject(r);
	}
}

enum delete_result { DELETED, UNKNOWN, FAILED };

/* The archive's part of a delete: 0, or -1 with res filled. */
static int delete_archived(struct api *api, const char *sid, const char *user,
			   struct http_response *res)
{
	if (!db_enabled(&api->archive) ||
	    db_delete(&api->archive, sid, user, (long long)now_ms()) == DB_OK)
		return 0;
	api_unavailable(res, "the archive is unreachable");
	return -1;
}

static void unwatch(struct api *api)
{
	redisReply *u = api->redis ? rs_command(api->redis, "UNWATCH") : NULL;
	if (u)
		freeReplyObject(u);
	else if (api->redis)
		api_drop_redis(api);
}

/* Deletes the session everywhere, unless a reply is streaming in it or it
 * is another user's. Redis's check and delete are one WATCH transaction, so
 * that a message posted in between makes it look again; the archive's part
 * runs between the two, so that when PostgreSQL fails nothing is deleted,
 * and a retry finds everything where it was. archived: the archive knows
 * the session (its owner checked already). */
static enum delete_result delete_everywhere(struct api *api, const char *sid, const char *user,
					    int archived, struct http_response *res)
{
	char ksession[KEY_MAX], khist[KEY_MAX];
	key_session(ksession, sid);
	key_history(khist, sid);
	for (int attempt = 0; attempt < 5; attempt++) {
		if (!api_redis(api))
			break;
		rs_append(api->redis, "WATCH %s %s", ksession, khist);
		rs_append(api->redis, "HMGET %s userId status", ksession);
		rs_append(api->redis, "LRANGE %s 0 -1", khist);
		redisReply *w = reply(api), *h = w ? reply(api) : NULL, *l = h ? reply(api) : NULL;
		if (!l) {
			if (w)
				freeReplyObject(w);
			if (h)
				freeReplyObject(h);
			break;
		}
		freeReplyObject(w);
		const char *owner = h->type == REDIS_REPLY_ARRAY && h->elements == 2 &&
				    h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : NULL;
		const char *status = owner && h->element[1]->type == REDIS_REPLY_STRING
					     ? h->element[1]->str : "";
		int in_redis = owner || (l->type == REDIS_REPLY_ARRAY && l->elements > 0);
		enum delete_result out = FAILED;
		int again = 0;
		if (!in_redis && !archived) {
			out = UNKNOWN;
		} else if (owner && strcmp(owner, user) != 0) {
			api_error(res, 403, "forbidden", "this conversation belongs to another user");
		} else if (!strcmp(status, "queued") || !strcmp(status, "streaming")) {
			api_error(res, 409, "stream_in_progress",
				  "a reply is still streaming in this conversation: cancel it first");
		} else if (delete_archived(api, sid, user, res) == 0) {
			rs_append(api->redis, "MULTI");
			rs_append(api->redis, "DEL %s %s", ksession, khist);
			rs_append(api->redis, "EXEC");
			redisReply *m = reply(api), *d = m ? reply(api) : NULL, *e = d ? reply(api) : NULL;
			if (e && e->type == REDIS_REPLY_ARRAY) {
				if (l->type == REDIS_REPLY_ARRAY)
					delete_message_keys(api, l);
				out = DELETED;
			} else if (e)
				again = 1;  /* something changed: look again */
			else
				api_unavailable(res, "redis is unreachable");
			if (m)
				freeReplyObject(m);
			if (d)
				freeReplyObject(d);
			if (e)
				freeReplyObject(e);
		}
		if (out != DELETED && !again)
			unwatch(api);
		freeReplyObject(h);
		freeReplyObject(l);
		if (!again)
			return out;
	}
	api_unavailable(res, api->redis ? "the conversation changed while it was deleted"
					: "redis is unreachable");
	return FAILED;
}

void handle_session_delete(struct api *api, const struct http_request *req, const char *sid,
			   struct http_response *res)
{
	char user[ID_MAX + 1], owner[ID_MAX + 1] = "";
	if (api_reader(req, user, res))
		return;
	int archived = 0;
	if (db_enabled(&api->archive)) {
		enum db_result r = db_owner(&api->archive, sid, owner);
		if (r == DB_DOWN) {
			api_unavailable(res, "the archive is unreachable");
			return;
		}
		archived = r == DB_OK;
		if (archived && strcmp(owner, user) != 0) {
			api_error(res, 403, "forbidden", "this conversation belongs to another user");
			return;
		}
	}
	enum delete_result d = delete_everywhere(api, sid, user, archived, res);
	if (d == FAILED)
		return;
	if (d == UNKNOWN) {
		api_error(res, 404, "not_found", "no such conversation");
		return;
	}
	log_info("session deleted", "session=%s user=%s", sid, user);
	res->status = 200;
	sb_addf(&res->body, "{\"session_id\":\"%s\",\"status\":\"deleted\"}", sid);
}

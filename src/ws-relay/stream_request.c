/* An HTTP stream's request: its path, format, position and caller
 * checked, then the Redis reads that find its message's session and owner
 * (or, for /stream/session/{S}, the session's reply in progress; for a
 * reply whose chunks expired, its history item), and the subscription that
 * streams it (see http_stream.h). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_stream.h"
#include "http_stream_int.h"
#include "keys.h"
#include "log.h"
#include "stream_format.h"
#include "strbuf.h"
#include "subscriber.h"
#include "util.h"
#include "xalloc.h"

#define MAX_INDEX 100000000L
#define SESSION_PREFIX "session/"

/* The message is known, the caller owns it and its position is within it:
 * the stream joins the message's session, with a resume from there. */
static void subscribe_stream(struct conn *c, const char *sid, long long created_ms)
{
	struct http_stream *hs = c->hs;
	snprintf(c->sid, sizeof c->sid, "%s", sid);
	stream_writer_init(&hs->w, hs->format, hs->mid, hs->model, created_ms / 1000);
	hs->next = hs->from;
	conn_recover(c, hs->mid, hs->from - 1);
	session_attach(c);
}

static const char *field(const redisReply *r, size_t i)
{
	return r && r->type == REDIS_REPLY_ARRAY && i < r->elements &&
		       r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

static int in_flight(const char *status)
{
	return status && (!strcmp(status, "queued") || !strcmp(status, "streaming"));
}

/* Whether a Redis reply is for a stream still waiting for it (a failed
 * read is answered here). */
static int still_waiting(struct conn *c, const redisReply *r)
{
	int ok = c->wsi && c->state != CONN_CLOSING;
	if (ok && (!r || r->type == REDIS_REPLY_ERROR)) {
		log_warn("stream lookup failed", "message=%s error=\"%s\"", c->hs->mid,
			 r ? r->str : "connection lost");
		stream_answer_json(c, 503, "unavailable", "Redis is unavailable: try again");
		ok = 0;
	}
	return ok;
}

/* Another user's message or session: counted as an auth failure. */
static void forbidden(struct conn *c, const char *why)
{
	relay.auth_failures++;
	stream_answer_json(c, 403, "forbidden", why);
}

/* A lookup's reply, handled only for a stream still waiting for it; then
 * the reference the lookup held is dropped. */
static void on_lookup(struct conn *c, const redisReply *r,
		      void (*handle)(struct conn *c, const redisReply *r))
{
	if (still_waiting(c, r))
		handle(c, r);
	conn_unref(c);
}

/* The reply's item in a page of history items, or NULL. */
static json_object *history_find(const redisReply *items, const char *mid)
{
	for (size_t i = 0; items && items->type == REDIS_REPLY_ARRAY && i < items->elements; i++) {
		const redisReply *it = items->element[i];
		if (it->type != REDIS_REPLY_STRING || !strstr(it->str, mid))
			continue;
		json_object *o = json_tokener_parse(it->str), *v;
		if (o && json_object_object_get_ex(o, "message_id", &v) &&
		    !strcmp(json_object_get_string(v), mid) && json_object_object_get_ex(o, "role", &v) &&
		    !strcmp(json_object_get_string(v), "assistant"))
			return o;
		json_object_put(o);
	}
	return NULL;
}

static enum stream_end end_of(const char *status)
{
	return !strcmp(status, "complete") ? SE_COMPLETE : !strcmp(status, "cancelled") ? SE_CANCELLED
											     : SE_ERROR;
}

/* The reply's whole text from its history item, then its end. */
static void answer_from_history(struct conn *c, json_object *item)
{
	struct http_stream *hs = c->hs;
	json_object *v;
	const char *text = json_object_object_get_ex(item, "content", &v) ? json_object_get_string(v) : "";
	const char *status = json_object_object_get_ex(item, "status", &v) ? json_object_get_string(v) : "";
	long long created = json_object_object_get_ex(item, "created_at", &v) ? json_object_get_int64(v) : 0;
	struct strbuf esc = STRBUF_INIT, sb = STRBUF_INIT;
	stream_writer_init(&hs->w, hs->format, hs->mid, hs->model, created / 1000);
	if (stream_begin(c))
		return;
	sb_add_json_chars(&esc, text, strlen(text));
	int status_code = stream_from_history(&hs->w, &sb, end_of(status), esc.buf ? esc.buf : "", esc.len);
	stream_finish(c, &sb, status_code);
	sb_release(&esc);
	sb_release(&sb);
}

/* MULTI, HGET session userId, LRANGE history (the last HISTORY_LIMIT),
 * EXEC: M's chunks have expired, the history has its final text. */
static void history_answer(struct conn *c, const redisReply *r)
{
	int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
	const char *owner = ok && r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : NULL;
	json_object *item = ok && owner ? history_find(r->element[1], c->hs->mid) : NULL;
	json_object *st;
	if (owner && strcmp(owner, c->uid) != 0)
		forbidden(c, "this session belongs to another user");
	else if (!item || !json_object_object_get_ex(item, "status", &st) ||
		   in_flight(json_object_get_string(st)))
		stream_answer_json(c, 404, "not_found", "unknown message, or its chunks have expired and it is "
			    "not in the last HISTORY_LIMIT messages of session_id");
	else
		answer_from_history(c, item);
	json_object_put(item);
}

static void history_read(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	on_lookup(priv, reply, history_answer);
}

static void lookup_history(struct conn *c)
{
	char ksess[KEY_MAX], khist[KEY_MAX];
	redisAsyncContext *ac = aredis_node(&relay.cmd, key_session(ksess, c->hs->hint));
	c->refs++;
	if (!ac) {
		history_read(NULL, NULL, c);
		return;
	}
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	redisAsyncCommand(ac, NULL, NULL, "HGET %s userId", ksess);
	redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %ld -1", key_history(khist, c->hs->hint),
			  -relay.cfg.history_limit);
	redisAsyncCommand(ac, history_read, c, "EXEC");
}

/* MULTI, HMGET meta session_id user_id status total_chunks created_at,
 * LLEN chunks, EXEC. */
static void meta_answer(struct conn *c, const redisReply *r)
{
	const redisReply *meta = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
	const char *sid = field(meta, 0), *owner = field(meta, 1), *status = field(meta, 2);
	const char *total = field(meta, 3), *created = field(meta, 4);
	long have = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? (long)r->element[1]->integer : 0;
	long count = in_flight(status) || !total ? have : atol(total);
	if (relay.stopping)
		stream_answer_json(c, 503, "unavailable", "node draining: try another");
	else if ((!sid || !valid_id(sid, strlen(sid))) && c->hs->hint[0] && c->hs->from == 0)
		lookup_history(c);
	else if (!sid || !valid_id(sid, strlen(sid)))
		stream_answer_json(c, 404, "not_found", "unknown message, or its chunks have expired (the "
			    "session's history has its text)");
	else if (owner && strcmp(owner, c->uid) != 0) {
		forbidden(c, "this message belongs to another user");
	} else if (c->hs->from > count) {
		char why[128];
		snprintf(why, sizeof why, "the position is past the end of the reply (%ld chunks)", count);
		stream_answer_json(c, 400, "invalid_request", why);
	} else
		subscribe_stream(c, sid, created ? atoll(created) : 0);
}

static void meta_read(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	on_lookup(priv, reply, meta_answer);
}

static void lookup_meta(struct conn *c)
{
	char kmeta[KEY_MAX], kchunks[KEY_MAX];
	redisAsyncContext *ac = aredis_node(&relay.cmd, key_meta(kmeta, c->hs->mid));
	c->refs++;
	if (!ac) {
		meta_read(NULL, NULL, c);
		return;
	}
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	redisAsyncCommand(ac, NULL, NULL, "HMGET %s session_id user_id status total_chunks created_at",
			  kmeta);
	redisAsyncCommand(ac, NULL, NULL, "LLEN %s", key_chunks(kchunks, c->hs->mid));
	redisAsyncCommand(ac, meta_read, c, "EXEC");
}

/* HMGET stream:session:{S} userId messageId status: the reply in progress,
 * or 204 when there is none. */
static void session_answer(struct conn *c, const redisReply *r)
{
	const char *owner = field(r, 0), *mid = field(r, 1), *status = field(r, 2);
	if (owner && strcmp(owner, c->uid) != 0) {
		forbidden(c, "this session belongs to another user");
	} else if (!mid || !in_flight(status) || !valid_message_id(mid, strlen(mid)))
		stream_answer_json(c, 204, NULL, NULL);
	else {
		snprintf(c->hs->mid, sizeof c->hs->mid, "%s", mid);
		if (relay.cmd.ready)
			lookup_meta(c);
		else
			stream_answer_json(c, 503, "unavailable", "Redis is unavailable: try again");
	}
}

static void session_read(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	on_lookup(priv, reply, session_answer);
}

static void lookup_session(struct conn *c)
{
	char ksess[KEY_MAX];
	c->refs++;
	if (aredis_command(&relay.cmd, session_read, c, "HMGET %s userId messageId status",
			   key_session(ksess, c->hs->session)))
		session_read(NULL, NULL, c);
}

/* A model name as OpenAI's objects carry it: what chat-fcgi passes on. */
static int valid_model(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-") == n;
}

/* A query argument into out: 1 found, 0 absent, -1 there but too long. */
static int query_arg(struct lws *wsi, const char *name, char *out, size_t outlen)
{
	static char big[4096];  /* lws's whole request head fits in less */
	if (!relay_urlarg(wsi, name, big, sizeof big))
		return 0;
	if (strlen(big) >= outlen)
		return -1;
	memcpy(out, big, strlen(big) + 1);
	return 1;
}

/* The position: Last-Event-ID (the last chunk the client holds; what a
 * reconnecting EventSource sends) wins over from= (the first chunk it
 * wants), which the URL it reconnects with still carries. */
static const char *parse_position(struct lws *wsi, long *from)
{
	char v[32];
	long n;
	int hl = lws_hdr_custom_length(wsi, "last-event-id:", 14);
	*from = 0;
	if (hl > 0) {
		if (hl >= (int)sizeof v || lws_hdr_custom_copy(wsi, v, sizeof v, "last-event-id:", 14) < 0 ||
		    parse_long(v, -1, MAX_INDEX, &n))
			return "Last-Event-ID must be a chunk index (-1 to 100000000)";
		*from = n + 1;
	} else if ((hl = query_arg(wsi, "from", v, sizeof v))) {
		if (hl < 0 || parse_long(v, 0, MAX_INDEX, &n))
			return "from must be a chunk index (0 to 100000000)";
		*from = n;
	}
	return NULL;
}

/* The path, format, position and model; NULL when they are good. */
static const char *parse_request(struct lws *wsi, struct http_stream *hs, const char *uri)
{
	const char *id = uri + 8;
	char v[ID_MAX + 1];
	if (!strncmp(id, SESSION_PREFIX, strlen(SESSION_PREFIX))) {
		id += strlen(SESSION_PREFIX);
		if (!valid_id(id, strlen(id)))
			return "a session id is 1-64 of [A-Za-z0-9_.:-]";
		snprintf(hs->session, sizeof hs->session, "%s", id);
	} else if (!valid_message_id(id, strlen(id)))
		return "a message id is 1-64 of [A-Za-z0-9_-]";
	else
		snprintf(hs->mid, sizeof hs->mid, "%s", id);
	hs->format = SF_SSE;
	int got = query_arg(wsi, "format", v, sizeof v);
	if (got < 0 || (got && stream_format_parse(v, &hs->format)))
		return "format is one of sse, ui, openai, openai-json";
	got = query_arg(wsi, "session_id", hs->hint, sizeof hs->hint);
	if (got < 0 || (got && !valid_id(hs->hint, strlen(hs->hint))))
		return "session_id: 1-64 of [A-Za-z0-9_.:-]";
	got = query_arg(wsi, "model", hs->model, sizeof hs->model);
	if (got < 0 || (got && !valid_model(hs->model)))
		return "model: 1-64 of [A-Za-z0-9_.:/-]";
	return parse_position(wsi, &hs->from);
}

static struct conn *stream_new(struct lws *wsi)
{
	struct conn *c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->wsi = wsi;
	c->cur.sent = c->cur.hist = -1;
	c->hs = xcalloc(1, sizeof *c->hs);
	stream_list_add(c);
	relay_client_addr(wsi, c->addr, sizeof c->addr);
	relay.nstreams++;
	return c;
}

int http_stream_request(struct lws *wsi, struct conn **slot, const char *uri)
{
	struct conn *c = stream_new(wsi);
	const char *why;
	*slot = c;
	/* a stream may wait long for its next chunk: lws's own timeouts are
	 * for requests, and the heartbeat keeps the connection in use */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (relay.stopping || !relay.cmd.ready || !subscriber_ready()) {
		stream_answer_json(c, 503, "unavailable", relay.stopping ? "node draining: try another"
								   : "Redis is unavailable: try again");
		return 0;
	}
	if ((why = parse_request(wsi, c->hs, uri))) {
		relay.bad_frames++;
		stream_answer_json(c, 400, "invalid_request", why);
		return 0;
	}
	int status = relay_authenticate(wsi, c->uid, &c->valid_until_s, &why);
	if (status) {
		stream_answer_json(c, status, status == 400 ? "invalid_request" : status == 401 ? "unauthorized"
											 : "forbidden", why);
		return 0;
	}
	if (c->hs->session[0])
		lookup_session(c);
	else
		lookup_meta(c);
	return 0;
}

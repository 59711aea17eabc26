/* A reply streamed over plain HTTP (see http_stream.h and doc/protocol.md,
 * "Streams over HTTP").
 *
 * A request is checked first (path, format, position, token, user), then
 * one Redis read finds the message's session, owner and length; only then
 * does the stream join its session as a subscriber, with a resume of the
 * message from the asked position waiting its turn. Headers go out with
 * the welcome frame, that is once the session's sync has passed the owner
 * and rate checks, so that a refusal before it can still be an HTTP status;
 * after it, the connection is simply cut and the client reconnects with
 * Last-Event-ID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_stream.h"
#include "keys.h"
#include "log.h"
#include "stream_format.h"
#include "strbuf.h"
#include "util.h"
#include "xalloc.h"

#define MAX_INDEX 100000000L
#define SESSION_PREFIX "session/"
#define TICK_MS 500

struct http_stream {
	struct stream_writer w;
	char mid[ID_MAX + 1];
	char session[ID_MAX + 1];     /* /stream/session/{S}: the session asked for */
	char model[ID_MAX + 1];
	enum stream_format format;
	long from;                    /* the first chunk to write */
	long next;                    /* the next chunk index due */
	int head_sent;
	int ended;                    /* the end event is written */
	int answer_status;            /* an answer of its own is due */
	const char *answer_type;
	struct strbuf answer;
	int64_t last_write_ms;        /* for the heartbeat: written to last then */
	struct conn *c;
	struct http_stream *lprev, *lnext;  /* every stream of this relay */
};

static struct http_stream *streams;

int http_stream_path(const char *uri) { return !strncmp(uri, "/stream/", 8); }

void http_stream_free(struct http_stream *hs)
{
	if (!hs)
		return;
	if (hs->lprev)
		hs->lprev->lnext = hs->lnext;
	else if (streams == hs)
		streams = hs->lnext;
	if (hs->lnext)
		hs->lnext->lprev = hs->lprev;
	stream_writer_release(&hs->w);
	sb_release(&hs->answer);
	free(hs);
}

static void answer_json(struct conn *c, int status, const char *code, const char *message)
{
	struct http_stream *hs = c->hs;
	sb_reset(&hs->answer);
	hs->answer_status = status;
	hs->answer_type = "application/json";
	if (code) {
		sb_addf(&hs->answer, "{\"error\":{\"code\":\"%s\",\"message\":", code);
		sb_add_json_str(&hs->answer, message, strlen(message));
		sb_adds(&hs->answer, "}}");
	}
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

int http_stream_answer_due(const struct conn *c) { return c->hs && c->hs->answer_status; }

/* The error status of a close before the stream began. */
static void answer_close_code(struct conn *c)
{
	switch (c->close_code) {
	case 4403:
		answer_json(c, 403, "forbidden", c->close_reason);
		break;
	case 4429:
		answer_json(c, 429, "rate_limited", c->close_reason);
		break;
	case 4401:
		answer_json(c, 401, "unauthorized", c->close_reason);
		break;
	case 1011:
		answer_json(c, 500, "internal", c->close_reason);
		break;
	default:
		answer_json(c, 503, "unavailable", c->close_reason);
		break;
	}
}

int http_stream_closing(struct conn *c)
{
	struct http_stream *hs = c->hs;
	if (hs->answer_status)
		return 1;
	if (hs->head_sent || hs->ended)
		return 0;
	answer_close_code(c);
	return 1;
}

int http_stream_answer(struct conn *c)
{
	struct http_stream *hs = c->hs;
	unsigned char head[LWS_PRE + 1024], *start = head + LWS_PRE, *p = start,
		      *end = head + sizeof head - 1;
	size_t n = hs->answer.len;
	struct lws *wsi = c->wsi;
	hs->answer_status = hs->answer_status == 204 && n ? 200 : hs->answer_status;
	if (lws_add_http_common_headers(wsi, (unsigned)hs->answer_status, hs->answer_type,
					n ? n : LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
	    (c->hs->mid[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-message-id:",
							  (const unsigned char *)hs->mid,
							  (int)strlen(hs->mid), &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	hs->answer_status = 0;
	if (!n)
		return 0;
	unsigned char *buf = xmalloc(LWS_PRE + n);
	memcpy(buf + LWS_PRE, hs->answer.buf, n);
	int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
	free(buf);
	sb_release(&hs->answer);
	return w == (int)n ? 0 : -1;
}

/* Bytes of the stream's body; -1 if the connection failed. */
static int write_body(struct conn *c, const struct strbuf *sb)
{
	if (!sb->len)
		return 0;
	unsigned char *buf = xmalloc(LWS_PRE + sb->len);
	memcpy(buf + LWS_PRE, sb->buf, sb->len);
	int w = lws_write(c->wsi, buf + LWS_PRE, sb->len, LWS_WRITE_HTTP);
	free(buf);
	if (w < 0)
		return -1;
	c->hs->last_write_ms = now_ms();
	c->frames_sent++;
	relay.frames_sent++;
	relay.bytes_sent += sb->len;
	return 0;
}


/* The headers, and what the format sends first. */
static int begin(struct conn *c)
{
	struct http_stream *hs = c->hs;
	unsigned char head[LWS_PRE + 1024], *start = head + LWS_PRE, *p = start,
		      *end = head + sizeof head - 1;
	struct lws *wsi = c->wsi;
	hs->head_sent = 1;
	if (stream_format_is_whole(hs->format))
		return 0;  /* its headers go with its one body */
#define HDR(name, value)                                                                           \
	lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)(value), \
				    (int)strlen(value), &p, end)
	if (lws_add_http_common_headers(wsi, 200, stream_format_content_type(hs->format),
					LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
	    HDR("cache-control:", "no-cache") || HDR("x-accel-buffering:", "no") ||
	    HDR("connection:", "close") || HDR("x-message-id:", hs->mid) ||
	    (hs->format == SF_UI && HDR("x-vercel-ai-ui-message-stream:", "v1")) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
#undef HDR
	hs->last_write_ms = now_ms();
	struct strbuf sb = STRBUF_INIT;
	stream_open(&hs->w, &sb);
	int rc = write_body(c, &sb);
	sb_release(&sb);
	return rc;
}

static int is_mine(const struct http_stream *hs, const struct frame_info *fi)
{
	return fi->message_id && fi->message_id_len == strlen(hs->mid) &&
	       !memcmp(fi->message_id, hs->mid, fi->message_id_len);
}

static int write_chunk(struct conn *c, const char *frame, size_t len, const struct frame_info *fi)
{
	struct http_stream *hs = c->hs;
	const char *text;
	size_t tl;
	if (fi->index < hs->next)
		return 0;  /* the client has it: a resume replays from its own position */
	if (frame_raw_string(frame, len, "content", &text, &tl)) {
		text = "";
		tl = 0;
	}
	if (fi->index > hs->next)
		log_warn("hole in an HTTP stream: its chunks are gone", "message=%s from=%ld to=%ld",
			 hs->mid, hs->next, fi->index);
	hs->next = fi->index + 1;
	struct strbuf sb = STRBUF_INIT;
	stream_chunk(&hs->w, &sb, fi->index, text, tl);
	int rc = write_body(c, &sb);
	sb_release(&sb);
	return rc;
}

/* The end of the reply: the end event, then the connection closes once it
 * has left (openai-json: its whole object is the answer). */
static int write_end(struct conn *c, const char *frame, size_t len, const struct frame_info *fi,
		     enum stream_end how)
{
	struct http_stream *hs = c->hs;
	const char *code = NULL, *msg = NULL;
	size_t cl = 0, ml = 0;
	if (how == SE_ERROR && (frame_raw_string(frame, len, "code", &code, &cl) ||
				frame_raw_string(frame, len, "message", &msg, &ml)))
		code = msg = NULL;
	struct strbuf sb = STRBUF_INIT;
	int status = stream_end(&hs->w, &sb, how, fi->total, code, cl, msg, ml);
	int rc = 0;
	hs->ended = 1;
	if (stream_format_is_whole(hs->format)) {
		sb_reset(&hs->answer);
		sb_add(&hs->answer, sb.buf, sb.len);
		hs->answer_status = status;
		hs->answer_type = "application/json";
	} else
		rc = write_body(c, &sb);
	sb_release(&sb);
	conn_close(c, 1000, "the reply has ended");
	return rc;
}

/* A resume found no such message any more (its chunks expired while the
 * stream was starting). */
static int write_gone(struct conn *c, const char *frame, size_t len)
{
	const char *st;
	size_t sl;
	if (frame_raw_string(frame, len, "status", &st, &sl) || sl != 9 || memcmp(st, "not_found", 9))
		return 0;
	struct frame_info fi = { .total = -1 };
	static const char gone[] =
		"{\"code\":\"not_found\",\"message\":\"the reply's chunks have expired\"}";
	return write_end(c, gone, sizeof gone - 1, &fi, SE_ERROR);
}

int http_stream_write(struct conn *c, struct msgbuf *m)
{
	struct http_stream *hs = c->hs;
	const char *frame = msgbuf_payload(m);
	struct frame_info own;
	const struct frame_info *fi = &m->fi;
	if (!m->peeked) {
		if (frame_peek(frame, m->len, &own))
			return 0;
		fi = &own;
	}
	if (hs->ended)
		return 0;
	if (fi->type == FT_WELCOME)
		return hs->head_sent ? 0 : begin(c);
	if (!hs->head_sent || !is_mine(hs, fi))
		return 0;
	switch (fi->type) {
	case FT_CHUNK:
		return write_chunk(c, frame, m->len, fi);
	case FT_COMPLETE:
		return write_end(c, frame, m->len, fi, SE_COMPLETE);
	case FT_CANCELLED:
		return write_end(c, frame, m->len, fi, SE_CANCELLED);
	case FT_ERROR:
		return write_end(c, frame, m->len, fi, SE_ERROR);
	case FT_RECOVERY_STATUS:
		return write_gone(c, frame, m->len);
	default:
		return 0;
	}
}

/* The heartbeat comment of an idle stream, and its token's expiry. */
static void stream_tick(struct conn *c)
{
	struct http_stream *hs = c->hs;
	if (!c->wsi || c->state == CONN_CLOSING || hs->ended || !hs->head_sent)
		return;
	if (c->valid_until_s && now_ms() / 1000 >= c->valid_until_s) {
		relay.token_expiries++;
		conn_close(c, 4401, "token expired");
		return;
	}
	if (now_ms() - hs->last_write_ms >= relay.cfg.stream_heartbeat_s * 1000 && c->q.len == 0 &&
	    !lws_partial_buffered(c->wsi)) {
		struct strbuf sb = STRBUF_INIT;
		stream_ping(&hs->w, &sb);
		if (write_body(c, &sb))
			conn_close(c, 1011, "write failed");
		sb_release(&sb);
	}
}

/* One timer for every stream: lws's per-connection timer does not reach
 * plain HTTP connections in the libuv build. */
static void tick_all(uv_timer_t *t)
{
	(void)t;
	for (struct http_stream *hs = streams; hs; hs = hs->lnext)
		stream_tick(hs->c);
}

static void list_add(struct conn *c)
{
	static uv_timer_t ticker;
	static int ticking;
	struct http_stream *hs = c->hs;
	hs->c = c;
	hs->lnext = streams;
	if (streams)
		streams->lprev = hs;
	streams = hs;
	if (!ticking) {
		ticking = 1;
		uv_timer_init(relay.loop, &ticker);
		uv_timer_start(&ticker, tick_all, TICK_MS, TICK_MS);
		uv_unref((uv_handle_t *)&ticker);  /* it keeps nothing alive */
	}
}

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

/* Whether a Redis reply is for a stream still waiting for it; drops the
 * reference its request held either way. */
static int still_waiting(struct conn *c, const redisReply *r)
{
	int ok = c->wsi && c->state != CONN_CLOSING;
	if (ok && (!r || r->type == REDIS_REPLY_ERROR)) {
		log_warn("stream lookup failed", "message=%s error=\"%s\"", c->hs->mid,
			 r ? r->str : "connection lost");
		answer_json(c, 503, "unavailable", "Redis is unavailable: try again");
		ok = 0;
	}
	return ok;
}

/* MULTI, HMGET meta session_id user_id status total_chunks created_at,
 * LLEN chunks, EXEC. */
static void meta_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct conn *c = priv;
	const redisReply *r = reply;
	(void)ac;
	if (!still_waiting(c, r)) {
		conn_unref(c);
		return;
	}
	const redisReply *meta = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
	const char *sid = field(meta, 0), *owner = field(meta, 1), *status = field(meta, 2);
	const char *total = field(meta, 3), *created = field(meta, 4);
	long have = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? (long)r->element[1]->integer : 0;
	long count = in_flight(status) || !total ? have : atol(total);
	if (!sid || !valid_id(sid, strlen(sid)))
		answer_json(c, 404, "not_found", "unknown message, or its chunks have expired");
	else if (owner && strcmp(owner, c->uid) != 0) {
		relay.auth_failures++;
		answer_json(c, 403, "forbidden", "this message belongs to another user");
	} else if (c->hs->from > count) {
		char why[128];
		snprintf(why, sizeof why, "the position is past the end of the reply (%ld chunks)", count);
		answer_json(c, 400, "invalid_request", why);
	} else
		subscribe_stream(c, sid, created ? atoll(created) : 0);
	conn_unref(c);
}

static void lookup_meta(struct conn *c)
{
	char kmeta[KEY_MAX], kchunks[KEY_MAX];
	redisAsyncContext *ac = relay.cmd.ac;
	c->refs++;
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	redisAsyncCommand(ac, NULL, NULL, "HMGET %s session_id user_id status total_chunks created_at",
			  key_meta(kmeta, c->hs->mid));
	redisAsyncCommand(ac, NULL, NULL, "LLEN %s", key_chunks(kchunks, c->hs->mid));
	redisAsyncCommand(ac, meta_read, c, "EXEC");
}

/* HMGET stream:session:{S} userId messageId status: the reply in progress,
 * or 204 when there is none. */
static void session_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct conn *c = priv;
	const redisReply *r = reply;
	(void)ac;
	if (!still_waiting(c, r)) {
		conn_unref(c);
		return;
	}
	const char *owner = field(r, 0), *mid = field(r, 1), *status = field(r, 2);
	if (owner && strcmp(owner, c->uid) != 0) {
		relay.auth_failures++;
		answer_json(c, 403, "forbidden", "this session belongs to another user");
	} else if (!mid || !in_flight(status) || !valid_message_id(mid, strlen(mid)))
		answer_json(c, 204, NULL, NULL);
	else {
		snprintf(c->hs->mid, sizeof c->hs->mid, "%s", mid);
		if (relay.cmd.ready)
			lookup_meta(c);
		else
			answer_json(c, 503, "unavailable", "Redis is unavailable: try again");
	}
	conn_unref(c);
}

static void lookup_session(struct conn *c)
{
	char ksess[KEY_MAX];
	c->refs++;
	redisAsyncCommand(relay.cmd.ac, session_read, c, "HMGET %s userId messageId status",
			  key_session(ksess, c->hs->session));
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
	list_add(c);
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
	if (relay.stopping || !relay.cmd.ready || !relay.sub.ready) {
		answer_json(c, 503, "unavailable", relay.stopping ? "node draining: try another"
								   : "Redis is unavailable: try again");
		return 0;
	}
	if ((why = parse_request(wsi, c->hs, uri))) {
		relay.bad_frames++;
		answer_json(c, 400, "invalid_request", why);
		return 0;
	}
	int status = relay_authenticate(wsi, c->uid, &c->valid_until_s, &why);
	if (status) {
		answer_json(c, status, status == 400 ? "invalid_request" : status == 401 ? "unauthorized"
											 : "forbidden", why);
		return 0;
	}
	if (c->hs->session[0])
		lookup_session(c);
	else
		lookup_meta(c);
	return 0;
}

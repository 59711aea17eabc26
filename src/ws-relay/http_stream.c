/* A reply streamed over plain HTTP (see http_stream.h and doc/protocol.md,
 * "Streams over HTTP"): what a stream writes. stream_request.c opens it.
 *
 * A request is checked first (path, format, position, token, user), then
 * one Redis read finds the message's session, owner and length; only then
 * does the stream join its session as a subscriber, with a resume of the
 * message from the asked position waiting its turn. Headers go out with
 * the welcome frame, that is once the session's sync has passed the owner
 * and rate checks, so that a refusal before it can still be an HTTP status;
 * after it, the connection is simply cut and the client reconnects with
 * Last-Event-ID. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_stream.h"
#include "http_stream_int.h"
#include "keys.h"
#include "log.h"
#include "stream_format.h"
#include "strbuf.h"
#include "util.h"
#include "xalloc.h"

#define TICK_MS 500

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

void stream_answer_json(struct conn *c, int status, const char *code, const char *message)
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
		stream_answer_json(c, 403, "forbidden", c->close_reason);
		break;
	case 4429:
		stream_answer_json(c, 429, "rate_limited", c->close_reason);
		break;
	case 4401:
		stream_answer_json(c, 401, "unauthorized", c->close_reason);
		break;
	case 1011:
		stream_answer_json(c, 500, "internal", c->close_reason);
		break;
	default:
		stream_answer_json(c, 503, "unavailable", c->close_reason);
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

/* len bytes of the stream's body at p, LWS_PRE bytes of room before them. */
static int write_body_at(struct conn *c, unsigned char *p, size_t len)
{
	if (lws_write(c->wsi, p, len, LWS_WRITE_HTTP) < 0)
		return -1;
	c->hs->last_write_ms = now_ms();
	c->frames_sent++;
	relay.frames_sent++;
	relay.bytes_sent += len;
	return 0;
}

/* Bytes of the stream's body; -1 if the connection failed. */
int stream_write_body(struct conn *c, const struct strbuf *sb)
{
	if (!sb->len)
		return 0;
	unsigned char *buf = xmalloc(LWS_PRE + sb->len);
	memcpy(buf + LWS_PRE, sb->buf, sb->len);
	int rc = write_body_at(c, buf + LWS_PRE, sb->len);
	free(buf);
	return rc;
}

/* A chunk frame's event in each shareable format (stream_chunk_shareable),
 * made by the first of the message's streams in that format that writes
 * it, then written as it is by the others: several readers of one reply
 * (a user's tabs) cost one formatting and one send() each. Each event has
 * LWS_PRE bytes of room before it, for lws_write. */
struct msg_events {
	struct strbuf of[SF_OPENAI_JSON + 1];  /* by format; empty until made */
};

void msg_events_free(struct msg_events *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < sizeof e->of / sizeof e->of[0]; i++)
		sb_release(&e->of[i]);
	free(e);
}


/* The headers, and what the format sends first. */
int stream_finish(struct conn *c, const struct strbuf *sb, int status)
{
	struct http_stream *hs = c->hs;
	int rc = 0;
	hs->ended = 1;
	if (stream_format_is_whole(hs->format)) {
		sb_reset(&hs->answer);
		sb_add(&hs->answer, sb->buf, sb->len);
		hs->answer_status = status;
		hs->answer_type = "application/json";
	} else
		rc = stream_write_body(c, sb);
	conn_close(c, 1000, "the reply has ended");
	return rc;
}

int stream_begin(struct conn *c)
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
	/* Nothing more comes from the client of a stream (it closes at the end).
	 * lws does not read an HTTP connection in the middle of its transaction,
	 * so a client that hung up would stay readable (its FIN) and wake the
	 * loop again and again until the next write found it gone: the relay
	 * spun for up to STREAM_HEARTBEAT_S per closed tab. Not polled for
	 * reading, it is found gone by that write (or the heartbeat's); reading
	 * comes back on for the close (conn_close). */
	lws_rx_flow_control(wsi, 0 | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
	hs->last_write_ms = now_ms();
	struct strbuf sb = STRBUF_INIT;
	stream_open(&hs->w, &sb);
	int rc = stream_write_body(c, &sb);
	sb_release(&sb);
	return rc;
}

static int is_mine(const struct http_stream *hs, const struct frame_info *fi)
{
	return fi->message_id && fi->message_id_len == strlen(hs->mid) &&
	       !memcmp(fi->message_id, hs->mid, fi->message_id_len);
}

/* The chunk frame's event, as w makes it, after what out holds. */
static void format_chunk(struct stream_writer *w, struct strbuf *out, const char *frame, size_t len,
			 long index)
{
	const char *text;
	size_t tl;
	if (frame_raw_string(frame, len, "content", &text, &tl)) {
		text = "";
		tl = 0;
	}
	stream_chunk(w, out, index, text, tl);
}

/* A chunk in a shareable format: formatted by the first stream, reused by the rest. */
static int write_shared_chunk(struct conn *c, struct msgbuf *m, const char *frame, long index)
{
	static const char room[LWS_PRE];
	struct http_stream *hs = c->hs;
	if (!m->events)
		m->events = xcalloc(1, sizeof *m->events);
	struct strbuf *ev = &m->events->of[hs->format];
	if (ev->len) {
		stream_chunk_reused(&hs->w);
	} else {
		sb_add(ev, room, LWS_PRE);
		format_chunk(&hs->w, ev, frame, m->len, index);
	}
	return write_body_at(c, (unsigned char *)ev->buf + LWS_PRE, ev->len - LWS_PRE);
}

static int write_chunk(struct conn *c, struct msgbuf *m, const char *frame, const struct frame_info *fi)
{
	struct http_stream *hs = c->hs;
	if (fi->index < hs->next)
		return 0;  /* the client has it: a resume replays from its own position */
	if (fi->index > hs->next)
		log_warn("hole in an HTTP stream: its chunks are gone", "message=%s from=%ld to=%ld",
			 hs->mid, hs->next, fi->index);
	hs->next = fi->index + 1;
	if (stream_chunk_shareable(hs->format))
		return write_shared_chunk(c, m, frame, fi->index);
	struct strbuf sb = STRBUF_INIT;
	format_chunk(&hs->w, &sb, frame, m->len, fi->index);
	int rc = stream_write_body(c, &sb);
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
	int rc = stream_finish(c, &sb, status);
	sb_release(&sb);
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
		return hs->head_sent ? 0 : stream_begin(c);
	if (!hs->head_sent || !is_mine(hs, fi))
		return 0;
	switch (fi->type) {
	case FT_CHUNK:
		return write_chunk(c, m, frame, fi);
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

/* Whether the client's end is gone (it reset, or closed and the kernel has
 * refused our writes since). A stream's client sends nothing after its
 * request, and lws reads nothing in the middle of an HTTP transaction, so
 * lws does not notice: a write that fails leaves the connection waiting for
 * a WRITEABLE that a dead socket never gets, while its hang-up wakes the
 * loop at once, every time, for good. A half-close (FIN only) is not this:
 * a client may still be reading. */
static int peer_gone(struct conn *c)
{
	struct pollfd p = { .fd = (int)lws_get_socket_fd(c->wsi), .events = 0 };
	return p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* The heartbeat comment of an idle stream, and its token's expiry; a
 * stream whose client is gone is closed by lws (it calls CLOSED_HTTP). */
static void stream_tick(struct conn *c)
{
	struct http_stream *hs = c->hs;
	if (!c->wsi)
		return;
	if (peer_gone(c)) {
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	if (c->state == CONN_CLOSING || hs->ended || !hs->head_sent)
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
		if (stream_write_body(c, &sb))
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

void stream_list_add(struct conn *c)
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

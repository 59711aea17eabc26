/* One WebSocket: its admission, its bounded send queue, the frames a client
 * may send, and the callback that hands lws's events to the sockets, the
 * HTTP streams (http_stream.h) and the plain HTTP routes (http_plain.h).
 *
 * A frame goes out at once when nothing waits before it; otherwise it
 * queues, and queued frames go out from LWS_CALLBACK_SERVER_WRITEABLE, one
 * per callback. Every socket that sends a frame holds a reference to the
 * one buffer it is built in (struct msgbuf). A socket whose queue passes
 * its bound is closed with 4408: one slow reader never holds memory or time
 * that the other sockets need, and it recovers what it missed when it
 * reconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client_frame.h"
#include "frame.h"
#include "http_plain.h"
#include "http_stream.h"
#include "log.h"
#include "relay.h"
#include "strbuf.h"
#include "util.h"
#include "xalloc.h"

#define CLOSE_FLUSH_S 10
/* The close opcode for lws_write(): lws-write.h reserves the value 4 for it
 * but leaves it out of the public enum (see write_close). */
#define LWS_WRITE_CLOSE_FRAME ((enum lws_write_protocol)4)

struct pss {
	struct conn *c;
	struct http_plain http;       /* an answer that is not a stream's */
};

const size_t relay_pss_size = sizeof(struct pss);

struct msgbuf *msgbuf_new(const char *payload, size_t len)
{
	struct msgbuf *m = xmalloc(sizeof *m + LWS_PRE + len);
	m->refs = 1;
	m->len = len;
	m->peeked = 0;
	m->events = NULL;
	memcpy(m->data + LWS_PRE, payload, len);
	return m;
}

struct msgbuf *msgbuf_new_peeked(const char *payload, size_t len)
{
	struct msgbuf *m = msgbuf_new(payload, len);
	m->peeked = frame_peek(msgbuf_payload(m), len, &m->fi) == 0;
	return m;
}

void msgbuf_unref(struct msgbuf *m)
{
	if (m && --m->refs == 0) {
		msg_events_free(m->events);
		free(m);
	}
}

/* The send queue and its counts (this socket's and the relay's), kept
 * together in one place. */
static void queue_push(struct conn *c, struct msgbuf *m)
{
	m->refs++;
	fifo_push(&c->q, m);
	c->qbytes += m->len;
	relay.queued_frames++;
	relay.queued_bytes += (long)m->len;
}

static struct msgbuf *queue_pop(struct conn *c)
{
	struct msgbuf *m = fifo_pop(&c->q);
	if (m) {
		c->qbytes -= m->len;
		relay.queued_frames--;
		relay.queued_bytes -= (long)m->len;
	}
	return m;
}

static void queue_clear(struct conn *c)
{
	struct msgbuf *m;
	while ((m = queue_pop(c)))
		msgbuf_unref(m);
}

/* Held frames are freed only with the conn: drain_held may be walking them
 * when a send closes the socket. */
void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	queue_clear(c);
	for (size_t i = 0; i < c->nheld; i++)
		msgbuf_unref(c->held[i]);
	fifo_release(&c->q);
	conn_sync_release(c);
	http_stream_free(c->hs);
	free(c->held);
	free(c->rx);
	free(c);
}

void conn_close(struct conn *c, int code, const char *reason)
{
	if (!c->wsi || c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->close_code = code;
	c->close_reason = reason;
	queue_clear(c);
	if (c->hs)  /* lws does not hang up a connection it may not read (stream_begin) */
		lws_rx_flow_control(c->wsi, 1 | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
	lws_callback_on_writable(c->wsi);
}

int queue_has_room(const struct conn *c, size_t len)
{
	return c->q.len == 0 || ((long)c->q.len < relay.cfg.queue_frames &&
				(long)(c->qbytes + len) <= relay.cfg.queue_bytes);
}

int queue_drained(const struct conn *c)
{
	return (long)c->q.len <= relay.cfg.queue_frames / 2 &&
	       (long)c->qbytes <= relay.cfg.queue_bytes / 2;
}

void conn_too_slow(struct conn *c)
{
	relay.slow_closes++;
	log_warn("slow consumer closed", "session=%s queued=%zu bytes=%zu held=%zu", c->sid, c->q.len,
		 c->qbytes, c->nheld);
	conn_close(c, 4408, "too slow: reconnect and recover");
}

/* Writes one frame to the socket; -1 if the socket failed. */
static int write_frame(struct conn *c, struct msgbuf *m)
{
	if (m->peeked && m->fi.ts > 0 && m->fi.type == FT_CHUNK) {
		int64_t ms = now_ms() - m->fi.ts;
		prom_hist_observe(&relay.latency, ms > 0 ? (double)ms / 1000 : 0);
	}
	if (c->hs)
		return http_stream_write(c, m);
	if (lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < 0)
		return -1;
	c->frames_sent++;
	relay.frames_sent++;
	relay.bytes_sent += m->len;
	return 0;
}

int conn_send(struct conn *c, struct msgbuf *m)
{
	if (!c->wsi || c->state == CONN_CLOSING)
		return -1;
	if (c->q.len == 0 && !lws_partial_buffered(c->wsi)) {
		/* Nothing waits before it: write now. Asking lws for a WRITEABLE
		 * callback instead costs an epoll_ctl and a poll() per frame, four
		 * times the write itself. What the kernel does not take, lws keeps
		 * as a partial, and frames after it queue. */
		if (write_frame(c, m) == 0)
			return 0;
		conn_close(c, 1011, "write failed");  /* lws closes it when the close fails too */
		return -1;
	}
	if (!queue_has_room(c, m->len)) {
		conn_too_slow(c);
		return -1;
	}
	queue_push(c, m);
	if (c->q.len == 1)
		lws_callback_on_writable(c->wsi);
	return 0;
}

int conn_send_text(struct conn *c, const char *s, size_t len)
{
	struct msgbuf *m = msgbuf_new(s, len);
	int rc = conn_send(c, m);
	msgbuf_unref(m);
	return rc;
}

/* Sends the close frame, then hangs up once it has left. Debian's
 * libwebsockets 4.1 is a debug build whose libuv path closes a socket twice
 * when a WRITEABLE callback returns -1, and the second close drops the frame
 * that lws_close_reason() prepared: clients saw 1006 instead of our code. */
static int write_close(struct conn *c)
{
	unsigned char buf[LWS_PRE + 125];
	size_t rl = strlen(c->close_reason);
	if (c->close_sent)
		return -1;  /* lws calls us only once what it buffered is written */
	if (rl > sizeof buf - LWS_PRE - 2)
		rl = sizeof buf - LWS_PRE - 2;
	buf[LWS_PRE] = (unsigned char)(c->close_code >> 8);
	buf[LWS_PRE + 1] = (unsigned char)c->close_code;
	memcpy(buf + LWS_PRE + 2, c->close_reason, rl);
	if (lws_write(c->wsi, buf + LWS_PRE, rl + 2, LWS_WRITE_CLOSE_FRAME) < 0)
		return -1;
	c->close_sent = 1;
	/* a client that does not read gets its TCP connection cut instead */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_FLUSH_S);
	lws_callback_on_writable(c->wsi);
	return 0;
}

static int write_one(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return c->hs ? -1 : write_close(c);
	struct msgbuf *m = queue_pop(c);
	if (!m)
		return 0;
	int rc = write_frame(c, m);
	msgbuf_unref(m);
	if (rc < 0)
		return -1;
	if (c->fill && queue_drained(c))
		conn_fill_resume(c);
	if (c->q.len)
		lws_callback_on_writable(c->wsi);
	return 0;
}

void conn_send_built(struct conn *c, struct strbuf *sb)
{
	conn_send_text(c, sb->buf, sb->len);
	sb_reset(sb);
}

static void renew_token(struct conn *c, const char *token);

/* A frame from the client. Bad input closes only this socket (4400), and
 * so does a flood (1008). */
static void client_frame(struct conn *c, const char *buf, size_t len)
{
	int64_t second = mono_us() / 1000000;
	if (second != c->rx_second) {
		c->rx_second = second;
		c->rx_frames = 0;
	}
	if (++c->rx_frames > relay.cfg.client_fps) {
		relay.bad_frames++;
		conn_close(c, 1008, "too many frames: slow down");
		return;
	}
	static struct client_msg m;  /* a token may be JWT_MAX bytes: not on the stack */
	struct strbuf answer = STRBUF_INIT;
	switch (client_frame_parse(buf, len, &m)) {
	case CLIENT_BAD:
		relay.bad_frames++;
		conn_close(c, 4400, "frames must be JSON objects");
		break;
	case CLIENT_BAD_RECONNECT:
		relay.bad_frames++;
		conn_close(c, 4400, "reconnect needs messageId and lastChunkIndex");
		break;
	case CLIENT_PING:
		frame_pong(&answer);
		break;
	case CLIENT_HEARTBEAT:
		frame_heartbeat_ack(&answer);
		break;
	case CLIENT_BAD_AUTH:
		relay.bad_frames++;
		conn_close(c, 4400, "auth needs a token");
		break;
	case CLIENT_RECONNECT:
		conn_recover(c, m.mid, m.last);
		break;
	case CLIENT_AUTH:
		renew_token(c, m.token);
		break;
	case CLIENT_UNKNOWN:
		frame_error(&answer, c->sid, NULL, "unknown_type",
			    "expected reconnect, auth, heartbeat or ping");
		relay.bad_frames++;
		break;
	}
	if (answer.len)
		conn_send_built(c, &answer);
	sb_release(&answer);
}

static int path_ok(struct lws *wsi)
{
	char uri[128];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		return 0;
	return !strcmp(uri, "/ws/chat") || !strcmp(uri, "/ws/chat/v2") || !strcmp(uri, "/ws/chat/") ||
	       !strcmp(uri, "/ws/chat/v2/");
}

/* Reads name from the query string into out; 1 found, 0 absent or bad. */
int relay_urlarg(struct lws *wsi, const char *name, char *out, size_t outlen)
{
	char buf[JWT_MAX + 64];
	char key[32];
	snprintf(key, sizeof key, "%s=", name);
	const char *v = lws_get_urlarg_by_name(wsi, key, buf, sizeof buf);
	if (!v || strlen(v) >= outlen)
		return 0;
	snprintf(out, outlen, "%s", v);
	return 1;
}

/* The token as an Authorization header (what nginx makes of the
 * subprotocol bearer.TOKEN that a browser offers, keeping it out of URLs and
 * access logs), else token= on the URL. is_header tells which it is. */
static int bearer_token(struct lws *wsi, char *out, size_t outlen, int *is_header)
{
	*is_header = lws_hdr_copy(wsi, out, (int)outlen, WSI_TOKEN_HTTP_AUTHORIZATION) > 0;
	return *is_header || relay_urlarg(wsi, "token", out, outlen);
}

/* The client's address: what nginx in front says (relays listen only where
 * nginx reaches them), else the peer's own. */
void relay_client_addr(struct lws *wsi, char *out, size_t outlen)
{
	char xff[128];
	out[0] = '\0';
	if (lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) > 0) {
		char *last = strrchr(xff, ',');
		char *a = last ? last + 1 : xff;
		a += strspn(a, " ");
		snprintf(out, outlen, "%s", a);
	} else
		lws_get_peer_simple(wsi, out, outlen);
	/* it becomes part of a Redis key: hex digits, dots and colons only */
	if (!out[0] || strspn(out, "0123456789abcdefABCDEF.:") != strlen(out))
		snprintf(out, outlen, "unknown");
}

/* Arms the socket's timer for its token's expiry. */
static void arm_expiry(struct conn *c)
{
	int64_t left_s = c->valid_until_s - now_ms() / 1000;
	if (left_s < 0)
		left_s = 0;
	if (left_s > 365L * 86400)
		left_s = 365L * 86400;  /* tokens that never expire in practice */
	lws_set_timer_usecs(c->wsi, (lws_usec_t)left_s * LWS_US_PER_SEC + LWS_US_PER_SEC / 2);
}

static void token_timer(struct conn *c)
{
	if (!c || !c->wsi || c->state == CONN_CLOSING || !c->valid_until_s)
		return;
	if (now_ms() / 1000 < c->valid_until_s) {
		arm_expiry(c);  /* renewed meanwhile, or the timer fired early */
		return;
	}
	relay.token_expiries++;
	log_info("token expired", "session=%s user=%s", c->sid, c->uid);
	conn_close(c, 4401, "token expired: reconnect or send auth with a fresh token");
}

static void send_auth_ok(struct conn *c, int64_t valid_until_s)
{
	struct strbuf sb = STRBUF_INIT;
	frame_auth_ok(&sb, valid_until_s);
	conn_send_built(c, &sb);
	sb_release(&sb);
}

/* {"type":"auth","token":T}: a fresh token of the same user keeps the
 * socket open past the old one's expiry. */
static void renew_token(struct conn *c, const char *token)
{
	char user[ID_MAX + 1];
	int64_t until = 0;
	if (!relay.auth.enabled) {
		send_auth_ok(c, 0);  /* without tokens a socket never expires */
		return;
	}
	enum jwt_result r = auth_check_until(&relay.auth, token, 0, user, &until);
	if (r != JWT_OK) {
		relay.auth_failures++;
		conn_close(c, 4401, r == JWT_EXPIRED ? "token expired" : "a valid token is required");
		return;
	}
	if (strcmp(user, c->uid) != 0) {
		relay.auth_failures++;
		conn_close(c, 4403, "the token is another user's");
		return;
	}
	c->valid_until_s = until;
	arm_expiry(c);
	send_auth_ok(c, until);
}

/* Refuses a socket at once: the close frame goes out as we return -1. */
static int refuse(struct lws *wsi, int code, const char *reason)
{
	lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
	return -1;
}

/* The caller's user: the token's (bearer header or token=), which user_id
 * must match if given, or user_id itself in development mode. Returns 0, or
 * the HTTP status of the refusal (400, 401, 403) with why. */
int relay_authenticate(struct lws *wsi, char uid[ID_MAX + 1], int64_t *valid_until,
		       const char **why)
{
	int has_uid = relay_urlarg(wsi, "user_id", uid, ID_MAX + 1);
	*valid_until = 0;
	if ((has_uid && !valid_id(uid, strlen(uid))) || (!has_uid && !relay.auth.enabled)) {
		relay.bad_frames++;
		*why = "user_id: 1-64 of [A-Za-z0-9_.:-]";
		return 400;
	}
	if (!relay.auth.enabled)
		return 0;
	char token[JWT_MAX + 16], user[ID_MAX + 1];
	int is_header;
	enum jwt_result r = bearer_token(wsi, token, sizeof token, &is_header)
				    ? auth_check_until(&relay.auth, token, is_header, user, valid_until)
				    : JWT_MALFORMED;
	if (r != JWT_OK) {
		relay.auth_failures++;
		log_info("unauthorized", "reason=\"%s\"", jwt_result_text(r));
		*why = r == JWT_EXPIRED ? "token expired" : "a valid token is required";
		return 401;
	}
	if (has_uid && strcmp(uid, user) != 0) {
		relay.auth_failures++;
		*why = "user_id is not the token's user";
		return 403;
	}
	memcpy(uid, user, sizeof user);
	return 0;
}

static int established(struct lws *wsi, struct pss *pss)
{
	char sid[ID_MAX + 1], uid[ID_MAX + 1], mid[ID_MAX + 1], last[24];
	const char *why;
	long li = -1;
	if (relay.stopping)
		return refuse(wsi, 1001, "node draining: reconnect");
	if (!path_ok(wsi))
		return refuse(wsi, 4400, "unknown path: use /ws/chat");
	if (!relay_urlarg(wsi, "session_id", sid, sizeof sid) || !valid_id(sid, strlen(sid))) {
		relay.bad_frames++;
		return refuse(wsi, 4400, "session_id and user_id: 1-64 of [A-Za-z0-9_.:-]");
	}
	int64_t valid_until = 0;
	switch (relay_authenticate(wsi, uid, &valid_until, &why)) {
	case 400:
		return refuse(wsi, 4400, "session_id and user_id: 1-64 of [A-Za-z0-9_.:-]");
	case 401:
		return refuse(wsi, 4401, why);
	case 403:
		return refuse(wsi, 4403, why);
	}
	int has_mid = relay_urlarg(wsi, "messageId", mid, sizeof mid);
	int has_last = relay_urlarg(wsi, "lastChunkIndex", last, sizeof last);
	if (has_mid != has_last || (has_mid && (!valid_message_id(mid, strlen(mid)) ||
						parse_long(last, -1, 100000000, &li)))) {
		relay.bad_frames++;
		return refuse(wsi, 4400, "messageId and lastChunkIndex go together");
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->wsi = wsi;
	c->cur.sent = c->cur.hist = -1;
	memcpy(c->sid, sid, sizeof sid);
	memcpy(c->uid, uid, sizeof uid);
	relay_client_addr(wsi, c->addr, sizeof c->addr);
	c->valid_until_s = valid_until;
	pss->c = c;
	relay.nconns++;
	if (relay.cfg.socket_sndbuf > 0) {
		/* caps the kernel's share of a slow socket's backlog, which would
		 * otherwise grow to tcp_wmem's maximum before the queue bound acts */
		int fd = (int)lws_get_socket_fd(wsi), v = (int)relay.cfg.socket_sndbuf;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	}
	if (has_mid)
		conn_recover(c, mid, li);  /* once greeted, replay what follows chunk li of mid */
	if (c->valid_until_s)
		arm_expiry(c);
	session_attach(c);
	return 0;
}

static void closed(struct pss *pss)
{
	struct conn *c = pss->c;
	if (!c)
		return;
	pss->c = NULL;
	if (c->hs)
		relay.nstreams--;
	else
		relay.nconns--;
	c->state = CONN_CLOSING;  /* first: a resume cut short is not queued again */
	conn_fill_cancel(c);
	session_detach(c);
	c->wsi = NULL;
	conn_unref(c);
}

static int receive(struct lws *wsi, struct conn *c, const char *in, size_t len)
{
	if (!c || c->state == CONN_CLOSING)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		relay.bad_frames++;
		conn_close(c, 4400, "binary frames are not accepted");
		return 0;
	}
	if ((long)(c->rxlen + len) > relay.cfg.max_client_frame) {
		relay.bad_frames++;
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
		conn_close(c, 1009, "frame too large");
		return 0;
	}
	int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (final && !c->rx) {
		client_frame(c, in, len);
		return 0;
	}
	c->rx = xrealloc(c->rx, c->rxlen + len + 1);
	memcpy(c->rx + c->rxlen, in, len);
	c->rxlen += len;
	if (final) {
		client_frame(c, c->rx, c->rxlen);
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
	}
	return 0;
}

/* An HTTP stream's turn to write: its queue, or an answer of its own, after
 * which the stream is over and the HTTP transaction complete. */
static int stream_writeable(struct pss *pss)
{
	struct conn *c = pss->c;
	struct lws *wsi = c->wsi;
	if (!http_stream_answer_due(c)) {
		if (c->state != CONN_CLOSING)
			return write_one(c);
		if (!http_stream_closing(c))
			return -1;  /* what it had to write has left (lws calls us only then) */
	}
	int rc = http_stream_answer(c);
	closed(pss);
	if (rc)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct pss *pss = user;
	/* lws allocates the per-session data only once a request has arrived
	 * whole: a connection that closes or resets before that (a port scan,
	 * a TCP health check, an upgrade cut short) reaches some callbacks with
	 * none. Nothing of ours exists for it yet, so there is nothing to do. */
	if (!pss && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
		return reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_ESTABLISHED
			       ? -1 : lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (http_plain_request(wsi, &pss->http, in ? (const char *)in : ""))
			return http_stream_request(wsi, &pss->c, in);
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		return 0;  /* dropped as it arrives: no route takes a body */
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/* not lws's default, which completes the transaction before the
		 * answer has gone out: writing the answer completes it */
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss->c)
			return stream_writeable(pss);
		return http_plain_pending(&pss->http) ? http_plain_write(wsi, &pss->http) : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* draining: refuse the upgrade itself, so that nginx counts this relay
		 * as failed and passes the request to the next one, instead of a
		 * client reconnecting here again and again until we are gone */
		return relay.stopping ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		return established(wsi, pss);
	case LWS_CALLBACK_CLOSED:
		closed(pss);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		closed(pss);
		http_plain_release(&pss->http);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return receive(wsi, pss->c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->c ? write_one(pss->c) : 0;
	case LWS_CALLBACK_TIMER:
		token_timer(pss->c);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

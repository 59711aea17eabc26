/* libcurl multi on libuv: curl tells which sockets to watch and when to
 * wake it (socket_cb, timer_cb); uv_poll and uv_timer do the watching and
 * hand control back with curl_multi_socket_action. */
#include "upstream.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "openai.h"
#include "sse.h"
#include "strbuf.h"
#include "validate.h"
#include "xalloc.h"

struct upstream {
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct sse sse;
	struct strbuf tok, text;      /* a token as sent, and as valid UTF-8 */
	struct utf8_carry carry;      /* a character cut between two tokens */
	struct strbuf errbody;       /* the body of a non-200 answer, for the message */
	uv_timer_t idle;
	const struct upstream_cb *cb;
	void *ud;
	long timeout_ms, http;
	long max_tokens, ntokens;
	int probe;                   /* GET /models: only its status matters */
	int done, failed, timed_out, paused;
	char code[32], msg[200];
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
};

static CURLM *multi;
static uv_loop_t *loop;
static uv_timer_t multi_timer;

static void upstream_free(struct upstream *u);

/* The body of a non-200 answer is anything: cut between characters, with
 * its newlines and bytes that are not UTF-8 replaced, as it goes into an
 * error frame and the log. */
static void http_error_message(struct upstream *u)
{
	struct strbuf raw = STRBUF_INIT;
	sb_addf(&raw, "the AI server answered %ld: ", u->http);
	sb_add(&raw, u->errbody.buf ? u->errbody.buf : "", u->errbody.len);
	utf8_sanitize(u->msg, sizeof u->msg, raw.buf, raw.len);
	sb_release(&raw);
}

/* A probe succeeds with any 2xx, whatever its body. */
static int probe_ok(struct upstream *u, CURLcode res)
{
	if (!u->http)
		curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->http);
	return res == CURLE_OK && u->http >= 200 && u->http < 300;
}

static void finish(struct upstream *u, CURLcode res)
{
	int ok = u->probe ? probe_ok(u, res) : u->done && !u->failed;
	if (!ok && !u->code[0]) {
		if (u->timed_out || res == CURLE_OPERATION_TIMEDOUT) {
			snprintf(u->code, sizeof u->code, "timeout");
			snprintf(u->msg, sizeof u->msg, "no answer from the AI server for %ld ms", u->timeout_ms);
		} else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST) {
			snprintf(u->code, sizeof u->code, "refused");
			snprintf(u->msg, sizeof u->msg, "%s", curl_easy_strerror(res));
		} else if (u->http && (u->probe ? u->http / 100 != 2 : u->http != 200)) {
			snprintf(u->code, sizeof u->code, "http_%ld", u->http);
			http_error_message(u);
		} else {
			snprintf(u->code, sizeof u->code, "upstream_error");
			snprintf(u->msg, sizeof u->msg, "%s", res == CURLE_OK ? "the stream ended before [DONE]"
									: curl_easy_strerror(res));
		}
	}
	const struct upstream_cb *cb = u->cb;
	void *ud = u->ud;
	char code[32], msg[200];
	memcpy(code, u->code, sizeof code);
	memcpy(msg, u->msg, sizeof msg);
	upstream_free(u);
	cb->on_end(ud, ok, code, msg);
}

static void check_done(void)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct upstream *u;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&u);
		finish(u, m->data.result);
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	int flags = status < 0 ? CURL_CSELECT_ERR : 0, running;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, s->fd, flags, &running);
	check_done();
}

static void sock_closed(uv_handle_t *h) { free(h->data); }

static int socket_cb(CURL *e, curl_socket_t fd, int action, void *userp, void *socketp)
{
	struct sock *s = socketp;
	(void)e;
	(void)userp;
	if (action == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, sock_closed);
			curl_multi_assign(multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->fd = fd;
		uv_poll_init_socket(loop, &s->poll, fd);
		s->poll.data = s;
		curl_multi_assign(multi, fd, s);
	}
	int ev = (action & CURL_POLL_IN ? UV_READABLE : 0) | (action & CURL_POLL_OUT ? UV_WRITABLE : 0);
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void on_multi_timer(uv_timer_t *t)
{
	int running;
	(void)t;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	if (timeout_ms < 0)
		uv_timer_stop(&multi_timer);
	else
		uv_timer_start(&multi_timer, on_multi_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

int upstream_init(uv_loop_t *l)
{
	loop = l;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(multi = curl_multi_init()))
		return -1;
	uv_timer_init(loop, &multi_timer);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	return 0;
}

/* An event of the stream: a token, the end, or an error. */
static int on_event(void *ud, const char *data, size_t len)
{
	struct upstream *u = ud;
	sb_reset(&u->tok);
	sb_reset(&u->text);
	switch (openai_event(data, len, &u->tok, u->msg, sizeof u->msg)) {
	case OA_TOKEN:
		/* a frame with invalid UTF-8 would make browsers drop the socket */
		utf8_repair(&u->text, &u->carry, u->tok.buf ? u->tok.buf : "", u->tok.len);
		if (!u->text.len)
			return 0;
		u->cb->on_token(u->ud, u->text.buf, u->text.len);
		if (++u->ntokens < u->max_tokens)
			return 0;
		/* the server may ignore max_tokens, or stream forever: stop it here */
		u->done = 1;
		return 1;
	case OA_DONE:
		utf8_repair_end(&u->text, &u->carry);
		if (u->text.len)
			u->cb->on_token(u->ud, u->text.buf, u->text.len);
		u->done = 1;
		return 1;
	case OA_ERROR:
		u->failed = 1;
		snprintf(u->code, sizeof u->code, "upstream_error");
		return 1;
	case OA_IGNORE:
		return 0;
	}
	return 0;
}

static void on_idle(uv_timer_t *t)
{
	struct upstream *u = t->data;
	u->timed_out = 1;
	finish(u, CURLE_OPERATION_TIMEDOUT);  /* upstream_free takes it out of the multi handle */
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct upstream *u = ud;
	size_t len = sz * n;
	if (!u->http)
		curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->http);
	if (u->http != 200 || u->probe) {
		uv_timer_start(&u->idle, on_idle, (uint64_t)u->timeout_ms, 0);
		if (u->errbody.len < 400)
			sb_add(&u->errbody, p, len);
		return len;
	}
	if (u->done || u->failed)
		return 0;
	if (u->cb->full(u->ud)) {
		/* curl keeps these bytes and stops reading the socket: the
		 * tokens waiting are bounded, however fast the server is. The
		 * silence is ours, so the idle timeout waits too. */
		u->paused = 1;
		uv_timer_stop(&u->idle);
		return CURL_WRITEFUNC_PAUSE;
	}
	uv_timer_start(&u->idle, on_idle, (uint64_t)u->timeout_ms, 0);
	int rc = sse_feed(&u->sse, p, len, on_event, u);
	if (rc == -1) {
		u->failed = 1;
		snprintf(u->code, sizeof u->code, "upstream_error");
		snprintf(u->msg, sizeof u->msg, "an event of the stream is too large");
	}
	/* stopping after [DONE] or an error: curl ends the transfer */
	return rc ? 0 : len;
}

/* A request on its way: the parts a stream and a probe share. */
static struct upstream *request_new(const char *url, const char *path, const char *key,
				    long timeout_ms, const struct upstream_cb *cb, void *ud)
{
	struct upstream *u = xcalloc(1, sizeof *u);
	u->cb = cb;
	u->ud = ud;
	u->timeout_ms = timeout_ms;
	sse_init(&u->sse);
	u->easy = curl_easy_init();
	u->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (key && key[0]) {
		char h[600];
		snprintf(h, sizeof h, "Authorization: Bearer %s", key);
		u->headers = curl_slist_append(u->headers, h);
	}
	char full[1024];
	snprintf(full, sizeof full, "%s%s", url, path);
	curl_easy_setopt(u->easy, CURLOPT_URL, full);
	curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(u->easy, CURLOPT_PRIVATE, u);
	curl_easy_setopt(u->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(u->easy, CURLOPT_FORBID_REUSE, 1L);
	uv_timer_init(loop, &u->idle);
	u->idle.data = u;
	return u;
}

static struct upstream *request_send(struct upstream *u)
{
	curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, u->headers);
	uv_timer_start(&u->idle, on_idle, (uint64_t)u->timeout_ms, 0);
	curl_multi_add_handle(multi, u->easy);
	return u;
}

struct upstream *upstream_start(const char *url, const char *key, const char *body, size_t len,
				long timeout_ms, long max_tokens, const struct upstream_cb *cb,
				void *ud)
{
	struct upstream *u = request_new(url, "/chat/completions", key, timeout_ms, cb, ud);
	u->max_tokens = max_tokens;
	u->body = xmalloc(len + 1);
	memcpy(u->body, body, len);
	u->body[len] = '\0';
	u->headers = curl_slist_append(u->headers, "Accept: text/event-stream");
	curl_easy_setopt(u->easy, CURLOPT_POSTFIELDS, u->body);
	curl_easy_setopt(u->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	return request_send(u);
}

struct upstream *upstream_probe(const char *url, const char *key, long timeout_ms,
				const struct upstream_cb *cb, void *ud)
{
	struct upstream *u = request_new(url, "/models", key, timeout_ms, cb, ud);
	u->probe = 1;
	curl_easy_setopt(u->easy, CURLOPT_HTTPGET, 1L);
	/* a server that trickles bytes forever is no answer either */
	curl_easy_setopt(u->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	return request_send(u);
}

static void idle_closed(uv_handle_t *h)
{
	struct upstream *u = h->data;
	free(u);
}

static void upstream_free(struct upstream *u)
{
	curl_multi_remove_handle(multi, u->easy);
	curl_easy_cleanup(u->easy);
	curl_slist_free_all(u->headers);
	free(u->body);
	sse_release(&u->sse);
	sb_release(&u->tok);
	sb_release(&u->text);
	sb_release(&u->errbody);
	uv_timer_stop(&u->idle);
	uv_close((uv_handle_t *)&u->idle, idle_closed);
}

void upstream_resume(struct upstream *u)
{
	if (!u || !u->paused)
		return;
	u->paused = 0;
	uv_timer_start(&u->idle, on_idle, (uint64_t)u->timeout_ms, 0);
	/* may hand the kept bytes to on_data at once */
	curl_easy_pause(u->easy, CURLPAUSE_CONT);
	/* and if on_data ended the stream there, let curl see it soon */
	uv_timer_start(&multi_timer, on_multi_timer, 0, 0);
}

void upstream_abort(struct upstream *u)
{
	if (u)
		upstream_free(u);
}

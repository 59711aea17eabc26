/* Streaming HTTP requests to an OpenAI-compatible server, many at once on
 * the worker's libuv loop (libcurl's multi interface). Each request feeds
 * its answer through the event-stream parser and reports tokens, then one
 * end. Aborting a request closes its connection: that is how the server
 * learns that a reply was cancelled. */
#ifndef SC_UPSTREAM_H
#define SC_UPSTREAM_H

#include <stddef.h>
#include <uv.h>

struct upstream;

struct upstream_cb {
	void (*on_token)(void *ud, const char *tok, size_t len);
	/* Nonzero when the caller's queue of tokens is full: the transfer
	 * pauses (the server's writes block) until upstream_resume. */
	int (*full)(void *ud);
	/* ok: the stream reached [DONE]. Otherwise code (refused, http_5xx,
	 * timeout, upstream_error, ...) and a message say why. Called once,
	 * never after upstream_abort. */
	void (*on_end)(void *ud, int ok, const char *code, const char *message);
};

int upstream_init(uv_loop_t *loop);

/* POSTs body to url with the bearer key (may be NULL). timeout_ms bounds
 * both the wait for the first byte and any silence after it (not a pause
 * asked for by cb->full). After max_tokens tokens the stream ends as if the
 * server had sent [DONE], whatever the server does. */
struct upstream *upstream_start(const char *url, const char *key, const char *body, size_t len,
				long timeout_ms, long max_tokens, const struct upstream_cb *cb,
				void *ud);
/* GET url/models with the bearer key, to learn whether the server answers:
 * only cb->on_end is called, ok for any 2xx, else with a code and message
 * as for a stream. The whole request is bounded by timeout_ms. */
struct upstream *upstream_probe(const char *url, const char *key, long timeout_ms,
				const struct upstream_cb *cb, void *ud);
/* Goes on after a pause, if paused. Tokens may be delivered before it
 * returns. */
void upstream_resume(struct upstream *u);
void upstream_abort(struct upstream *u);

#endif

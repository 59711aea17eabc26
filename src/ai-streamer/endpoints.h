/* What the openai backend knows of each AI_BASE_URLS endpoint: whether the
 * last probe or request reached it, the last error (which endpoint, when,
 * why), and the errors counted by kind. A worker publishes it in its
 * heartbeat (node:ai:{N}, doc/redis.md), so that /api/ai-health can say
 * that a worker is alive but its AI model is not. */
#ifndef SC_ENDPOINTS_H
#define SC_ENDPOINTS_H

#include "heartbeat.h"

/* The kinds of upstream error counted, as the heartbeat names them
 * (errors_<kind>): from an upstream code (upstream.h) */
enum endpoint_error {
	EP_REFUSED,    /* refused: no connection (refused, unresolvable) */
	EP_HTTP_4XX,   /* http_4xx: e.g. a wrong key, or a path that is not an AI server */
	EP_HTTP_5XX,   /* http_5xx */
	EP_TIMEOUT,    /* timeout: no answer in time */
	EP_OTHER,      /* upstream_error and anything else */
	EP_KINDS
};

enum endpoint_error endpoint_error_kind(const char *code);

void endpoints_init(char *const *urls, int n);
/* Endpoint i's URL as logs and /api/ai-health show it: without the
 * user:password@ it may carry. */
const char *endpoint_shown(int i);
/* An answer from endpoint i: a probe's 2xx, or a stream's first byte. */
void endpoint_ok(int i);
/* A failure of endpoint i (upstream.h's code and message); counted. After
 * some tokens (reached) it says nothing of whether the endpoint answers. */
void endpoint_failed(int i, const char *code, const char *msg, int reached);
/* `up` (every endpoint answered last time), `partial` (some did), `down`
 * (none did), or `unknown` (none asked yet). */
const char *endpoints_state(void);
/* The fields above into a heartbeat: backend_state, endpoints_up,
 * endpoints_total, errors_<kind>, and when there was one the last error's
 * last_error_code, last_error, last_error_url, last_error_ms. */
void endpoints_heartbeat(struct heartbeat *hb);

#endif

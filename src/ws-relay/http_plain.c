/* The relay's plain HTTP answers (see http_plain.h and doc/protocol.md).
 *
 * A request body is never kept: lws hands what arrives of it to
 * LWS_CALLBACK_HTTP_BODY, which drops it, and once the answer has gone out
 * lws reads and drops the rest before the connection takes its next
 * request. A body too long to be worth reading, or one whose end lws cannot
 * find (chunked, or a POST without Content-Length, which lws 4.1 takes for
 * a body of 100 MB), gets the answer and then the connection is closed. */
#include <stdlib.h>
#include <string.h>

#include "http_plain.h"
#include "http_stream.h"
#include "relay.h"
#include "subscriber.h"
#include "xalloc.h"

#define BODY_DROP_MAX (64 * 1024)  /* a longer body is not worth reading */
#define BODY_WAIT_S 10             /* for the rest of a body being dropped */

#define ALLOW_READ "GET, HEAD, OPTIONS"
#define ALLOW_STREAM "GET, OPTIONS"

enum method { M_GET, M_HEAD, M_OPTIONS, M_OTHER };
enum body { BODY_NONE, BODY_DROP, BODY_REFUSE };

static enum method method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		return M_GET;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
		return M_HEAD;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
		return M_OPTIONS;
	return M_OTHER;
}

/* lws 4.1 waits for 100 MB of body after these methods without a length */
static int body_assumed(struct lws *wsi)
{
	return lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0
#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS)
	       || lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
	       lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0
#endif
		;
}

static enum body body_of(struct lws *wsi)
{
	char cl[16];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return BODY_REFUSE;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return body_assumed(wsi) ? BODY_REFUSE : BODY_NONE;
	/* lws_hdr_copy fails on a value too long for cl: a length of 16
	 * digits and more is refused with the rest */
	int n = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (n <= 0 || strspn(cl, "0123456789") != (size_t)n)
		return BODY_REFUSE;
	long long len = strtoll(cl, NULL, 10);
	return len == 0 ? BODY_NONE : len <= BODY_DROP_MAX ? BODY_DROP : BODY_REFUSE;
}

static void error_json(struct http_plain *a, int status, const char *code, const char *message)
{
	a->status = status;
	sb_addf(&a->body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
}

static void health(struct http_plain *a)
{
	int ok = subscriber_ready() && relay.cmd.ready && !relay.stopping;
	a->status = ok ? 200 : 503;
	sb_addf(&a->body,
		"{\"status\":\"%s\",\"redis\":\"%s\",\"node\":\"%s\",\"connections\":%ld,"
		"\"streams\":%ld,\"sessions\":%ld}",
		relay.stopping ? "draining" : ok ? "ok" : "unavailable",
		subscriber_ready() && relay.cmd.ready ? "ok" : "down", relay.node, relay.nconns,
		relay.nstreams, relay.nsessions);
}

static void metrics(struct http_plain *a)
{
	a->status = 200;
	a->type = "text/plain; version=0.0.4; charset=utf-8";
	relay_metrics(&a->body);
}

/* The answer to a request that is not a stream's. */
static void route(struct http_plain *a, const char *uri, enum method m, enum body b)
{
	int stream = http_stream_path(uri);
	int known = stream || !strcmp(uri, "/health") || !strcmp(uri, "/metrics");
	const char *allow = !known ? NULL : stream ? ALLOW_STREAM : ALLOW_READ;
	if (!known)
		error_json(a, 404, "not_found", "try /health, /metrics, /stream/ or /ws/chat");
	else if (m == M_OTHER || (m == M_HEAD && stream)) {
		a->allow = allow;
		error_json(a, 405, "method_not_allowed",
			   stream ? "streams are read with GET" : "the relay's routes are read with GET");
	} else if (m == M_OPTIONS) {
		a->allow = allow;
		a->type = NULL;
		a->status = 204;
	}
	else if (b != BODY_NONE)
		error_json(a, 400, "invalid_request", "GET and HEAD take no body");
	else if (!strcmp(uri, "/metrics"))
		metrics(a);
	else if (!strcmp(uri, "/health"))
		health(a);
	else
		error_json(a, 400, "invalid_request", "a stream request takes no body");
}

int http_plain_request(struct lws *wsi, struct http_plain *a, const char *uri)
{
	enum method m = method_of(wsi);
	enum body b = body_of(wsi);
	if (m == M_GET && b == BODY_NONE && http_stream_path(uri))
		return 1;
	sb_reset(&a->body);
	a->type = "application/json";
	a->allow = NULL;
	a->head_only = m == M_HEAD;
	a->hang_up = b == BODY_REFUSE;
	route(a, uri, m, b);
	if (b == BODY_DROP)
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, BODY_WAIT_S);
	lws_callback_on_writable(wsi);
	return 0;
}

int http_plain_pending(const struct http_plain *a) { return a->status != 0; }

static int add_header(struct lws *wsi, enum lws_token_indexes t, const char *v, unsigned char **p,
		      unsigned char *end)
{
	return lws_add_http_header_by_token(wsi, t, (const unsigned char *)v, (int)strlen(v), p, end);
}

static int write_body(struct lws *wsi, const struct strbuf *body)
{
	/* lws_write wants LWS_PRE bytes of room before what it writes */
	unsigned char *buf = xmalloc(LWS_PRE + body->len);
	memcpy(buf + LWS_PRE, body->buf, body->len);
	int w = lws_write(wsi, buf + LWS_PRE, body->len, LWS_WRITE_HTTP_FINAL);
	free(buf);
	return w == (int)body->len ? 0 : -1;
}

int http_plain_write(struct lws *wsi, struct http_plain *a)
{
	unsigned char head[LWS_PRE + 512], *start = head + LWS_PRE, *p = start,
		      *end = head + sizeof head - 1;
	int hang_up = a->hang_up;
	int rc = lws_add_http_common_headers(wsi, (unsigned)a->status, a->type, a->body.len, &p, end) ||
		 (a->allow && add_header(wsi, WSI_TOKEN_HTTP_ALLOW, a->allow, &p, end)) ||
		 (hang_up && add_header(wsi, WSI_TOKEN_CONNECTION, "close", &p, end)) ||
		 lws_finalize_write_http_header(wsi, start, &p, end);
	/* HEAD: its Content-Length is the body's that GET would have */
	if (!rc && a->body.len && !a->head_only)
		rc = write_body(wsi, &a->body);
	http_plain_release(a);
	if (rc)
		return -1;
	if (hang_up)
		return -1;  /* lws sends what it still holds of the answer first */
	/* with body still to come, lws drops it before the next request */
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void http_plain_release(struct http_plain *a)
{
	sb_release(&a->body);
	a->status = 0;
	a->hang_up = 0;
}

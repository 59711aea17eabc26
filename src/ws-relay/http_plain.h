/* The relay's plain HTTP routes: GET /health and GET /metrics, and a JSON
 * error for every other request that is not a stream's (see http_stream.h):
 * a wrong method, an unknown path, a body where none belongs. */
#ifndef SC_HTTP_PLAIN_H
#define SC_HTTP_PLAIN_H

#include <libwebsockets.h>

#include "strbuf.h"

struct http_plain {
	int status;        /* an answer pending */
	const char *type;
	const char *allow; /* the Allow header, or NULL */
	int head_only;     /* HEAD: the headers of the answer, without its body */
	int hang_up;       /* a request body we will not read: close after the answer */
	struct strbuf body;
};

/* LWS_CALLBACK_HTTP: 1 when the request is a stream's (the caller opens
 * it), else 0 with an answer pending for LWS_CALLBACK_HTTP_WRITEABLE. */
int http_plain_request(struct lws *wsi, struct http_plain *a, const char *uri);
int http_plain_pending(const struct http_plain *a);
/* Writes the pending answer; what lws's callback returns. */
int http_plain_write(struct lws *wsi, struct http_plain *a);
void http_plain_release(struct http_plain *a);

#endif

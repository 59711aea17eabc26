/* The /api request side with no I/O: routing, query strings and the
 * validation of JSON bodies. Fed bytes, it answers with a parsed request or
 * the exact HTTP error to send. */
#ifndef SC_REQUEST_H
#define SC_REQUEST_H

#include <stddef.h>

#include "validate.h"

#define MODEL_MAX 128

struct api_error {
	int status;           /* 400, 404, 405, 413 ... */
	const char *code;     /* invalid_request, not_found, ... */
	char message[200];
};

enum route { ROUTE_NONE, ROUTE_CHAT, ROUTE_CANCEL, ROUTE_HISTORY, ROUTE_STREAM, ROUTE_HEALTH,
	     ROUTE_AI_HEALTH, ROUTE_METRICS, ROUTE_SESSIONS, ROUTE_SESSION_DELETE, ROUTE_COUNT };

/* Matches the path of REQUEST_URI (query already removed). For history and
 * stream, *id is the path's last segment, checked as a session or message
 * id. ROUTE_NONE with err set when the route exists but the id is bad or the
 * path is unknown. */
enum route route_match(const char *path, const char *method, char id[ID_MAX + 1],
		       struct api_error *err);

struct chat_request {
	char session_id[ID_MAX + 1];
	char user_id[ID_MAX + 1];
	char model[MODEL_MAX + 1];
	char *message;        /* malloc'd, NUL-terminated, valid UTF-8 */
	size_t message_len;
};

int parse_chat_request(const char *body, size_t len, size_t max_message,
		       struct chat_request *out, struct api_error *err);

struct cancel_request {
	char session_id[ID_MAX + 1];
	char message_id[ID_MAX + 1];
	char user_id[ID_MAX + 1];   /* "" when not given */
};

int parse_cancel_request(const char *body, size_t len, struct cancel_request *out,
			 struct api_error *err);
void chat_request_release(struct chat_request *r);

/* Finds name in a query string and percent-decodes its value into out.
 * Returns 1 if found, 0 if absent, -1 if malformed or longer than outlen-1. */
int query_get(const char *qs, const char *name, char *out, size_t outlen);

#endif

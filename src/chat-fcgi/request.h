/* The /api request side with no I/O: routing, query strings and the
 * validation of JSON bodies. Fed bytes, it answers with a parsed request or
 * the exact HTTP error to send. */
#ifndef SC_REQUEST_H
#define SC_REQUEST_H

#include <stddef.h>

#include <json.h>

#include "validate.h"

#define MODEL_MAX 128

struct api_error {
	int status;           /* 400, 404, 405, 413 ... */
	const char *code;     /* invalid_request, not_found, ... */
	char message[200];
};

enum route { ROUTE_NONE, ROUTE_CHAT, ROUTE_CANCEL, ROUTE_HISTORY, ROUTE_STREAM, ROUTE_HEALTH,
	     ROUTE_AI_HEALTH, ROUTE_METRICS, ROUTE_UI_CHAT, ROUTE_OPENAI_CHAT, ROUTE_OPENAI_MODELS,
	     ROUTE_SESSIONS, ROUTE_SESSION_DELETE, ROUTE_COUNT };

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

/* The pieces the parsers of every body share (request.c), for the front
 * doors of other clients (front_request.c). Each returns 0, or -1 with err
 * filled. */
int api_fail(struct api_error *err, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* body as exactly one JSON object, or NULL */
json_object *parse_object(const char *body, size_t len, struct api_error *err);
/* a string field of valid UTF-8 without NUL; *out NULL when absent */
int json_get_string(json_object *obj, const char *key, int required, const char **out, size_t *len,
		    struct api_error *err);
/* an id field ("" when absent and not required) */
int json_get_id(json_object *obj, const char *key, int required, char out[ID_MAX + 1],
		struct api_error *err);
int valid_model(const char *s, size_t n);

/* Finds name in a query string and percent-decodes its value into out.
 * Returns 1 if found, 0 if absent, -1 if malformed or longer than outlen-1. */
int query_get(const char *qs, const char *name, char *out, size_t outlen);

#endif

#include "request.h"

#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int api_fail(struct api_error *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct {
	const char *prefix;   /* exact path, or prefix ending in '/' for /{id} */
	const char *method;
	enum route route;
	int id_is_session;
} routes[] = {
	{ "/api/chat", "POST", ROUTE_CHAT, 0 },
	{ "/api/cancel", "POST", ROUTE_CANCEL, 0 },
	{ "/api/history/", "GET", ROUTE_HISTORY, 1 },
	{ "/api/stream/", "GET", ROUTE_STREAM, 0 },
	{ "/api/health", "GET", ROUTE_HEALTH, 0 },
	{ "/api/ai-health", "GET", ROUTE_AI_HEALTH, 0 },
	{ "/api/metrics", "GET", ROUTE_METRICS, 0 },
	{ "/api/ui/chat", "POST", ROUTE_UI_CHAT, 0 },
	{ "/v1/chat/completions", "POST", ROUTE_OPENAI_CHAT, 0 },
	{ "/v1/models", "GET", ROUTE_OPENAI_MODELS, 0 },
	{ "/api/sessions", "GET", ROUTE_SESSIONS, 0 },
	{ "/api/sessions/", "DELETE", ROUTE_SESSION_DELETE, 1 },
};

enum route route_match(const char *path, const char *method, char id[ID_MAX + 1],
		       struct api_error *err)
{
	id[0] = '\0';
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const char *pre = routes[i].prefix;
		size_t pl = strlen(pre);
		int with_id = pre[pl - 1] == '/';
		if (with_id ? strncmp(path, pre, pl) != 0 : strcmp(path, pre) != 0)
			continue;
		if (strcmp(method, routes[i].method) != 0 &&
		    !(strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
			api_fail(err, 405, "method_not_allowed", "%s needs %s", pre, routes[i].method);
			return ROUTE_NONE;
		}
		if (with_id) {
			const char *s = path + pl;
			size_t n = strlen(s);
			int ok = routes[i].id_is_session ? valid_id(s, n) : valid_message_id(s, n);
			if (!ok) {
				api_fail(err, 400, "invalid_request", "%s id must be 1-%d characters of %s",
				     routes[i].id_is_session ? "session" : "message", ID_MAX,
				     routes[i].id_is_session ? "[A-Za-z0-9_.:-]" : "[A-Za-z0-9_-]");
				return ROUTE_NONE;
			}
			memcpy(id, s, n + 1);
		}
		return routes[i].route;
	}
	api_fail(err, 404, "not_found", "no such endpoint");
	return ROUTE_NONE;
}

/* A string field, required or optional: a JSON string of valid UTF-8. */
int json_get_string(json_object *obj, const char *key, int required, const char **out,
		      size_t *len, struct api_error *err)
{
	json_object *v;
	*out = NULL;
	*len = 0;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return api_fail(err, 400, "invalid_request", "%s is required", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return api_fail(err, 400, "invalid_request", "%s must be a string", key);
	*out = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (strlen(*out) != *len)
		return api_fail(err, 400, "invalid_request", "%s must not contain NUL", key);
	/* checked again after the body was: \u escapes can decode to what the
	 * raw bytes could not hold (surrogates) */
	if (!valid_utf8(*out, *len))
		return api_fail(err, 400, "invalid_request", "%s must be valid UTF-8", key);
	return 0;
}

int json_get_id(json_object *obj, const char *key, int required, char out[ID_MAX + 1],
		  struct api_error *err)
{
	const char *s;
	size_t n;
	if (json_get_string(obj, key, required, &s, &n, err))
		return -1;
	if (!s) {
		out[0] = '\0';
		return 0;
	}
	if (!valid_id(s, n))
		return api_fail(err, 400, "invalid_request",
			    "%s must be 1-%d characters of [A-Za-z0-9_.:-]", key, ID_MAX);
	memcpy(out, s, n + 1);
	return 0;
}

int valid_model(const char *s, size_t n)
{
	if (n == 0 || n > MODEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:/-", c)))
			return 0;
	}
	return 1;
}

/* Parses body as exactly one JSON object. */
json_object *parse_object(const char *body, size_t len, struct api_error *err)
{
	if (len == 0) {
		api_fail(err, 400, "invalid_request", "empty body: expected a JSON object");
		return NULL;
	}
	if (!valid_utf8(body, len)) {
		api_fail(err, 400, "invalid_request", "body is not valid UTF-8");
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(16);
	if (!tok) {
		api_fail(err, 500, "internal", "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		if (obj)
			json_object_put(obj);
		api_fail(err, 400, "invalid_request", "body is not valid JSON: %s",
		     jerr == json_tokener_continue ? "unexpected end"
						   : json_tokener_error_desc(jerr));
		return NULL;
	}
	while (end < len && strchr(" \t\r\n", body[end]))
		end++;
	if (end != len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		api_fail(err, 400, "invalid_request", "body must be one JSON object");
		return NULL;
	}
	return obj;
}

int parse_chat_request(const char *body, size_t len, size_t max_message,
		       struct chat_request *out, struct api_error *err)
{
	memset(out, 0, sizeof *out);
	json_object *obj = parse_object(body, len, err);
	if (!obj)
		return -1;
	const char *msg, *model;
	size_t msg_len, model_len;
	int rc = -1;
	if (json_get_id(obj, "session_id", 1, out->session_id, err) ||
	    json_get_id(obj, "user_id", 0, out->user_id, err) ||
	    json_get_string(obj, "message", 1, &msg, &msg_len, err) ||
	    json_get_string(obj, "model", 0, &model, &model_len, err))
		goto done;
	if (msg_len > max_message) {
		api_fail(err, 413, "too_large", "message is longer than %zu bytes", max_message);
		goto done;
	}
	size_t blank = 0;
	while (blank < msg_len && strchr(" \t\r\n", msg[blank]))
		blank++;
	if (blank == msg_len) {
		api_fail(err, 400, "invalid_request", "message must not be empty");
		goto done;
	}
	if (model && !valid_model(model, model_len)) {
		api_fail(err, 400, "invalid_request", "model must be 1-%d characters of [A-Za-z0-9._:/-]",
		     MODEL_MAX);
		goto done;
	}
	if (model)
		memcpy(out->model, model, model_len + 1);
	out->message = xstrndup(msg, msg_len);
	out->message_len = msg_len;
	rc = 0;
done:
	json_object_put(obj);
	return rc;
}

int parse_cancel_request(const char *body, size_t len, struct cancel_request *out,
			 struct api_error *err)
{
	memset(out, 0, sizeof *out);
	json_object *obj = parse_object(body, len, err);
	if (!obj)
		return -1;
	int rc = -1;
	if (json_get_id(obj, "session_id", 1, out->session_id, err) ||
	    json_get_id(obj, "message_id", 1, out->message_id, err) ||
	    json_get_id(obj, "user_id", 0, out->user_id, err))
		goto done;
	if (!valid_message_id(out->message_id, strlen(out->message_id))) {
		api_fail(err, 400, "invalid_request", "message_id is not a message id");
		goto done;
	}
	rc = 0;
done:
	json_object_put(obj);
	return rc;
}

void chat_request_release(struct chat_request *r)
{
	free(r->message);
	r->message = NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int query_get(const char *qs, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = qs;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t o = 0;
			for (const char *r = p + nl + 1; r < end; r++) {
				int c = (unsigned char)*r;
				if (c == '%') {
					int hi, lo;
					if (end - r < 3 || (hi = hexval(r[1])) < 0 || (lo = hexval(r[2])) < 0)
						return -1;
					c = hi * 16 + lo;
					r += 2;
				} else if (c == '+')
					c = ' ';
				if (c == 0 || o + 1 >= outlen)
					return -1;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return 1;
		}
		if ((size_t)(end - p) == nl && strncmp(p, name, nl) == 0) {
			out[0] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* libFuzzer target: everything chat-fcgi does with a request before it
 * talks to Redis: routing, query strings, and the chat and cancel bodies.
 * The first byte picks the part; the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat-fcgi/request.h"

static void check_id(const char *id)
{
	if (*id && !valid_id(id, strlen(id)))
		__builtin_trap();  /* an id that reaches Redis is always a valid one */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	struct api_error err;
	switch (data[0] % 4) {
	case 0: {
		struct chat_request cr;
		if (parse_chat_request(in, n, 16384, &cr, &err) == 0) {
			check_id(cr.session_id);
			check_id(cr.user_id);
			if (!valid_utf8(cr.message, cr.message_len) || cr.message_len > 16384)
				__builtin_trap();
			chat_request_release(&cr);
		} else if (err.status < 400 || err.status > 599)
			__builtin_trap();
		break;
	}
	case 1: {
		struct cancel_request cr;
		if (parse_cancel_request(in, n, &cr, &err) == 0) {
			check_id(cr.session_id);
			check_id(cr.user_id);
			if (!valid_message_id(cr.message_id, strlen(cr.message_id)))
				__builtin_trap();
		}
		break;
	}
	case 2: {  /* path: the request line's URI as nginx passes it, NUL-terminated */
		char *path = strndup(in, n);
		char id[ID_MAX + 1];
		enum route r = route_match(path, (data[0] & 4) ? "POST" : "GET", id, &err);
		if ((r == ROUTE_HISTORY && !valid_id(id, strlen(id))) ||
		    (r == ROUTE_STREAM && !valid_message_id(id, strlen(id))))
			__builtin_trap();
		free(path);
		break;
	}
	case 3: {
		char *qs = strndup(in, n), out[80];
		if (query_get(qs, "user_id", out, sizeof out) == 1 && strlen(out) >= sizeof out)
			__builtin_trap();
		query_get(qs, "limit", out, 4);
		free(qs);
		break;
	}
	}
	return 0;
}

/* libFuzzer target: the bodies of the front doors for other clients, the
 * AI SDK's (POST /api/ui/chat) and OpenAI's (POST /v1/chat/completions).
 * The first byte picks the parser; the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat-fcgi/front_request.h"

#define MAX_MESSAGE 16384

static void check(const struct chat_request *cr)
{
	/* what reaches Redis: valid ids, a message of valid UTF-8 within bounds */
	if ((cr->session_id[0] && !valid_id(cr->session_id, strlen(cr->session_id))) ||
	    (cr->user_id[0] && !valid_id(cr->user_id, strlen(cr->user_id))) ||
	    !valid_utf8(cr->message, cr->message_len) || cr->message_len > MAX_MESSAGE)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	struct api_error err;
	if (data[0] % 2 == 0) {
		struct chat_request cr;
		if (parse_ui_chat_request(in, n, MAX_MESSAGE, &cr, &err) == 0) {
			if (!cr.session_id[0])
				__builtin_trap();   /* the session is required */
			check(&cr);
			chat_request_release(&cr);
		} else if (err.status < 400 || err.status > 599)
			__builtin_trap();
	} else {
		struct openai_chat_request oc;
		if (parse_openai_chat_request(in, n, MAX_MESSAGE, &oc, &err) == 0) {
			check(&oc.chat);
			if (oc.user[0] && !valid_id(oc.user, strlen(oc.user)))
				__builtin_trap();
			chat_request_release(&oc.chat);
		} else if (err.status < 400 || err.status > 599)
			__builtin_trap();
	}
	return 0;
}

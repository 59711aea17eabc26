/* The OpenAI chat-completions wire format, without I/O: the request body,
 * and what one event of the streamed answer means. */
#ifndef SC_OPENAI_H
#define SC_OPENAI_H

#include <stddef.h>

#include "strbuf.h"

/* {model, stream:true, max_tokens, messages:[system?, ...history...]}:
 * items are the session's history items as stored (JSON objects with role
 * and content); the new user message is the last of them. */
void openai_request_body(struct strbuf *out, const char *model, const char *system,
			 long max_tokens, const char *const *items, const size_t *lens, size_t n);

enum oa_event { OA_TOKEN, OA_DONE, OA_ERROR, OA_IGNORE };

/* One event's data: a token (appended to tok as sent, so not always valid
 * UTF-8: see utf8_repair; may be empty), [DONE], an
 * error object or undecodable data (a reason in err), or nothing of use. */
enum oa_event openai_event(const char *data, size_t len, struct strbuf *tok, char *err,
			   size_t errlen);

#endif

/* chat-cli's two HTTP calls to /api, through libcurl. */
#ifndef SC_CLI_HTTP_H
#define SC_CLI_HTTP_H

#include "strbuf.h"

/* Every request carries this bearer token from now on. */
void api_set_token(const char *token);

/* POST /api/chat (user NULL: the token's); returns the message id (malloc'd), or NULL after saying
 * why on stderr. */
char *api_post_chat(const char *base, const char *session, const char *user, const char *message,
		    const char *model, int timeout_s);

/* The content and status of message mid in GET /api/history/{session}:
 * 0, or -1 after saying why on stderr. */
int api_history_item(const char *base, const char *session, const char *user, const char *mid,
		     int timeout_s, struct strbuf *content, char *status, size_t statuslen);

#endif

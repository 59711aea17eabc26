/* GET /stream/{message_id} and GET /stream/session/{session_id}: a reply
 * as one HTTP response (Server-Sent Events, the AI SDK's UI message stream,
 * OpenAI chunks, or one OpenAI object at the end). An HTTP stream is a
 * subscriber of its message's session like a socket (struct conn, the same
 * sync, resume and exactly-once machinery); only the bytes it writes
 * differ: each frame of its message becomes an event of its format, and
 * every other frame is left out. */
#ifndef SC_HTTP_STREAM_H
#define SC_HTTP_STREAM_H

#include "relay.h"

/* Whether uri is a stream route. */
int http_stream_path(const char *uri);
/* LWS_CALLBACK_HTTP of a stream route: *slot gets the stream's conn. */
int http_stream_request(struct lws *wsi, struct conn **slot, const char *uri);
/* Writes one frame of the session as the stream's format (or nothing). */
int http_stream_write(struct conn *c, struct msgbuf *m);
/* Whether an answer with a body of its own is due (an error before the
 * stream began, a 204, or openai-json's object): http_stream_answer writes
 * it; after it the HTTP transaction is complete. */
int http_stream_answer_due(const struct conn *c);
int http_stream_answer(struct conn *c);
/* The conn is closing: 1 when an answer is now due (the stream had not
 * begun: the close code becomes an HTTP status), 0 to hang up. */
int http_stream_closing(struct conn *c);
void http_stream_free(struct http_stream *hs);
/* A frame's events made for HTTP streams, freed with the frame. */
void msg_events_free(struct msg_events *e);

#endif

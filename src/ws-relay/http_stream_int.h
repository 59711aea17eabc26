/* What the two halves of an HTTP stream share: http_stream.c writes it,
 * stream_request.c opens it. Private to ws-relay's HTTP streams. */
#ifndef SC_HTTP_STREAM_INT_H
#define SC_HTTP_STREAM_INT_H

#include "http_stream.h"
#include "stream_format.h"
#include "strbuf.h"

struct http_stream {
	struct stream_writer w;
	char mid[ID_MAX + 1];
	char session[ID_MAX + 1];     /* /stream/session/{S}: the session asked for */
	char hint[ID_MAX + 1];        /* session_id=: where to look once M's chunks expired */
	char model[ID_MAX + 1];
	enum stream_format format;
	long from;                    /* the first chunk to write */
	long next;                    /* the next chunk index due */
	int head_sent;
	int ended;                    /* the end event is written */
	int answer_status;            /* an answer of its own is due */
	const char *answer_type;
	struct strbuf answer;
	int64_t last_write_ms;        /* for the heartbeat: written to last then */
	struct conn *c;
	struct http_stream *lprev, *lnext;  /* every stream of this relay */
};

/* An answer of its own (status, JSON error body; code NULL: no body). */
void stream_answer_json(struct conn *c, int status, const char *code, const char *message);
/* The headers and the format's first parts: the stream has begun. */
int stream_begin(struct conn *c);
/* Bytes of the stream's body; -1 if the connection failed. */
int stream_write_body(struct conn *c, const struct strbuf *sb);
/* The reply's end event in sb, status its HTTP status as a whole answer
 * (openai-json); then the connection closes once it has left. */
int stream_finish(struct conn *c, const struct strbuf *sb, int status);
/* Into the list the heartbeat walks. */
void stream_list_add(struct conn *c);

#endif

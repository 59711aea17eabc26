/* A reply's chunks written as one HTTP response in one of the formats that
 * clients already speak: plain Server-Sent Events, the AI SDK's UI message
 * stream (v1), OpenAI's chat.completion.chunk events, or one
 * chat.completion object at the end. Pure: bytes in, bytes out; ws-relay
 * feeds it the chunk and end frames of one message. Chunk texts are taken
 * as they stand in a frame, JSON escapes kept, so they are copied into the
 * output JSON without being decoded. */
#ifndef SC_STREAM_FORMAT_H
#define SC_STREAM_FORMAT_H

#include <stddef.h>

#include "strbuf.h"

enum stream_format { SF_SSE, SF_UI, SF_OPENAI, SF_OPENAI_JSON };

enum stream_end { SE_COMPLETE, SE_CANCELLED, SE_ERROR };

struct stream_writer {
	enum stream_format format;
	char mid[65];
	char model[65];
	long long created_s;          /* OpenAI's created: when the reply was enqueued */
	int role_sent;                /* OpenAI: the first delta carries the role */
	long chunks;                  /* chunks written so far */
	struct strbuf text;           /* openai-json: the reply so far, JSON-escaped */
};

/* "sse", "ui", "openai", "openai-json"; -1 for anything else. */
int stream_format_parse(const char *s, enum stream_format *out);
const char *stream_format_name(enum stream_format f);
/* text/event-stream, or application/json for openai-json. */
const char *stream_format_content_type(enum stream_format f);
/* Whether the response is one JSON body written at the end. */
int stream_format_is_whole(enum stream_format f);

void stream_writer_init(struct stream_writer *w, enum stream_format f, const char *mid,
			const char *model, long long created_s);
void stream_writer_release(struct stream_writer *w);
/* What goes out right after the headers (the UI stream's start parts). */
void stream_open(struct stream_writer *w, struct strbuf *out);
/* Chunk index; content: its text as a JSON string's inside, escapes kept. */
void stream_chunk(struct stream_writer *w, struct strbuf *out, long index, const char *content,
		  size_t len);
/* Whether a chunk's event in format f is the same bytes for every stream
 * of the message, whatever each has written before (sse, ui), so that one
 * copy made by stream_chunk can serve them all; openai's first delta of a
 * stream carries the role, and openai-json gathers the text. */
int stream_chunk_shareable(enum stream_format f);
/* The chunk was written to w as another writer's stream_chunk made it. */
void stream_chunk_reused(struct stream_writer *w);
/* The end of the reply. total: its chunk count, -1 if not known. code and
 * message (raw JSON string insides, may be NULL) say why it ended in error.
 * Returns the HTTP status of the whole body (openai-json: 200, or 502 for
 * an error); the streaming formats return 200. */
int stream_end(struct stream_writer *w, struct strbuf *out, enum stream_end how, long total,
	       const char *code, size_t code_len, const char *message, size_t message_len);
/* A reply whose chunks have expired, answered from its history item: its
 * whole text as one piece without an id (its chunk boundaries are gone),
 * then its end. sse: data {"content":TEXT,"whole":true}. Returns as
 * stream_end. */
int stream_from_history(struct stream_writer *w, struct strbuf *out, enum stream_end how,
			const char *text, size_t len);
/* A comment line that keeps proxies from closing an idle stream; nothing
 * for openai-json. */
void stream_ping(const struct stream_writer *w, struct strbuf *out);

#endif

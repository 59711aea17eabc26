/* Every WebSocket frame a server sends is built here, and only here. Frames are built once, by the program that
 * publishes them, and relays forward their bytes unchanged. */
#ifndef SC_FRAME_H
#define SC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

void frame_welcome(struct strbuf *sb, const char *sid, const char *node);
/* ts_ms: when the worker had the chunk's first token (ms since the epoch),
 * for latency measurements; 0 leaves it out (replays). */
void frame_chunk(struct strbuf *sb, const char *sid, const char *mid, long index,
		 const char *content, size_t len, int64_t ts_ms);
/* type: "complete" or "cancelled". */
void frame_end(struct strbuf *sb, const char *type, const char *sid, const char *mid,
	       long total);
void frame_error(struct strbuf *sb, const char *sid, const char *mid, const char *code,
		 const char *message);
void frame_recovery_status(struct strbuf *sb, const char *mid, const char *status,
			   long recovered);
/* The answer to a client's fresh token: the socket now lasts until
 * valid_until_s (seconds since the epoch). */
void frame_auth_ok(struct strbuf *sb, int64_t valid_until_s);
/* The answers to a client's ping and heartbeat frames. */
void frame_pong(struct strbuf *sb);
void frame_heartbeat_ack(struct strbuf *sb);

/* A reply still being produced, shown as one history item. */
struct inprogress {
	const char *message_id;
	const char *status;          /* "streaming", or the meta's final status */
	long created_at;
	const char *const *chunks;   /* NULL-free array of chunk texts */
	const size_t *chunk_lens;
	long nchunks;                /* lastChunkIndex = nchunks - 1 */
};

/* The messages array: the stored items (each a JSON object, as kept in
 * chat:history) then the reply in progress, if any. camel selects the
 * WebSocket spelling of lastChunkIndex. */
void history_items(struct strbuf *sb, const char *const *items, const size_t *lens,
		   size_t nitems, const struct inprogress *ip, int camel);
void frame_history(struct strbuf *sb, const char *sid, const char *items_json, size_t len);

/* One stored history item. */
void history_item(struct strbuf *sb, const char *mid, const char *role, const char *content,
		  size_t len, const char *status, int64_t created_at);

/* What a relay or a client needs to know of a frame without decoding it. */
enum frame_type {
	FT_UNKNOWN, FT_WELCOME, FT_HISTORY, FT_CHUNK, FT_COMPLETE, FT_CANCELLED, FT_ERROR,
	FT_RECOVERY_STATUS, FT_PONG, FT_HEARTBEAT_ACK, FT_AUTH_OK,
	/* client to server */
	FT_RECONNECT, FT_HEARTBEAT, FT_PING, FT_AUTH,
};

struct frame_info {
	enum frame_type type;
	const char *message_id;   /* points into the frame; not NUL-terminated */
	size_t message_id_len;
	long index;               /* -2 when absent */
	long total;               /* totalChunks, -1 when absent */
	long last_chunk_index;    /* lastChunkIndex, -2 when absent */
	long ts;                  /* ts (publish time, ms), 0 when absent */
	const char *token;        /* token, as message_id */
	size_t token_len;
};

/* Reads the top-level keys of a JSON object frame. Returns 0, or -1 if the
 * bytes are not one well-formed JSON object (bounded depth, no trailing
 * bytes). Strings with escapes in "type" or "messageId" are reported as
 * absent rather than decoded: our own ids never need escapes. */
int frame_peek(const char *buf, size_t len, struct frame_info *fi);
enum frame_type frame_type_of(const char *s, size_t n);
/* The string value of a top-level key, as it stands between its quotes
 * (JSON escapes kept, so it can be copied into other JSON as is). Returns 0,
 * or -1 when the key is absent, not a string, or the frame is malformed. */
int frame_raw_string(const char *buf, size_t len, const char *key, const char **v, size_t *vl);

#endif

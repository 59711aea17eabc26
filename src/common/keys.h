/* Every Redis key and channel name of streamchat, in one place (doc/redis.md
 * says what each holds, who writes it and who reads it). Ids go in literal
 * braces so that all keys of one message, or of one session, share a Redis
 * Cluster hash slot. KEY_PREFIX, if set, precedes every key and channel. */
#ifndef SC_KEYS_H
#define SC_KEYS_H

#include <stddef.h>

#define KEY_MAX 256
#define JOBS_GROUP "ai-streamers"

void keys_init(const char *prefix);
const char *keys_prefix(void);

/* Each writes the name into out (KEY_MAX bytes) and returns out. */
char *key_jobs(char *out);
/* the archive stream (archive.h): finished messages on their way to PostgreSQL */
char *key_archive(char *out);
char *key_chunks(char *out, const char *message_id);
char *key_meta(char *out, const char *message_id);
char *key_lock(char *out, const char *message_id);
char *key_cancel(char *out, const char *message_id);
char *key_session(char *out, const char *session_id);
char *key_channel(char *out, const char *session_id);
char *key_history(char *out, const char *session_id);
/* The relay registry: the relays holding session S (in S's slot), and the
 * sessions relay N holds, each with its user (a hash). */
char *key_session_relays(char *out, const char *session_id);
char *key_sessions_node(char *out, const char *node_id);
char *key_node_ws(char *out, const char *node_id);
char *key_node_ai(char *out, const char *node_id);
char *key_node_recoverd(char *out, const char *node_id);
/* Sorted sets of node ids scored by last heartbeat (ms): how /api/ai-health
 * and recoverd find nodes whose heartbeat hash has already expired. */
/* the user's replies queued or streaming: message id -> enqueue time */
char *key_streams_user(char *out, const char *user_id);
/* the user's /api/chat requests in fixed window number `window` */
char *key_ratelimit_chat(char *out, const char *user_id, long long window);
/* new WebSockets of a user, and of a client address, in window `window` */
char *key_ratelimit_ws(char *out, const char *user_id, long long window);
char *key_ratelimit_ws_addr(char *out, const char *addr, long long window);
char *key_nodes_ws(char *out);
char *key_nodes_ai(char *out);
/* chat-fcgi's request counts, one hash per process, and the set of them */
char *key_nodes_api(char *out);
char *key_node_api(char *out, const char *node_id);
char *key_nodes_recoverd(char *out);
char *key_node_archiver(char *out, const char *node_id);
char *key_nodes_archiver(char *out);

/* The session id inside a channel name, or NULL if it is not one of ours. */
const char *channel_session(const char *channel, size_t len, size_t *id_len);

#endif

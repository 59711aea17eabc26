/* Every Redis key and channel name of streamchat, in one place (doc/redis.md
 * says what each holds, who writes it and who reads it). KEY_PREFIX, if set,
 * precedes every key and channel.
 *
 * Every key one script or one multi-key command touches lives in one Redis
 * Cluster hash slot: a session S belongs to partition CRC16(S) % PARTITIONS,
 * a message to its session's partition (its id carries it: util.h's
 * new_message_id), and every key of the partition's sessions, messages, job
 * stream and archive stream carries the partition's hash tag {t}. Per-user
 * and per-node keys are tagged by the user or node id instead. */
#ifndef SC_KEYS_H
#define SC_KEYS_H

#include <stddef.h>

#define KEY_MAX 256
#define JOBS_GROUP "ai-streamers"
#define PARTITIONS 16

/* The partition's hash tag (without braces): a short fixed string whose
 * slot lies in [p * 1024, p * 1024 + 1023], so that `redis-cli --cluster
 * create`, which gives each primary a contiguous run of slots, spreads the
 * partitions evenly over the primaries. */
const char *partition_tag(int partition);
int session_partition(const char *session_id);
/* A message id's partition: its 13th character when the id is 32 characters
 * with a hex digit there (new_message_id's layout), else CRC16 % PARTITIONS
 * (an id no program minted: its keys simply do not exist). */
int message_partition(const char *message_id);

void keys_init(const char *prefix);
const char *keys_prefix(void);

/* Each writes the name into out (KEY_MAX bytes) and returns out. A
 * session's or a message's keys carry its partition's tag. */
/* partition p's job stream, read by every worker (group JOBS_GROUP) */
char *key_jobs(char *out, int partition);
/* the dispatch stream (ready.h): one entry {p} per job put on partition
 * p's stream, read by every worker (group JOBS_GROUP); its own slot */
char *key_jobs_ready(char *out);
/* partition p's archive stream (archive.h): finished messages on their way
 * to PostgreSQL */
char *key_archive(char *out, int partition);
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

/* Blocking Redis connections, for programs that handle one request at a
 * time (chat-fcgi, recoverd, archiver). A struct rs is one connection to a
 * single Redis or to the primary the sentinels name, or a Redis Cluster
 * client (redis_cluster.h); the calls below are hiredis's, and on a
 * cluster each command goes to the primary of its own key's slot:
 *
 *   - rs_command/rs_command_argv, rs_eval: routed by the key, following
 *     MOVED/ASK and retrying TRYAGAIN/CLUSTERDOWN and lost nodes; a
 *     command that may have run when its connection broke is sent again
 *     only when redis_cmd_flags() says it is idempotent;
 *   - rs_append* then rs_get_reply: a pipeline, each command routed on its
 *     own when its reply is read (or at rs_flush), so that one pipeline may
 *     name keys of several slots;
 *   - WATCH and MULTI pin the pipeline to the node of WATCH's key, or of
 *     the first key after MULTI, until EXEC, DISCARD or UNWATCH (a command
 *     on another slot meanwhile unwatches first): the keys of one
 *     transaction share one slot (the schema's hash tags). A MOVED or ASK
 *     there is the caller's error, and the slot map is read again.
 *
 * A NULL reply (REDIS_ERR from rs_get_reply) means what a lost connection
 * means to hiredis: rs_err() is set from then on, and the owner drops the
 * struct rs and connects again. */
#ifndef SC_REDIS_SYNC_H
#define SC_REDIS_SYNC_H

#include <hiredis.h>
#include <stddef.h>

#include "redis_url.h"
#include "scripts.h"

struct rs;

/* Connects (under Sentinel: to the primary the sentinels name, refused
 * unless ROLE says master; on a cluster: reads the slot map), authenticates,
 * selects the database (refused on a cluster unless 0) and loads the
 * scripts. Returns NULL with a one-line reason in errbuf when Redis cannot
 * be used. */
struct rs *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen);
void rs_free(struct rs *rs);
/* A struct rs over a connection made elsewhere (the unit tests'). */
struct rs *rs_wrap(redisContext *c);
/* A plain hiredis connection as rs_connect makes it, for a single Redis or
 * Sentinel's primary only (chat-bench's pollers and subscribers). */
redisContext *rs_connect_single(const struct redis_cfg *cfg, int timeout_ms, char *errbuf,
				size_t errlen);

int rs_err(const struct rs *rs);
const char *rs_errstr(const struct rs *rs);
/* The socket of a single connection (to watch for a close by the peer);
 * -1 on a cluster. */
int rs_fd(const struct rs *rs);

redisReply *rs_command(struct rs *rs, const char *fmt, ...);
redisReply *rs_command_argv(struct rs *rs, int argc, const char **argv, const size_t *lens);
int rs_append(struct rs *rs, const char *fmt, ...);
int rs_append_argv(struct rs *rs, int argc, const char **argv, const size_t *lens);
/* One command formatted as hiredis does (RESP). */
int rs_append_formatted(struct rs *rs, const char *cmd, size_t len);
int rs_get_reply(struct rs *rs, void **reply);
/* Sends what was appended without waiting for the replies (on a cluster:
 * runs it, keeping the replies for rs_get_reply). REDIS_OK or REDIS_ERR. */
int rs_flush(struct rs *rs);

/* The nodes whose keys make the whole data set: 1, or a cluster's
 * primaries (SCAN must visit each). */
int rs_nodes(const struct rs *rs);
/* A command on node i (0 <= i < rs_nodes()). */
redisReply *rs_command_node(struct rs *rs, int i, const char *fmt, ...);

/* EVALSHA, falling back to EVAL if the script cache was flushed. args may
 * hold binary data (lens gives their lengths). Caller frees the reply.
 * A READONLY answer (the node was demoted under us) returns NULL, as an I/O
 * error does: the caller drops rs and reconnects. A READONLY in the answer
 * of any other command on a single connection breaks it too: that answer
 * is returned, the next command fails. */
redisReply *rs_eval(struct rs *rs, enum script_id id, int nkeys, const char *const *keys,
		    int nargs, const char *const *args, const size_t *lens);

/* Makes rs fail from now on, as a lost connection does, for why. */
void rs_break(struct rs *rs, const char *why);

#endif

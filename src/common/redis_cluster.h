/* A blocking Redis Cluster client over hiredis: each command goes to the
 * primary of its key's slot (one connection per node, made on demand and
 * authenticated), follows MOVED (the slot's entry updated; the whole map
 * re-read after a failover) and ASK (ASKING, then the command on the named
 * node; the map unchanged), and retries TRYAGAIN, CLUSTERDOWN and nodes
 * that cannot be reached with a short capped backoff within a bounded total
 * time before it gives the error to the caller.
 *
 * A command whose connection broke after it was sent may or may not have
 * run: it is sent again only when the caller says it is idempotent
 * (RC_IDEMPOTENT); otherwise the caller gets NULL and decides. */
#ifndef SC_REDIS_CLUSTER_H
#define SC_REDIS_CLUSTER_H

#include <hiredis.h>
#include <stddef.h>

#include "cluster_slot.h"

struct rcluster_stats {
	unsigned long moved, ask, tryagain, clusterdown;
	unsigned long conn_errors;   /* connects refused, replies lost */
	unsigned long map_reloads;   /* CLUSTER SLOTS read, the first time included */
	unsigned long retries;       /* sends after a backoff */
};

struct rcluster_opts {
	const char *user;            /* NULL or "": AUTH with the password alone */
	const char *password;        /* NULL or "": no AUTH */
	int timeout_ms;              /* connect and per-reply timeout (default 2000) */
	int retry_ms;                /* total time one command may spend retrying (default 5000) */
};

struct rcluster;

/* A client of the cluster the seeds belong to; nothing is connected yet. */
struct rcluster *rcluster_new(const struct redis_addr *seeds, int nseeds, const struct rcluster_opts *o);
void rcluster_free(struct rcluster *c);

/* Reads the slot map from the first seed that answers. 0, or -1 with a
 * one-line reason in err: no seed reachable, a seed that is not a cluster
 * node ("... cluster support disabled"), AUTH refused. */
int rcluster_connect(struct rcluster *c, char *err, size_t errlen);

enum { RC_IDEMPOTENT = 1 };

/* The index in argv of the key a command is routed by: argv[1] for most,
 * EVAL/EVALSHA/FCALL's first key, XREAD/XREADGROUP's first stream, argv[2]
 * of XGROUP and XINFO (after the subcommand); -1 for
 * a command without a key (sent to any primary). */
int rcluster_key_index(int argc, const char *const *argv, const size_t *argvlen);

/* Sends the command to the primary of key's slot (key NULL: the key
 * rcluster_key_index finds). Returns the reply (the caller frees it; an
 * error reply that is not a redirect is the caller's), or NULL when no
 * reply could be had in time, with the reason in rcluster_error(). */
redisReply *rcluster_command(struct rcluster *c, int flags, const char *key, size_t keylen,
			     int argc, const char *const *argv, const size_t *argvlen);
/* The same on the map's primary number i (0 <= i < rcluster_primaries()):
 * WAIT on the connection that wrote, SCRIPT LOAD on every primary. */
redisReply *rcluster_command_primary(struct rcluster *c, int i, int argc, const char *const *argv,
				     const size_t *argvlen);
/* The connection to the primary of key's slot as the map says now (made
 * when missing), for commands that must share one connection: WATCH,
 * MULTI ... EXEC on keys of one slot. NULL with the reason in
 * rcluster_error(). Its MOVED or ASK answers are the caller's, who tells
 * rcluster_refresh(). */
redisContext *rcluster_node(struct rcluster *c, const char *key, size_t keylen);
/* Re-reads the slot map now (after a MOVED seen outside rcluster_command). */
void rcluster_refresh(struct rcluster *c);
int rcluster_primaries(const struct rcluster *c);
const struct redis_addr *rcluster_primary(const struct rcluster *c, int i);

const char *rcluster_error(const struct rcluster *c);
/* Whether the last error will not pass by retrying: the node is no cluster
 * node, or refused the password. */
int rcluster_fatal(const struct rcluster *c);
const struct rcluster_stats *rcluster_stats(const struct rcluster *c);
const struct cluster_map *rcluster_map(const struct rcluster *c);

#endif

/* The asynchronous Redis Cluster client, on a libuv loop: the routing of
 * redis_cluster.h (a command to the primary of its key's slot, MOVED, ASK,
 * the map re-read after a failover, TRYAGAIN/CLUSTERDOWN and lost nodes
 * retried with a capped backoff within a bounded time) for hiredis' async
 * contexts, one per node, made on demand and authenticated. Each command's
 * arguments are kept until its final reply so that it can be sent again.
 *
 * Beyond the synchronous client: a command with no reply within timeout_ms
 * counts its node as lost (its connection is closed, which fails every
 * command on it the same way). */
#ifndef SC_AREDIS_CLUSTER_H
#define SC_AREDIS_CLUSTER_H

#include <async.h>
#include <uv.h>

#include "redis_cluster.h"

struct arcluster;

/* The final reply of a command: the node's reply (hiredis frees it after
 * the callback returns) and the connection it came on, the one that ran
 * the command (after a MOVED or an ASK, not the map's owner of the slot
 * then); or NULL for both when none came in time (or the client stopped),
 * the reason in arcluster_error(). */
typedef void arcluster_cb(struct arcluster *c, redisAsyncContext *from, redisReply *reply,
			  void *priv);

/* on_ready(c, 0) once the slot map was first read; on_ready(c, -1) when
 * the seeds answered in a way that retrying cannot mend (no cluster node,
 * a refused password), the reason in arcluster_error(). Seeds that cannot
 * be reached are tried again and again meanwhile. */
struct arcluster *arcluster_start(uv_loop_t *loop, const struct redis_addr *seeds, int nseeds,
				  const struct rcluster_opts *o,
				  void (*on_ready)(struct arcluster *c, int status), void *data);
/* Fails every command not yet answered (their callbacks get NULL), closes
 * the connections; the memory goes once the loop has run the closes. */
void arcluster_stop(struct arcluster *c);

/* Sends a command (key NULL: the one rcluster_key_index finds; flags as
 * rcluster_command). 0, or -1 when stopped. argv is copied. */
int arcluster_command(struct arcluster *c, int flags, const char *key, size_t keylen, int argc,
		      const char *const *argv, const size_t *argvlen, arcluster_cb *cb, void *priv);

/* The connection to the primary of key's slot as the map says now (made
 * when missing, AUTH queued first), for commands that must share one
 * connection (MULTI ... EXEC on one slot's keys); NULL when there is none.
 * Its replies are not followed: a MOVED is the caller's. */
redisAsyncContext *arcluster_node(struct arcluster *c, const char *key, size_t keylen);
/* The same for the map's primary number i (0 <= i < arcluster_map()->nnodes). */
redisAsyncContext *arcluster_primary_ctx(struct arcluster *c, int i);
int arcluster_ready(const struct arcluster *c);
/* The slot map as last read (for cluster_sub.c), and a re-read of it. */
const struct cluster_map *arcluster_map(const struct arcluster *c);
void arcluster_refresh(struct arcluster *c);
void *arcluster_data(const struct arcluster *c);
const char *arcluster_error(const struct arcluster *c);
const struct rcluster_stats *arcluster_stats(const struct arcluster *c);

#endif

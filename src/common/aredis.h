/* An asynchronous Redis connection on a libuv loop that never gives up:
 * on any disconnect it reconnects with capped exponential backoff, then
 * authenticates, selects the database and loads the scripts before the
 * owner's on_ready runs again. Meanwhile ar->ac is NULL and callers must
 * treat Redis as unavailable.
 *
 * Under Sentinel each (re)connect asks the sentinels for the primary and
 * refuses a node whose ROLE is not master; a subscriber connection to one
 * sentinel watches +switch-master and drops the connection when our master
 * moves, and a READONLY answer to any command, even inside an EXEC's (a
 * demoted primary), drops it too, so that
 * the one reconnect path above is the only way to a new primary.
 *
 * On a Redis Cluster ar->ac stays NULL: an arcluster (aredis_cluster.h)
 * routes each command of the calls below to the primary of its key's slot,
 * ready and on_ready once the slot map was read (a seed that is no cluster
 * node, or a refused password, ends the program with one line: retrying
 * cannot mend it). Callbacks get the connection of the node that answered
 * (NULL with no reply), for what must follow a write on the connection
 * that ran it (WAIT); after a MOVED or an ASK that is not the one the slot
 * map named when the command went. */
#ifndef SC_AREDIS_H
#define SC_AREDIS_H

#include <async.h>
#include <uv.h>

#include "redis_sentinel.h"
#include "redis_url.h"
#include "scripts.h"
#include "strbuf.h"

struct aredis {
	uv_loop_t *loop;
	const struct redis_cfg *cfg;
	const char *name;                 /* for logs: "subscriber", "commands" */
	redisAsyncContext *ac;            /* NULL while disconnected */
	int ready;                        /* connected and set up */
	uv_timer_t retry;
	int backoff_ms;
	unsigned reconnects;
	redisAsyncContext *watch;         /* Sentinel: the +switch-master subscriber */
	uv_timer_t watch_retry;
	int sentinel;                     /* the sentinel that named the primary */
	struct redis_addr primary;        /* Sentinel: the node connected to */
	struct readonly_watch readonly;   /* a READONLY answer drops the connection */
	uv_timer_t demote;
	struct arcluster *cluster;        /* REDIS_CLUSTER */
	int timeout_ms;                   /* cluster: a reply later than this counts its
					     node as lost (0: 5000); set before aredis_start */
	void (*on_ready)(struct aredis *);
	void (*on_lost)(struct aredis *);
	void *data;
};

void aredis_start(struct aredis *ar, uv_loop_t *loop, const struct redis_cfg *cfg,
		  const char *name);
void aredis_stop(struct aredis *ar);

/* EVALSHA through ar; returns -1 (and does not call cb) when disconnected. */
int aredis_eval(struct aredis *ar, redisCallbackFn *cb, void *priv, enum script_id id,
		int nkeys, const char *const *keys, int nargs, const char *const *args,
		const size_t *lens);

/* A command through ar (hiredis's format), routed by its key on a
 * cluster: 0, or -1 (cb not called) when ar is not ready. */
int aredis_command(struct aredis *ar, redisCallbackFn *cb, void *priv, const char *fmt, ...);
int aredis_command_argv(struct aredis *ar, redisCallbackFn *cb, void *priv, int argc,
			const char **argv, const size_t *lens);
/* The same for a command without a key (CLIENT ...) sent, on a cluster, to
 * the primary of key's slot. */
int aredis_command_on(struct aredis *ar, const char *key, redisCallbackFn *cb, void *priv,
		      const char *fmt, ...);
/* Commands formatted as RESP (as hiredis formats them); on a cluster each
 * is routed on its own and cb gets the last one's reply. */
int aredis_formatted(struct aredis *ar, redisCallbackFn *cb, void *priv, const char *cmd,
		     size_t len);
/* MULTI, the commands of cmds (RESP, one after another: resp_add), EXEC on
 * the connection of the primary of key's slot (every key of cmds in that
 * slot); cb gets EXEC's reply. On a cluster a transaction the node
 * discarded (EXECABORT: a command met MOVED or ASK, the slot moving) ran
 * nothing: it is sent again once the map is read again, within the
 * cluster's retry time. 0, or -1 (cb not called) when ar is not ready. */
int aredis_transaction(struct aredis *ar, const char *key, redisCallbackFn *cb, void *priv,
		       const char *cmds, size_t len);
/* Appends one command in hiredis's format to sb, for aredis_transaction. */
void resp_add(struct strbuf *sb, const char *fmt, ...);

#endif

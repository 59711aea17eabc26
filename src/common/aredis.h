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
 * the one reconnect path above is the only way to a new primary. */
#ifndef SC_AREDIS_H
#define SC_AREDIS_H

#include <async.h>
#include <uv.h>

#include "redis_sentinel.h"
#include "redis_url.h"
#include "scripts.h"

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

#endif

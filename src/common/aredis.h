/* An asynchronous Redis connection on a libuv loop that never gives up:
 * on any disconnect it reconnects with capped exponential backoff, then
 * authenticates, selects the database and loads the scripts before the
 * owner's on_ready runs again. Meanwhile ar->ac is NULL and callers must
 * treat Redis as unavailable. */
#ifndef SC_AREDIS_H
#define SC_AREDIS_H

#include <async.h>
#include <uv.h>

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

/* The WAIT before a frame is published, routed by the message's key.
 *
 * WAIT counts the replicas that acknowledged every write made on its own
 * connection before it, so it must follow the append (or finish) on the
 * connection that sent it; on one Redis, or under Sentinel, that is the
 * worker's command connection. The publish uses the topology's command
 * (SPUBLISH on a cluster). */
#include <stdio.h>
#include <string.h>

#include "fence.h"
#include "log.h"
#include "redis_url.h"
#include "worker.h"

int fence_on(const struct worker *w) { return w->cfg.wait_replicas > 0; }

/* The connection that ran key's writes: the one command connection; on a
 * cluster, the connection of the node owning key's slot. */
static redisAsyncContext *connection_of(struct worker *w, const char *key)
{
	return aredis_node(&w->cmd, key);
}

int fence_wait(struct worker *w, const char *key, redisCallbackFn *cb, void *priv)
{
	redisAsyncContext *ac = connection_of(w, key);
	if (!ac)
		return -1;
	return redisAsyncCommand(ac, cb, priv, "WAIT %ld %ld", w->cfg.wait_replicas,
				 w->cfg.wait_timeout_ms) == REDIS_OK ? 0 : -1;
}

int fence_held(struct worker *w, const redisReply *r, const char *what)
{
	if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= w->cfg.wait_replicas)
		return 1;
	/* every 50th: a replica away for minutes would fill the log otherwise */
	if (w->waits_short++ % 50 == 0)
		log_warn("frames held: too few replicas have them", "what=%s replicas=%lld wanted=%ld "
			 "waits_short=%llu", what, r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL,
			 w->cfg.wait_replicas, (unsigned long long)w->waits_short);
	return 0;
}

void fence_publish(struct worker *w, const char *channel, const char *frame, size_t len)
{
	const char *argv[] = { redis_publish_command(&w->cfg.redis), channel, frame };
	size_t lens[] = { strlen(argv[0]), strlen(channel), len };
	/* routed by the channel, not sent on the connection of the WAIT: while
	 * the session's slot migrates the old owner answers a SPUBLISH with
	 * ASK, and a frame lost there left a client waiting for the last
	 * chunks for good (t/57). A publish lost with the connection: the
	 * relays' resync after their own reconnect sends what the chunk cache
	 * holds. */
	aredis_command_argv(&w->cmd, NULL, NULL, 3, argv, lens);
}

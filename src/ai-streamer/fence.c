/* The WAIT before a frame is published.
 *
 * WAIT counts the replicas that acknowledged every write made on its own
 * connection before it, so it goes on the connection that answered the
 * append (or the finish), once it has answered: on a cluster an ASK or a
 * MOVED may have sent the write to another node than the map named
 * (doc/redis.md). The publish uses the topology's command (SPUBLISH on a
 * cluster). */
#include <stdio.h>
#include <string.h>

#include "fence.h"
#include "log.h"
#include "redis_url.h"
#include "worker.h"

int fence_on(const struct worker *w) { return w->cfg.wait_replicas > 0; }

int fence_wait(struct worker *w, redisAsyncContext *ran, redisCallbackFn *cb, void *priv)
{
	if (!ran)
		return -1;
	return redisAsyncCommand(ran, cb, priv, "WAIT %ld %ld", w->cfg.wait_replicas,
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

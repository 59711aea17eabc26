/* Sharded pub/sub on a Redis Cluster (SSUBSCRIBE, Redis 7.0): one
 * connection per primary, each channel subscribed on the primary of its
 * slot. hiredis 0.14's async client cannot carry it (it dispatches
 * `smessage` pushes only on a context subscribed with SUBSCRIBE), so this
 * reads the connection itself: hiredis' redisReader on a libuv socket.
 *
 * A channel can stop receiving: Redis pushes `sunsubscribe` when its slot
 * moves, or the primary's connection drops. Then on_lost runs (the owner
 * fills whatever it missed from elsewhere, e.g. a chunk list) and the
 * channel is subscribed again on the slot's primary, as the cluster client
 * c (aredis_cluster.h) sees it after re-reading the slot map. */
#ifndef SC_CLUSTER_SUB_H
#define SC_CLUSTER_SUB_H

#include <stddef.h>
#include <uv.h>

#include "aredis_cluster.h"

struct csub;

struct csub_handlers {
	void (*on_message)(struct csub *s, const char *channel, const char *msg, size_t len, void *data);
	/* the channel is subscribed (again); what was published meanwhile is lost */
	void (*on_subscribed)(struct csub *s, const char *channel, void *data);
	/* the channel stopped receiving: why is "moved" or "disconnected" */
	void (*on_lost)(struct csub *s, const char *channel, const char *why, void *data);
};

/* c gives the slot map (and re-reads it); user and password AUTH each
 * connection, as for c. */
struct csub *csub_start(uv_loop_t *loop, struct arcluster *c, const char *user, const char *password,
			const struct csub_handlers *h, void *data);
/* Closes every connection; the memory goes once the loop has run the closes. */
void csub_stop(struct csub *s);

int csub_subscribe(struct csub *s, const char *channel);
void csub_unsubscribe(struct csub *s, const char *channel);

struct csub_stats {
	unsigned long messages, subscribes, lost_moved, lost_disconnected, moved_replies;
	unsigned long disconnects;    /* node connections that dropped once up */
};
const struct csub_stats *csub_stats(const struct csub *s);

#endif

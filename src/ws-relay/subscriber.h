/* The relay's subscriber: session channels subscribed on Redis, and the
 * frames published on them. One interface for both kinds, so that the
 * sessions (session.c) do not know which one runs:
 *
 * - one Redis or Sentinel: one connection (aredis.h) with SUBSCRIBE. When
 *   it drops, every channel stops at once (lost_all); when it is back,
 *   every channel must be subscribed again (ready_all).
 * - a Cluster (REDIS_URL redis+cluster://): sharded pub/sub (SSUBSCRIBE,
 *   cluster_sub.h), one connection per primary. One channel at a time
 *   stops when its slot moves or its primary's connection drops
 *   (channel_lost); the subscriber subscribes it again by itself and says
 *   so with subscribed, as for a first subscription.
 *
 * Either way a subscription is confirmed (subscribed) before anything is
 * delivered on it: frames published after the confirmation arrive, what was
 * published before it must be read from the chunk list. */
#ifndef SC_SUBSCRIBER_H
#define SC_SUBSCRIBER_H

#include <stddef.h>
#include <uv.h>

#include "redis_url.h"

struct subscriber_events {
	void (*ready_all)(void);    /* (re)connected: subscribe every channel again */
	void (*lost_all)(void);     /* the connection dropped: no channel receives */
	void (*subscribed)(const char *channel, size_t len);
	void (*unsubscribed)(const char *channel, size_t len);
	/* this channel stopped receiving; it is being subscribed again */
	void (*channel_lost)(const char *channel, size_t len, const char *why);
	void (*message)(const char *channel, size_t chlen, const char *payload, size_t len);
};

/* On a Cluster the subscriber reads map, the slot map of the program's
 * command connection (stopped after subscriber_stop); elsewhere map is
 * NULL. */
struct arcluster;
void subscriber_start(uv_loop_t *loop, const struct redis_cfg *cfg, const struct subscriber_events *ev,
		      struct arcluster *map);
void subscriber_stop(void);
/* Whether the subscriber can receive (for /health). */
int subscriber_ready(void);
/* 0: asked (subscribed follows); -1: not now (ready_all follows). */
int subscriber_subscribe(const char *channel);
/* 1: unsubscribed follows; 0: the channel is gone already. */
int subscriber_unsubscribe(const char *channel);

struct subscriber_stats {
	unsigned long subscribes;         /* SUBSCRIBEs sent; on a Cluster SSUBSCRIBEs confirmed */
	unsigned long reconnects;         /* subscriber connections that dropped */
	unsigned long lost_moved, lost_disconnected;  /* Cluster: channels lost, by why */
};
void subscriber_stats(struct subscriber_stats *st);

#endif

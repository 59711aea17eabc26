/* REDIS_WAIT_REPLICAS: a frame is published only once enough replicas hold
 * what it shows (doc/redis.md, "Redis Sentinel, and durability across a
 * failover"). The write goes without its publish, a WAIT follows its
 * answer on the connection that answered, and the frames are published
 * when the WAIT answers. */
#ifndef SC_FENCE_H
#define SC_FENCE_H

#include <stddef.h>

#include <async.h>

struct worker;

/* Whether the worker fences its frames (REDIS_WAIT_REPLICAS > 0). */
int fence_on(const struct worker *w);
/* WAIT on ran, the connection a write's answer came on (its callback's);
 * 0, or -1 (and cb is not called) when it is gone or going. */
int fence_wait(struct worker *w, redisAsyncContext *ran, redisCallbackFn *cb, void *priv);
/* Whether a WAIT's answer says enough replicas have the writes before it;
 * when not, it is counted and logged (what: "chunks", "end"). */
int fence_held(struct worker *w, const redisReply *r, const char *what);
/* Publishes frame on channel (routed by the channel: on a cluster a slot
 * on the move answers ASK), after the WAIT that held its write. */
void fence_publish(struct worker *w, const char *channel, const char *frame, size_t len);

#endif

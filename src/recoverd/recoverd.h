/* recoverd's passes, each over one synchronous Redis connection; each
 * returns -1 when the connection failed. */
#ifndef SC_RECOVERD_H
#define SC_RECOVERD_H

#include <hiredis.h>

struct reclaim {
	char cursor[64];          /* XAUTOCLAIM's position in the pending list */
	long long reclaimed, requeued, finished;
};

/* Jobs pending longer than min_idle_ms whose message has no lease holder go
 * back to the jobs stream with resume_from (reclaim.c). */
int reclaim_jobs(redisContext *c, const char *consumer, long min_idle_ms, struct reclaim *st);

/* The sessions of relays silent for dead_ms leave the registry (registry.c). */
int forget_dead_relays(redisContext *c, long long now, long dead_ms);

#endif

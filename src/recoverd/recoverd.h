/* recoverd's passes, each over one synchronous Redis connection; each
 * returns -1 when the connection failed. */
#ifndef SC_RECOVERD_H
#define SC_RECOVERD_H

#include <hiredis.h>
#include <stddef.h>

#include "keys.h"
#include "redis_sync.h"

/* A list of ids of at most 63 bytes (ids.c). */
struct ids {
	char (*v)[64];
	size_t n, cap;
};
void ids_add(struct ids *l, const char *id, size_t len);
void ids_clear(struct ids *l);
void ids_release(struct ids *l);

struct settings {
	long lease_ms, dead_ms, forget_ms;
	long chunk_ttl_s, history_max;   /* for a reply recoverd has to end itself */
};

struct reclaim {
	int part;                 /* the partition whose job stream's pending list is read */
	char cursor[64];          /* which is read on after this id ("": from its start) */
	struct ids gone[PARTITIONS]; /* per partition, pending ids whose stream entry was
				      trimmed, this round */
	long long last_sweep_ms;  /* when lost jobs were last looked for */
	long long reclaimed, requeued, finished, ended_lost;
};

/* Jobs pending longer than lease_ms whose message has no lease holder go
 * back to the jobs stream with resume_from (reclaim.c). */
int reclaim_jobs(struct rs *c, const char *node, const struct settings *set,
		 struct reclaim *st);

/* Messages in flight whose job is in no stream entry any more, and no lease
 * holder: requeued, or ended with an error when their prompt is lost too
 * (orphans.c). *held counts those still leased (their worker may be alive). */
int recover_lost_jobs(struct rs *c, const char *node, const struct settings *set,
		      struct reclaim *st, long *held);

/* The sessions of relays silent for dead_ms leave the registry (registry.c). */
int forget_dead_relays(struct rs *c, long long now, long dead_ms);

#endif

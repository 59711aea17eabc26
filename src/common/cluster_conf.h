/* What the blocking (redis_cluster.c) and async (aredis_cluster.c) cluster
 * clients share: their settings and seeds, the bounds of a command's
 * retries, and the nodes a slot map is read from. */
#ifndef SC_CLUSTER_CONF_H
#define SC_CLUSTER_CONF_H

#include "cluster_slot.h"
#include "redis_cluster.h"  /* struct rcluster_opts */

/* More redirects than this for one command is a cluster in flux (or a
 * loop): the last reply goes to the caller. */
#define CLUSTER_MAX_REDIRECTS 16
/* MOVED answers (to any command) before the whole map is read again. */
#define CLUSTER_MOVED_BEFORE_RELOAD 16
/* A retry's wait: doubled each time, from the first up to the max. */
#define CLUSTER_BACKOFF_FIRST_MS 10
#define CLUSTER_BACKOFF_MAX_MS 250

struct cluster_conf {
	struct redis_addr *seeds;
	int nseeds;
	char user[128], password[256];
	int timeout_ms, retry_ms;
};

/* Copies the seeds and the options (o may be NULL: the defaults). */
void cluster_conf_init(struct cluster_conf *f, const struct redis_addr *seeds, int nseeds,
		       const struct rcluster_opts *o);
void cluster_conf_free(struct cluster_conf *f);

int cluster_backoff_next(int ms);

/* The nodes to read the slot map from, in order: the primaries m knows,
 * then the seeds (*n of them; free the array). */
struct redis_addr *cluster_map_sources(const struct cluster_map *m, const struct cluster_conf *f,
				       int *n);

/* Rewrites err (the last seed's failure) as the failure of all nseeds. */
void cluster_seeds_failed(char *err, size_t errlen, int nseeds);

#endif

#include "cluster_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void cluster_conf_init(struct cluster_conf *f, const struct redis_addr *seeds, int nseeds,
		       const struct rcluster_opts *o)
{
	f->seeds = xcalloc((size_t)(nseeds > 0 ? nseeds : 1), sizeof *f->seeds);
	if (nseeds > 0)
		memcpy(f->seeds, seeds, (size_t)nseeds * sizeof *seeds);
	f->nseeds = nseeds;
	snprintf(f->user, sizeof f->user, "%s", o && o->user ? o->user : "");
	snprintf(f->password, sizeof f->password, "%s", o && o->password ? o->password : "");
	f->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 2000;
	f->retry_ms = o && o->retry_ms > 0 ? o->retry_ms : 5000;
}

void cluster_conf_free(struct cluster_conf *f)
{
	free(f->seeds);
	f->seeds = NULL;
}

int cluster_backoff_next(int ms)
{
	return ms * 2 > CLUSTER_BACKOFF_MAX_MS ? CLUSTER_BACKOFF_MAX_MS : ms * 2;
}

struct redis_addr *cluster_map_sources(const struct cluster_map *m, const struct cluster_conf *f,
				       int *n)
{
	*n = m->nnodes + f->nseeds;
	struct redis_addr *a = xcalloc((size_t)*n + 1, sizeof *a);
	if (m->nnodes)
		memcpy(a, m->nodes, (size_t)m->nnodes * sizeof *a);
	if (f->nseeds)
		memcpy(a + m->nnodes, f->seeds, (size_t)f->nseeds * sizeof *a);
	return a;
}

void cluster_seeds_failed(char *err, size_t errlen, int nseeds)
{
	char last[512];
	snprintf(last, sizeof last, "%s", err);
	snprintf(err, errlen, "none of the %d cluster seed nodes answered (the last: %.400s)",
		 nseeds, last);
}

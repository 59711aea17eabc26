/* The Prometheus text exposition format (version 0.0.4): what GET /metrics
 * of a relay and GET /api/metrics answer. */
#ifndef SC_PROM_H
#define SC_PROM_H

#include <stdint.h>

#include "strbuf.h"

/* Latency buckets in seconds, 1 ms to 2.5 s, then +Inf. */
#define PROM_BUCKETS 12

struct prom_hist {
	uint64_t counts[PROM_BUCKETS];   /* per bucket, not cumulative; the last is +Inf */
	uint64_t count;
	double sum;                      /* seconds */
};

/* "# HELP name help" and "# TYPE name type" */
void prom_head(struct strbuf *sb, const char *name, const char *type, const char *help);
/* one sample; labels is the inside of {...} (NULL or "" for none) */
void prom_sample(struct strbuf *sb, const char *name, const char *labels, double value);
/* Counts one observation; returns the index of the bucket it went in. */
int prom_hist_observe(struct prom_hist *h, double seconds);
void prom_hist_write(struct strbuf *sb, const char *name, const char *labels,
		     const struct prom_hist *h);

#endif

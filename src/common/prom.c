#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* the upper bounds of every bucket but +Inf */
static const double prom_bounds[PROM_BUCKETS - 1] = {
	0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

void prom_head(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	sb_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labelled(struct strbuf *sb, const char *name, const char *suffix, const char *labels,
		     const char *extra)
{
	int has = labels && *labels;
	sb_addf(sb, "%s%s", name, suffix);
	if (has || extra)
		sb_addf(sb, "{%s%s%s}", has ? labels : "", has && extra ? "," : "", extra ? extra : "");
}

void prom_sample(struct strbuf *sb, const char *name, const char *labels, double value)
{
	labelled(sb, name, "", labels, NULL);
	if (value == floor(value) && fabs(value) < 1e15)
		sb_addf(sb, " %.0f\n", value);
	else
		sb_addf(sb, " %.6f\n", value);
}

int prom_hist_observe(struct prom_hist *h, double seconds)
{
	int i = 0;
	while (i < PROM_BUCKETS - 1 && seconds > prom_bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += seconds;
	return i;
}

void prom_hist_write(struct strbuf *sb, const char *name, const char *labels,
		     const struct prom_hist *h)
{
	uint64_t cum = 0;
	char le[32];
	for (int i = 0; i < PROM_BUCKETS; i++) {
		cum += h->counts[i];
		if (i < PROM_BUCKETS - 1)
			snprintf(le, sizeof le, "le=\"%g\"", prom_bounds[i]);
		else
			snprintf(le, sizeof le, "le=\"+Inf\"");
		labelled(sb, name, "_bucket", labels, le);
		sb_addf(sb, " %llu\n", (unsigned long long)cum);
	}
	labelled(sb, name, "_sum", labels, NULL);
	sb_addf(sb, " %.6f\n", h->sum);
	labelled(sb, name, "_count", labels, NULL);
	sb_addf(sb, " %llu\n", (unsigned long long)h->count);
}

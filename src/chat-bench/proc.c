/* Resident memory and CPU time of another process, from /proc, and the
 * percentiles of the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

int proc_usage(long pid, struct proc_usage *u)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the fields after the command, which may hold spaces and parentheses */
	char *p = strrchr(buf, ')');
	unsigned long utime, stime;
	long rss_pages;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
			 "%*d %*d %*u %*u %ld", &utime, &stime, &rss_pages) != 3)
		return -1;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	u->cpu_s = (double)(utime + stime) / (double)tick;
	u->rss_kb = rss_pages * page / 1024;
	return 0;
}

double machine_busy_s(void)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
		       &iowait, &irq, &softirq, &steal);
	fclose(f);
	if (n != 8)
		return -1;
	return (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK);
}

void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double samples_pct(struct samples *s, double p)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, cmp);
	size_t i = (size_t)(p / 100 * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

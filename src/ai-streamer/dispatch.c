/* How a worker takes jobs (doc/redis.md, "Two steps"). Every job put on a
 * partition's stream jobs:{t} is announced by one entry on jobs:ready. The
 * worker blocks on jobs:ready alone, for one entry at a time: one key, so
 * Redis hands each entry to one blocked worker, the longest waiting first,
 * and a worker never gets more entries than it has room for. For each entry it
 * reads one job of that partition, without blocking (COUNT 1: one key, one
 * job at most). A job whose entry never came is found by the sweep: every
 * second a worker with room reads each partition's stream in turn, without
 * blocking, until it is full. Every command names one key: one hash slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "keys.h"
#include "log.h"
#include "ready.h"
#include "worker.h"
#include "xalloc.h"

#define SWEEP_MS 1000

/* From 0: jobs queued before any worker existed are served too. */
static void create_groups(struct aredis *ar)
{
	char k[KEY_MAX];
	for (int p = 0; p < PARTITIONS; p++)
		aredis_command(ar, NULL, NULL, "XGROUP CREATE %s %s 0 MKSTREAM", key_jobs(k, p),
			       JOBS_GROUP);
	aredis_command(ar, NULL, NULL, "XGROUP CREATE %s %s 0 MKSTREAM", key_jobs_ready(k),
		       JOBS_GROUP);
}

/* Jobs the worker can still take: those reads in flight may bring count in. */
static long room(const struct worker *w)
{
	return w->cfg.concurrency - w->nactive - w->promised;
}

/* A read error; a missing group (the streams were deleted) is made again. */
static void read_failed(struct worker *w, const redisReply *r)
{
	log_error("XREADGROUP failed", "error=\"%s\"", r->str);
	if (!strncmp(r->str, "NOGROUP", 7))
		create_groups(&w->jobs);
}

/* The entries of one stream of an XREADGROUP answer: (name (entry...)), or
 * NULL. */
static const redisReply *stream_entries(const redisReply *r)
{
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1)
		return NULL;
	const redisReply *s = r->element[0];
	if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	return s->element[1];
}

/* Each entry of partition p's job stream becomes a job. */
static void take_entries(struct worker *w, int p, const redisReply *entries)
{
	for (size_t e = 0; entries && e < entries->elements; e++) {
		const redisReply *ent = entries->element[e];
		if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
		    ent->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		const redisReply *f = ent->element[1];
		char *fields[64];
		size_t lens[64], n = 0;
		for (size_t i = 0; i < f->elements && n < 64; i++) {
			fields[n] = f->element[i]->str ? f->element[i]->str : "";
			lens[n++] = f->element[i]->len;
		}
		job_begin(w, p, ent->element[0]->str, fields, lens, n);
	}
}

/* After any read: a stopping worker hands over what the read brought, the
 * others read again if they have room. */
static void read_done(struct worker *w)
{
	if (w->stopping)
		jobs_hand_over(w);
	worker_want_jobs(w);
}

/* A read of one partition's stream (a take, or a step of the sweep). */
struct part_read {
	struct worker *w;
	int partition;
	long count;
	int sweep;
};

static void sweep_next(struct worker *w);

static void got_part(redisAsyncContext *ac, void *reply, void *priv)
{
	struct part_read *pr = priv;
	struct worker *w = pr->w;
	redisReply *r = reply;
	(void)ac;
	w->reading--;
	w->promised -= pr->count;
	if (r && r->type == REDIS_REPLY_ERROR)
		read_failed(w, r);
	else if (r)
		take_entries(w, pr->partition, stream_entries(r));
	if (pr->sweep) {
		w->sweep_at = pr->partition + 1;
		w->sweeping = 0;
		if (r)
			sweep_next(w);
	}
	free(pr);
	read_done(w);
}

/* XREADGROUP ... COUNT count STREAMS jobs:{t} > without blocking, on conn. */
static int read_partition(struct worker *w, struct aredis *conn, int p, long count, int sweep)
{
	char k[KEY_MAX], scount[24];
	snprintf(scount, sizeof scount, "%ld", count);
	struct part_read *pr = xmalloc(sizeof *pr);
	*pr = (struct part_read){ w, p, count, sweep };
	if (aredis_command(conn, got_part, pr, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s >",
			   JOBS_GROUP, w->node, scount, key_jobs(k, p))) {
		free(pr);
		return -1;
	}
	w->reading++;
	w->promised += count;
	return 0;
}

/* An entry this worker has no room for goes back for another worker. */
static void announce_again(struct worker *w, int p)
{
	struct ready_cmd rc;
	ready_cmd(&rc, p);
	aredis_command_argv(&w->cmd, NULL, NULL, READY_ARGC, rc.argv, NULL);
}

static void got_ready(redisAsyncContext *ac, void *reply, void *priv)
{
	struct worker *w = priv;
	redisReply *r = reply;
	(void)ac;
	w->reading--;
	w->blocked = 0;
	if (r && r->type == REDIS_REPLY_ERROR)
		read_failed(w, r);
	const redisReply *entries = stream_entries(r);
	for (size_t e = 0; entries && e < entries->elements; e++) {
		const redisReply *ent = entries->element[e];
		if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
		    ent->element[1]->type != REDIS_REPLY_ARRAY || ent->element[1]->elements != 2)
			continue;
		const redisReply *v = ent->element[1]->element[1];
		int p = v->str ? ready_partition(v->str, v->len) : -1;
		if (p < 0)
			continue;
		if (w->stopping || room(w) <= 0 || read_partition(w, &w->jobs, p, 1, 0))
			announce_again(w, p);
	}
	if (r)  /* lost: on_ready starts reading again */
		read_done(w);
}

/* One blocking read of jobs:ready, one entry at a time. NOACK: an entry
 * is only a hint, the job itself waits in its partition's stream. One, not
 * COUNT the room: a worker that reads again the moment it has taken a job
 * would otherwise take every entry that came meanwhile, while the others
 * wait blocked (150 replies went 134 to one worker of two). With one, the
 * blocked workers are served in turn. */
static void read_ready(struct worker *w)
{
	if (room(w) <= 0 || w->blocked || w->stopping || !w->jobs.ready)
		return;
	char block[24], k[KEY_MAX];
	snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
	if (aredis_command(&w->jobs, got_ready, w,
			   "XREADGROUP GROUP %s %s COUNT 1 BLOCK %s NOACK STREAMS %s >", JOBS_GROUP,
			   w->node, block, key_jobs_ready(k)))
		return;
	w->reading++;
	w->blocked = 1;
}

/* The sweep's next partition, on the command connection (the jobs one is
 * blocked), one at a time while there is room. */
static void sweep_next(struct worker *w)
{
	while (!w->sweeping && w->sweep_at < PARTITIONS && !w->stopping && room(w) > 0) {
		if (read_partition(w, &w->cmd, w->sweep_at, room(w), 1) == 0) {
			w->sweeping = 1;
			return;
		}
		w->sweep_at = PARTITIONS;  /* the connection is away: the next tick */
	}
}

static void sweep_tick(uv_timer_t *t)
{
	struct worker *w = t->data;
	/* a blocked read that got no answer (its node lost) is made again
	 * here on a cluster, where no reconnection calls on_ready */
	if (w->jobs.cluster)
		read_ready(w);
	if (w->sweeping)
		return;
	w->sweep_at = 0;
	sweep_next(w);
}

void dispatch_connected(struct worker *w)
{
	create_groups(&w->jobs);
	read_ready(w);
}

void dispatch_init(struct worker *w)
{
	uv_timer_init(w->loop, &w->sweep);
	w->sweep.data = w;
	uv_timer_start(&w->sweep, sweep_tick, SWEEP_MS, SWEEP_MS);
}

void worker_want_jobs(struct worker *w)
{
	/* a read in flight may still bring jobs: they are handed over too */
	if (w->stopping && w->nactive == 0 && !w->reading) {
		uv_stop(w->loop);
		return;
	}
	read_ready(w);
}

/* Reclaiming the jobs of dead workers (doc/protocol.md, "When a worker dies").
 *
 * A job stays in the group's pending list from XREADGROUP to XACK. Each pass
 * reads the entries pending longer than a lease with XPENDING, which leaves
 * their idle time alone: a job whose message still has a lease holder (a
 * long reply) is looked at again next pass, not a lease later, so a worker's
 * death is seen about a lease after it whenever it happens. The rest go to
 * requeue.lua, which puts the job back in the stream with resume_from and
 * acknowledges the old entry; its XACK makes the requeue happen once even
 * with several recoverd processes.
 *
 * A pass reads the whole pending list, page after page, up to a bound in
 * entries and time; past it the next pass goes on from there. An entry
 * still pending whose stream entry is gone (XADD MAXLEN trimmed it) names
 * no message: after a whole round over the list, orphans.c looks for the
 * messages in flight that no entry names, and only then are such ids
 * acknowledged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "ready.h"
#include "recoverd.h"
#include "redis_sync.h"
#include "util.h"
#include "validate.h"

#define PAGE 100                 /* pending entries read at once */
#define PASS_ENTRIES 20000       /* at most this many in one pass... */
#define PASS_US 500000           /* ...and at most this long */

static const redisReply *field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(fields->element[i]->str, name) &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	return NULL;
}

/* One pending entry and its fields: -1 if the connection failed. */
static int requeue(struct rs *c, const char *entry_id, const redisReply *fields,
		   struct reclaim *st)
{
	char kjobs[KEY_MAX], kmeta[KEY_MAX], klock[KEY_MAX], kchunks[KEY_MAX];
	const redisReply *m = field(fields, "message_id"), *s = field(fields, "session_id"),
			 *u = field(fields, "user_id"), *model = field(fields, "model"),
			 *p = field(fields, "prompt");
	if (!m || !valid_message_id(m->str, m->len) || !s || !u || !p) {
		/* nothing can be done with it; the worker acknowledges such entries too */
		redisReply *r = rs_command(c, "XACK %s %s %s", key_jobs(kjobs, st->part),
					     JOBS_GROUP, entry_id);
		if (!r)
			return -1;
		freeReplyObject(r);
		log_warn("bad job entry dropped", "entry=%s", entry_id);
		return 0;
	}
	const char *keys[] = { key_jobs(kjobs, st->part), key_meta(kmeta, m->str),
			       key_lock(klock, m->str), key_chunks(kchunks, m->str) };
	const char *args[] = { JOBS_GROUP, entry_id, m->str, s->str, u->str, model ? model->str : "",
			       p->str };
	size_t lens[] = { strlen(JOBS_GROUP), strlen(entry_id), m->len, s->len, u->len,
			  model ? model->len : 0, p->len };
	redisReply *r = rs_eval(c, SCRIPT_REQUEUE, 4, keys, 7, args, lens);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		const char *what = r->element[0]->str;
		if (strcmp(what, "leased") != 0)
			st->reclaimed++;
		if (!strcmp(what, "requeued")) {
			st->requeued++;
			ready_announce(c, st->part);
			log_info("job requeued", "message=%s session=%s entry=%s resume_from=%lld", m->str,
				 s->str, entry_id, r->element[1]->integer);
		} else if (!strcmp(what, "finished")) {
			st->finished++;
			log_info("ended job acknowledged", "message=%s entry=%s", m->str, entry_id);
		}
	} else if (r->type == REDIS_REPLY_ERROR)
		log_warn("requeue failed", "message=%s error=\"%s\"", m->str, r->str);
	freeReplyObject(r);
	return 0;
}

/* The entries of one XPENDING page: their fields read in one round trip,
 * then each requeued or noted as gone. -1 if the connection failed. */
static int handle_page(struct rs *c, const redisReply *page, struct reclaim *st)
{
	char kjobs[KEY_MAX];
	const char *ids[PAGE];
	redisReply *entries[PAGE] = { 0 };
	size_t n = 0;
	key_jobs(kjobs, st->part);
	for (size_t i = 0; i < page->elements && n < PAGE; i++) {
		const redisReply *e = page->element[i];
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    e->element[0]->type == REDIS_REPLY_STRING)
			ids[n++] = e->element[0]->str;
	}
	for (size_t i = 0; i < n; i++)
		rs_append(c, "XRANGE %s %s %s", kjobs, ids[i], ids[i]);
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if (rs_get_reply(c, (void **)&entries[i]) != REDIS_OK) {
			rc = -1;
			break;
		}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const redisReply *r = entries[i];
		if (r->type != REDIS_REPLY_ARRAY)
			continue;
		if (r->elements == 0)
			ids_add(&st->gone[st->part], ids[i], strlen(ids[i]));
		else if (r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
			 r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
			rc = requeue(c, ids[i], r->element[0]->element[1], st);
	}
	for (size_t i = 0; i < n; i++)
		if (entries[i])
			freeReplyObject(entries[i]);
	return rc;
}

/* Reads pages from st->cursor on until the list ends (*done = 1) or the
 * pass's bound. -1 if the connection failed. */
static int read_pending(struct rs *c, long min_idle_ms, struct reclaim *st, int *done)
{
	char kjobs[KEY_MAX], start[72];
	int64_t until = mono_us() + PASS_US;
	long looked = 0;
	*done = 0;
	key_jobs(kjobs, st->part);
	while (looked < PASS_ENTRIES && mono_us() < until) {
		snprintf(start, sizeof start, "%s%s", st->cursor[0] ? "(" : "",
			 st->cursor[0] ? st->cursor : "-");
		redisReply *r = rs_command(c, "XPENDING %s %s IDLE %ld %s + %d", kjobs, JOBS_GROUP,
					     min_idle_ms, start, PAGE);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
			/* NOGROUP before any worker made the group: nothing pending */
			if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) != 0)
				log_warn("XPENDING failed", "error=\"%s\"", r->str);
			freeReplyObject(r);
			*done = 1;
			return 0;
		}
		const redisReply *last = r->element[r->elements - 1];
		if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
		    last->element[0]->type == REDIS_REPLY_STRING)
			snprintf(st->cursor, sizeof st->cursor, "%s", last->element[0]->str);
		size_t got = r->elements;
		int rc = handle_page(c, r, st);
		freeReplyObject(r);
		if (rc)
			return -1;
		looked += (long)got;
		if (got < PAGE) {
			*done = 1;
			return 0;
		}
	}
	return 0;
}

/* XACK of partition p's pending ids whose entries are gone, a page at a time. */
static int ack_gone(struct rs *c, int p, const struct ids *gone)
{
	char kjobs[KEY_MAX];
	key_jobs(kjobs, p);
	for (size_t i = 0; i < gone->n; i += PAGE) {
		size_t n = gone->n - i < PAGE ? gone->n - i : PAGE;
		const char *argv[3 + PAGE];
		argv[0] = "XACK";
		argv[1] = kjobs;
		argv[2] = JOBS_GROUP;
		for (size_t k = 0; k < n; k++)
			argv[3 + k] = gone->v[i + k];
		redisReply *r = rs_command_argv(c, (int)(3 + n), argv, NULL);
		if (!r)
			return -1;
		freeReplyObject(r);
	}
	return 0;
}

/* After a whole round: the jobs whose entries are gone, if any, are looked
 * for among the messages in flight, at most every half lease (the search
 * reads the keyspace and the stream). Their ids are acknowledged once no
 * message without an entry is left, except ones under a live lease. */
static int after_round(struct rs *c, const char *node, const struct settings *set,
		       struct reclaim *st)
{
	long long now = now_ms();
	size_t gone = 0;
	for (int p = 0; p < PARTITIONS; p++)
		gone += st->gone[p].n;
	if (!gone || now - st->last_sweep_ms < set->lease_ms / 2)
		return 0;
	st->last_sweep_ms = now;
	log_info("pending jobs without a stream entry", "count=%zu", gone);
	long held = 0;
	if (recover_lost_jobs(c, node, set, st, &held))
		return -1;
	if (held)
		return 0;
	for (int p = 0; p < PARTITIONS; p++)
		if (st->gone[p].n && ack_gone(c, p, &st->gone[p]))
			return -1;
	return 0;
}

int reclaim_jobs(struct rs *c, const char *node, const struct settings *set,
		 struct reclaim *st)
{
	if (!st->cursor[0] && st->part == 0)  /* a new round */
		for (int p = 0; p < PARTITIONS; p++)
			ids_clear(&st->gone[p]);
	/* every partition's job stream in turn, each pass bounded per stream */
	while (st->part < PARTITIONS) {
		int done;
		if (read_pending(c, set->lease_ms, st, &done))
			return -1;
		if (!done)
			return 0;
		st->cursor[0] = '\0';
		st->part++;
	}
	st->part = 0;
	return after_round(c, node, set, st);
}

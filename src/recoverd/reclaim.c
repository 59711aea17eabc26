/* Reclaiming the jobs of dead workers (DESIGN.md "The life of a message", 4).
 *
 * A job stays in the group's pending list from XREADGROUP to XACK. Once it
 * has been pending longer than a lease, XAUTOCLAIM hands it to us; if its
 * message still has a lease holder the worker is alive (a long reply) and
 * we leave it; otherwise requeue.lua puts it back in the stream with
 * resume_from and acknowledges the old entry. Several recoverd processes may
 * run: XAUTOCLAIM gives an entry to one of them, and XACK in the script
 * makes the requeue happen once. */
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "recoverd.h"
#include "redis_sync.h"
#include "validate.h"

#define CLAIM_BATCH 100

static const redisReply *field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(fields->element[i]->str, name) &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	return NULL;
}

/* One claimed entry: -1 if the connection failed. */
static int requeue(redisContext *c, const char *entry_id, const redisReply *fields,
		   struct reclaim *st)
{
	char kjobs[KEY_MAX], kmeta[KEY_MAX], klock[KEY_MAX], kchunks[KEY_MAX];
	const redisReply *m = field(fields, "message_id"), *s = field(fields, "session_id"),
			 *u = field(fields, "user_id"), *model = field(fields, "model"),
			 *p = field(fields, "prompt");
	if (!m || !valid_message_id(m->str, m->len) || !s || !u || !p) {
		/* nothing can be done with it; the worker acknowledges such entries too */
		redisReply *r = redisCommand(c, "XACK %s %s %s", key_jobs(kjobs), JOBS_GROUP, entry_id);
		if (!r)
			return -1;
		freeReplyObject(r);
		log_warn("bad job entry dropped", "entry=%s", entry_id);
		return 0;
	}
	const char *keys[] = { key_jobs(kjobs), key_meta(kmeta, m->str), key_lock(klock, m->str),
			       key_chunks(kchunks, m->str) };
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

int reclaim_jobs(redisContext *c, const char *consumer, long min_idle_ms, struct reclaim *st)
{
	char kjobs[KEY_MAX];
	if (!st->cursor[0])
		snprintf(st->cursor, sizeof st->cursor, "0-0");
	redisReply *r = redisCommand(c, "XAUTOCLAIM %s %s %s %ld %s COUNT %d", key_jobs(kjobs),
				     JOBS_GROUP, consumer, min_idle_ms, st->cursor, CLAIM_BATCH);
	if (!r)
		return -1;
	int rc = 0;
	if (r->type == REDIS_REPLY_ERROR) {
		/* NOGROUP before any worker made the group: nothing to claim */
		if (strncmp(r->str, "NOGROUP", 7) != 0)
			log_warn("XAUTOCLAIM failed", "error=\"%s\"", r->str);
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
		   r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(st->cursor, sizeof st->cursor, "%s", r->element[0]->str);
		const redisReply *entries = r->element[1];
		for (size_t i = 0; rc == 0 && entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
		     i++) {
			const redisReply *e = entries->element[i];
			if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
			    e->element[0]->type == REDIS_REPLY_STRING &&
			    e->element[1]->type == REDIS_REPLY_ARRAY)
				rc = requeue(c, e->element[0]->str, e->element[1], st);
		}
	}
	freeReplyObject(r);
	return rc;
}

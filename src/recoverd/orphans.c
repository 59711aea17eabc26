/* Jobs lost from the jobs stream. XADD MAXLEN ~ trims the oldest entries
 * whether or not they are still pending, so a long reply's job, or a
 * backlog's, can lose its entry; if its worker then dies, nothing names the
 * message any more and its session would stay "in progress" for ever.
 *
 * When reclaim.c meets pending ids without an entry, this looks at every
 * message in flight (the members of the streams:user:{U} sets), keeps those
 * queued or streaming that no stream entry names, and for each without a
 * lease holder runs orphan.lua: a new job from the prompt in the session's
 * history, or, with the prompt gone too, the reply ended with an error
 * through finish.lua under a lease recoverd takes. This reads the keyspace
 * (SCAN) and the whole stream, so it runs only when such ids appear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "ready.h"
#include "recoverd.h"
#include "redis_sync.h"
#include "strbuf.h"
#include "util.h"
#include "validate.h"
#include "xalloc.h"

#define SCAN_COUNT 1000
#define XRANGE_COUNT 1000

struct inflight {
	char mid[ID_MAX + 1], sid[ID_MAX + 1], uid[ID_MAX + 1];
	int locked;   /* a lease holder, maybe alive */
	int named;    /* a stream entry names it */
};

static int by_mid(const void *a, const void *b)
{
	return strcmp(((const struct inflight *)a)->mid, ((const struct inflight *)b)->mid);
}

/* The SCAN pattern of every streams:user:{U} key, the prefix's glob
 * characters escaped. */
static void user_sets_pattern(char *out, size_t size)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = keys_prefix(); *p; p++) {
		if (strchr("*?[]\\", *p))
			sb_addc(&sb, '\\');
		sb_addc(&sb, *p);
	}
	sb_adds(&sb, "streams:user:{*}");
	snprintf(out, size, "%s", sb.buf);
	sb_release(&sb);
}

/* The ids of the messages in flight in the user sets of one node. */
static int messages_in_flight_on(struct rs *c, int node, struct ids *mids)
{
	char pattern[KEY_MAX * 2], cursor[32] = "0";
	user_sets_pattern(pattern, sizeof pattern);
	do {
		redisReply *r = rs_command_node(c, node, "SCAN %s MATCH %s COUNT %d TYPE zset", cursor,
						pattern, SCAN_COUNT);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			log_warn("SCAN failed", "error=\"%s\"", r->type == REDIS_REPLY_ERROR ? r->str : "");
			freeReplyObject(r);
			return 0;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		const redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++)
			rs_append(c, "ZRANGE %b 0 -1", keys->element[i]->str,
					   (size_t)keys->element[i]->len);
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *z;
			if (rs_get_reply(c, (void **)&z) != REDIS_OK) {
				freeReplyObject(r);
				return -1;
			}
			for (size_t k = 0; z->type == REDIS_REPLY_ARRAY && k < z->elements; k++)
				if (valid_message_id(z->element[k]->str, z->element[k]->len))
					ids_add(mids, z->element[k]->str, z->element[k]->len);
			freeReplyObject(z);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

/* The ids of the messages in flight, from every user's set (on a cluster,
 * SCAN of each primary: each knows only its own keys). */
static int messages_in_flight(struct rs *c, struct ids *mids)
{
	for (int n = 0; n < rs_nodes(c); n++)
		if (messages_in_flight_on(c, n, mids))
			return -1;
	return 0;
}

/* Of mids, those queued or streaming, with their session, user and lease. */
static int still_in_flight(struct rs *c, const struct ids *mids, struct inflight *out,
			   size_t *n)
{
	char k[KEY_MAX];
	*n = 0;
	for (size_t i = 0; i < mids->n; i++) {
		rs_append(c, "HMGET %s status session_id user_id", key_meta(k, mids->v[i]));
		rs_append(c, "EXISTS %s", key_lock(k, mids->v[i]));
	}
	for (size_t i = 0; i < mids->n; i++) {
		redisReply *m = NULL, *l = NULL;
		if (rs_get_reply(c, (void **)&m) != REDIS_OK || rs_get_reply(c, (void **)&l) != REDIS_OK) {
			if (m)
				freeReplyObject(m);
			return -1;
		}
		if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
		    m->element[0]->type == REDIS_REPLY_STRING &&
		    (!strcmp(m->element[0]->str, "queued") || !strcmp(m->element[0]->str, "streaming")) &&
		    m->element[1]->type == REDIS_REPLY_STRING &&
		    valid_id(m->element[1]->str, m->element[1]->len) &&
		    m->element[2]->type == REDIS_REPLY_STRING &&
		    valid_id(m->element[2]->str, m->element[2]->len)) {
			struct inflight *f = &out[(*n)++];
			snprintf(f->mid, sizeof f->mid, "%s", mids->v[i]);
			snprintf(f->sid, sizeof f->sid, "%s", m->element[1]->str);
			snprintf(f->uid, sizeof f->uid, "%s", m->element[2]->str);
			f->locked = l->type == REDIS_REPLY_INTEGER && l->integer > 0;
			f->named = 0;
		}
		freeReplyObject(m);
		freeReplyObject(l);
	}
	return 0;
}

/* Marks the messages some entry of partition p's job stream names (f
 * sorted by mid). */
static int mark_named_in(struct rs *c, int p, struct inflight *f, size_t n)
{
	char kjobs[KEY_MAX], start[72] = "-";
	key_jobs(kjobs, p);
	for (;;) {
		redisReply *r = rs_command(c, "XRANGE %s %s + COUNT %d", kjobs, start, XRANGE_COUNT);
		if (!r)
			return -1;
		size_t got = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		if (got && r->element[got - 1]->type == REDIS_REPLY_ARRAY &&
		    r->element[got - 1]->elements == 2 &&
		    r->element[got - 1]->element[0]->type == REDIS_REPLY_STRING)
			snprintf(start, sizeof start, "(%s", r->element[got - 1]->element[0]->str);
		else
			got = 0;  /* no way on from a malformed page */
		for (size_t i = 0; i < got; i++) {
			const redisReply *e = r->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    e->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			const redisReply *fields = e->element[1];
			for (size_t k = 0; k + 1 < fields->elements; k += 2) {
				const redisReply *name = fields->element[k], *val = fields->element[k + 1];
				if (name->type != REDIS_REPLY_STRING || strcmp(name->str, "message_id") ||
				    val->type != REDIS_REPLY_STRING || val->len > ID_MAX)
					continue;
				struct inflight key;
				snprintf(key.mid, sizeof key.mid, "%s", val->str);
				struct inflight *hit = bsearch(&key, f, n, sizeof *f, by_mid);
				if (hit)
					hit->named = 1;
			}
		}
		freeReplyObject(r);
		if (got < XRANGE_COUNT)
			return 0;
	}
}

static int mark_named(struct rs *c, struct inflight *f, size_t n)
{
	for (int p = 0; p < PARTITIONS; p++)
		if (mark_named_in(c, p, f, n))
			return -1;
	return 0;
}

/* The second step of ending a reply (doc/redis.md, "Two steps"): it leaves
 * the user's replies in flight. Missed, chat-fcgi's cleanup removes it. */
static int user_reply_over(struct rs *c, const char *user, const char *mid)
{
	char kstreams[KEY_MAX];
	redisReply *r = rs_command(c, "ZREM %s %s", key_streams_user(kstreams, user), mid);
	int ok = r && r->type == REDIS_REPLY_INTEGER;
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

/* finish.lua under recoverd's lease: the reply ends as an error, its text
 * so far kept, and the session takes messages again. */
static int end_lost(struct rs *c, const struct settings *set, const char *owner,
		    const struct inflight *f, long long written, struct reclaim *st)
{
	char kchunks[KEY_MAX], kmeta[KEY_MAX], klock[KEY_MAX], kcancel[KEY_MAX], khist[KEY_MAX],
		ksess[KEY_MAX], kchan[KEY_MAX], karchive[KEY_MAX];
	char sttl[24], snow[24], shist[24], stotal[24];
	struct strbuf frame = STRBUF_INIT;
	frame_error(&frame, f->sid, f->mid, "interrupted",
		    "the job of this reply was lost; it ends here");
	snprintf(sttl, sizeof sttl, "%ld", set->chunk_ttl_s);
	snprintf(snow, sizeof snow, "%lld", (long long)now_ms());
	snprintf(shist, sizeof shist, "%ld", set->history_max);
	snprintf(stotal, sizeof stotal, "%lld", written);
	const char *keys[] = { key_chunks(kchunks, f->mid), key_meta(kmeta, f->mid),
			       key_lock(klock, f->mid), key_cancel(kcancel, f->mid),
			       key_history(khist, f->sid), key_session(ksess, f->sid),
			       key_archive(karchive, message_partition(f->mid)) };
	const char *args[] = { owner, "error", key_channel(kchan, f->sid), frame.buf, sttl, snow,
			       shist, f->mid, stotal, archive_maxlen() };
	redisReply *r = rs_eval(c, SCRIPT_FINISH, 7, keys, 10, args, NULL);
	sb_release(&frame);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER) {
		st->ended_lost++;
		if (user_reply_over(c, f->uid, f->mid))
			log_warn("ZREM from the user's replies failed", "message=%s", f->mid);
		log_warn("lost job ended", "message=%s session=%s reason=\"prompt gone too\" chunks=%lld",
			 f->mid, f->sid, r->integer);
	} else
		log_warn("ending a lost job failed", "message=%s reply=\"%s\"", f->mid,
			 r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return 0;
}

/* One message no entry names and no lease holds. */
static int recover_one(struct rs *c, const char *node, const struct settings *set,
		       const struct inflight *f, struct reclaim *st, long *held)
{
	char kjobs[KEY_MAX], kmeta[KEY_MAX], klock[KEY_MAX], kchunks[KEY_MAX], khist[KEY_MAX];
	char owner[160], slease[24];
	snprintf(owner, sizeof owner, "%s:lost", node);
	snprintf(slease, sizeof slease, "%ld", set->lease_ms);
	const char *keys[] = { key_jobs(kjobs, message_partition(f->mid)), key_meta(kmeta, f->mid),
			       key_lock(klock, f->mid), key_chunks(kchunks, f->mid),
			       key_history(khist, f->sid) };
	const char *args[] = { f->mid, owner, slease };
	redisReply *r = rs_eval(c, SCRIPT_ORPHAN, 5, keys, 3, args, NULL);
	if (!r)
		return -1;
	int rc = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_INTEGER) {
		const char *what = r->element[0]->str;
		long long n = r->element[1]->integer;
		if (!strcmp(what, "requeued")) {
			st->requeued++;
			ready_announce(c, message_partition(f->mid));
			log_info("lost job requeued", "message=%s session=%s resume_from=%lld", f->mid,
				 f->sid, n);
		} else if (!strcmp(what, "no_prompt"))
			rc = end_lost(c, set, owner, f, n, st);
		else if (!strcmp(what, "leased"))
			(*held)++;
	} else if (r->type == REDIS_REPLY_ERROR)
		log_warn("requeue of a lost job failed", "message=%s error=\"%s\"", f->mid, r->str);
	freeReplyObject(r);
	return rc;
}

int recover_lost_jobs(struct rs *c, const char *node, const struct settings *set,
		      struct reclaim *st, long *held)
{
	struct ids mids = { 0 };
	struct inflight *f = NULL;
	size_t n = 0;
	int rc = messages_in_flight(c, &mids);
	if (rc == 0 && mids.n) {
		f = xmalloc(mids.n * sizeof *f);
		rc = still_in_flight(c, &mids, f, &n);
	}
	if (rc == 0 && n) {
		qsort(f, n, sizeof *f, by_mid);
		rc = mark_named(c, f, n);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (f[i].named)
			continue;
		if (f[i].locked)
			(*held)++;
		else
			rc = recover_one(c, node, set, &f[i], st, held);
	}
	free(f);
	ids_release(&mids);
	return rc;
}

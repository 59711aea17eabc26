/* Bringing one socket up to date, and keeping it so.
 *
 * Per socket the relay remembers, for the session's current reply, the last
 * chunk it has sent (cur_sent) and whether the end frame went out. Every
 * frame, live or read back from the chunk cache, passes admit(): a chunk
 * already sent is dropped, a chunk past a hole is held until the hole is
 * filled from stream:chunks:{M}. While a socket reads Redis (its first
 * snapshot, or a fill) live frames are held and then replayed through the
 * same admit(), so a frame can neither be lost nor sent twice. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "keys.h"
#include "log.h"
#include "relay.h"
#include "strbuf.h"

#define MAX_FILLS_PER_DRAIN 4
#define FILL_PAGE_MAX 1024

enum fill_kind { FILL_GAP, FILL_SNAPSHOT, FILL_RECOVER };

struct fill {
	struct conn *c;
	enum fill_kind kind;
	char mid[ID_MAX + 1];
	long from;                /* first chunk index read */
	long page;                /* chunks asked for; -1: to the end */
	long pages;               /* read so far */
	long sent;                /* chunk frames sent so far */
	long recover_last;        /* FILL_RECOVER: the client's lastChunkIndex */
	char then_mid[ID_MAX + 1];/* a newer reply to fill from 0 once this one is done */
	struct strbuf items;      /* FILL_SNAPSHOT: stored history items, joined */
};

enum admit { ADMIT_DROP, ADMIT_SEND, ADMIT_GAP };

static int is_cur(struct conn *c, const char *mid, size_t ml)
{
	return strlen(c->cur_mid) == ml && memcmp(c->cur_mid, mid, ml) == 0;
}

static void set_cur(struct conn *c, const char *mid, size_t ml)
{
	memcpy(c->cur_mid, mid, ml);
	c->cur_mid[ml] = '\0';
	c->cur_sent = -1;
	c->cur_hist = -1;
	c->cur_done = 0;
}

static enum admit admit(struct conn *c, enum frame_type t, const char *mid, size_t ml, long index,
			long total)
{
	if (!mid || ml == 0 || ml > ID_MAX)
		return ADMIT_SEND;
	if (t == FT_CHUNK) {
		if (index < 0)
			return ADMIT_DROP;
		if (!is_cur(c, mid, ml)) {
			if (index != 0)
				return ADMIT_GAP;
			set_cur(c, mid, ml);
		}
		if (c->cur_done || index <= c->cur_sent)
			return ADMIT_DROP;
		if (index > c->cur_sent + 1)
			return ADMIT_GAP;
		c->cur_sent = index;
		return ADMIT_SEND;
	}
	if (t == FT_COMPLETE || t == FT_CANCELLED || t == FT_ERROR) {
		if (!is_cur(c, mid, ml)) {
			if (total > 0)
				return ADMIT_GAP;
			set_cur(c, mid, ml);
		}
		if (c->cur_done)
			return ADMIT_DROP;
		if (total >= 0 && total - 1 > c->cur_sent)
			return ADMIT_GAP;
		c->cur_done = DONE_SENT;
		return ADMIT_SEND;
	}
	return ADMIT_SEND;
}

static void start_fill(struct conn *c, enum fill_kind kind, const char *mid, long from);
static void start_fill_of(struct fill *f);

static void hold(struct conn *c, struct msgbuf *m)
{
	if ((long)c->nheld >= relay.cfg.queue_frames) {
		/* it cannot even take in the replay: as slow as a full queue */
		conn_too_slow(c);
		return;
	}
	if (c->nheld == c->capheld) {
		c->capheld = c->capheld ? c->capheld * 2 : 16;
		c->held = realloc(c->held, c->capheld * sizeof *c->held);
		if (!c->held)
			abort();
	}
	m->refs++;
	c->held[c->nheld++] = m;
}

static void start_recover(struct conn *c, const char *mid, long last);

/* Frame fi came past a hole: read what is missing of its message. */
static void fill_gap_before(struct conn *c, const struct frame_info *fi)
{
	char mid[ID_MAX + 1];
	memcpy(mid, fi->message_id, fi->message_id_len);
	mid[fi->message_id_len] = '\0';
	start_fill(c, FILL_GAP, mid, is_cur(c, mid, fi->message_id_len) ? c->cur_sent + 1 : 0);
}

/* Live frames that arrived while the socket was reading Redis, in order.
 * A position given on the URL is replayed first, so that its chunks come
 * before any live one (guarantee 2). */
static void drain_held(struct conn *c)
{
	size_t i = 0;
	if (c->resume_mid[0]) {
		char mid[ID_MAX + 1];
		memcpy(mid, c->resume_mid, sizeof mid);
		c->resume_mid[0] = '\0';
		start_recover(c, mid, c->resume_last);
		return;
	}
	c->state = CONN_LIVE;
	for (; i < c->nheld && c->state == CONN_LIVE; i++) {
		struct msgbuf *m = c->held[i];
		const struct frame_info *fi = &m->fi;
		enum admit a = admit(c, fi->type, fi->message_id, fi->message_id_len, fi->index,
				     fi->total);
		/* Past a few fills in a row the hole cannot be filled (its chunks
		 * expired): let the frame through rather than stall the socket. */
		if (a == ADMIT_GAP && c->fills < MAX_FILLS_PER_DRAIN) {
			fill_gap_before(c, fi);
			break;  /* this frame and the rest stay held */
		}
		if (a != ADMIT_DROP)
			conn_send(c, m);  /* on overflow the socket closes and the loop ends */
		msgbuf_unref(m);
	}
	if (i && c->nheld > i)
		memmove(c->held, c->held + i, (c->nheld - i) * sizeof *c->held);
	c->nheld -= i;
	if (c->state == CONN_LIVE)
		c->fills = 0;
}

void conn_deliver(struct conn *c, struct msgbuf *m)
{
	if (c->state == CONN_SYNCING) {
		hold(c, m);
		return;
	}
	if (c->state != CONN_LIVE)
		return;  /* WAIT_SUB: its snapshot will include this */
	const struct frame_info *fi = &m->fi;
	switch (admit(c, fi->type, fi->message_id, fi->message_id_len, fi->index, fi->total)) {
	case ADMIT_SEND:
		conn_send(c, m);
		break;
	case ADMIT_DROP:
		break;
	case ADMIT_GAP:
		hold(c, m);
		fill_gap_before(c, fi);
		break;
	}
}

static int final_status(const char *st)
{
	return st && (!strcmp(st, "complete") || !strcmp(st, "cancelled") || !strcmp(st, "error"));
}

static void send_built(struct conn *c, struct strbuf *sb)
{
	conn_send_text(c, sb->buf, sb->len);
	sb_reset(sb);
}

/* welcome, then the history frame: the stored items (joined) and the reply
 * in progress, if any, as its text so far. */
static void greet(struct conn *c, const struct strbuf *items, const struct inprogress *ip)
{
	struct strbuf sb = STRBUF_INIT, msgs = STRBUF_INIT;
	const char *joined[1] = { items->buf };
	size_t lens[1] = { items->len };
	history_items(&msgs, joined, lens, items->len ? 1 : 0, ip, 1);
	frame_welcome(&sb, c->sid, relay.node);
	send_built(c, &sb);
	frame_history(&sb, c->sid, msgs.buf, msgs.len);
	send_built(c, &sb);
	sb_release(&sb);
	sb_release(&msgs);
	c->greeted = 1;
}

static void fill_free(struct fill *f)
{
	sb_release(&f->items);
	conn_unref(f->c);
	free(f);
}

/* A Redis request of a socket failed: if the connection went away, wait for
 * it to come back (sessions_*_ready restarts the sync); otherwise give up on
 * this socket, which reconnects and recovers. */
static int request_failed(struct conn *c, redisReply *r)
{
	if (!c->wsi || c->state == CONN_CLOSING)
		return 1;
	if (r && r->type != REDIS_REPLY_ERROR)
		return 0;
	if (r) {
		log_error("redis read failed", "session=%s error=\"%s\"", c->sid, r->str);
		conn_close(c, 1011, "server error");
	} else
		c->state = CONN_WAIT_SUB;
	return 1;
}

/* Reply to MULTI LRANGE chunks from, HMGET meta status total_chunks
 * session_id, EXEC. */
static void fill_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct fill *f = priv;
	struct conn *c = f->c;
	redisReply *r = reply;
	(void)ac;
	if (request_failed(c, r))
		goto out;
	redisReply *chunks = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
	redisReply *meta = chunks ? r->element[1] : NULL;
	const char *status = meta && meta->type == REDIS_REPLY_ARRAY && meta->elements == 3 ?
			     meta->element[0]->str : NULL;
	/* a socket recovers only its own session's messages */
	if (status && f->kind == FILL_RECOVER &&
	    (!meta->element[2]->str || strcmp(meta->element[2]->str, c->sid) != 0))
		status = NULL;
	long total = status && meta->element[1]->str ? atol(meta->element[1]->str) : 0;
	size_t n = chunks && chunks->type == REDIS_REPLY_ARRAY ? chunks->elements : 0;
	size_t ml = strlen(f->mid);
	struct strbuf sb = STRBUF_INIT;

	if (f->kind == FILL_SNAPSHOT) {
		/* the reply in progress goes into the history frame as text */
		const char **texts = malloc((n + 1) * sizeof *texts);
		size_t *lens = malloc((n + 1) * sizeof *lens);
		if (!texts || !lens)
			abort();
		for (size_t i = 0; i < n; i++) {
			texts[i] = chunks->element[i]->str;
			lens[i] = chunks->element[i]->len;
		}
		struct inprogress ip = { f->mid, "streaming", 0, texts, lens, (long)n };
		greet(c, &f->items, status ? &ip : NULL);
		free(texts);
		free(lens);
		set_cur(c, f->mid, ml);
		c->cur_sent = c->cur_hist = (long)n - 1;
	} else if (!status) {
		/* unknown, or its chunks expired: the history holds its final text */
		if (f->kind == FILL_RECOVER) {
			frame_recovery_status(&sb, f->mid, "not_found", 0);
			relay.recoveries_not_found++;
			send_built(c, &sb);
		} else {
			log_warn("gap cannot be filled: chunks expired", "session=%s message=%s", c->sid,
				 f->mid);
			set_cur(c, f->mid, ml);
			c->cur_sent = LONG_MAX - 1;
			c->cur_done = DONE_SENT;
		}
	} else {
		if (f->kind == FILL_RECOVER && f->pages == 1 && !is_cur(c, f->mid, ml)) {
			set_cur(c, f->mid, ml);
			c->cur_sent = f->recover_last;
		}
		size_t i = 0;
		for (; i < n && c->wsi && c->state == CONN_SYNCING; i++) {
			long idx = f->from + (long)i;
			int resend = f->kind == FILL_RECOVER && idx <= c->cur_hist;
			frame_chunk(&sb, c->sid, f->mid, idx, chunks->element[i]->str,
				    chunks->element[i]->len, 0);
			if (!queue_has_room(c, sb.len))
				break;
			if (resend || admit(c, FT_CHUNK, f->mid, ml, idx, -1) == ADMIT_SEND) {
				send_built(c, &sb);
				f->sent++;
			}
			sb_reset(&sb);
		}
		if (c->wsi && c->state == CONN_SYNCING &&
		    (i < n || (f->page >= 0 && (long)n == f->page))) {
			/* more to replay: now if the queue has drained, else once it has */
			f->from += (long)i;
			sb_release(&sb);
			if (queue_drained(c))
				start_fill_of(f);
			else
				c->paused_fill = f;
			return;
		}
		if (f->kind == FILL_RECOVER && c->cur_hist > f->recover_last)
			c->cur_hist = f->recover_last;
		int end_resend = f->kind == FILL_RECOVER && c->cur_done == DONE_IN_HISTORY &&
				 is_cur(c, f->mid, ml);
		if (end_resend)
			c->cur_done = DONE_SENT;
		if (final_status(status) &&
		    (end_resend || admit(c, FT_COMPLETE, f->mid, ml, -2, total) == ADMIT_SEND)) {
			if (!strcmp(status, "error"))
				frame_error(&sb, c->sid, f->mid, "error", "the reply ended with an error");
			else
				frame_end(&sb, status, c->sid, f->mid, total);
			send_built(c, &sb);
		}
		if (f->kind == FILL_RECOVER) {
			relay.recoveries++;
			frame_recovery_status(&sb, f->mid, "recovered", f->sent);
			send_built(c, &sb);
		}
	}
	sb_release(&sb);
	if (c->wsi && c->state == CONN_SYNCING) {
		if (f->then_mid[0])
			start_fill(c, FILL_GAP, f->then_mid, 0);
		else
			drain_held(c);
	}
out:
	fill_free(f);
}

static void start_fill_of(struct fill *f)
{
	struct conn *c = f->c;
	char kchunks[KEY_MAX], kmeta[KEY_MAX];
	redisAsyncContext *ac = relay.cmd.ready ? relay.cmd.ac : NULL;
	if (!c->wsi || c->state == CONN_CLOSING) {
		fill_free(f);
		return;
	}
	c->state = CONN_SYNCING;
	if (f->pages++ == 0)
		c->fills++;
	if (!ac) {
		c->state = CONN_WAIT_SUB;
		fill_free(f);
		return;
	}
	/* a replay goes out a queueful at a time (see conn_fill_resume); the
	 * two frames of slack are for the end frame and recovery_status */
	long room = relay.cfg.queue_frames - (long)c->q.len - 2;
	f->page = f->kind == FILL_SNAPSHOT ? -1 : room < 1 ? 1 : room > FILL_PAGE_MAX ? FILL_PAGE_MAX : room;
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %ld %ld", key_chunks(kchunks, f->mid), f->from,
			  f->page < 0 ? -1 : f->from + f->page - 1);
	redisAsyncCommand(ac, NULL, NULL, "HMGET %s status total_chunks session_id",
			  key_meta(kmeta, f->mid));
	redisAsyncCommand(ac, fill_read, f, "EXEC");
}

static struct fill *fill_new(struct conn *c, enum fill_kind kind, const char *mid, long from)
{
	struct fill *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	f->c = c;
	c->refs++;
	f->kind = kind;
	snprintf(f->mid, sizeof f->mid, "%s", mid);
	f->from = from < 0 ? 0 : from;
	return f;
}

static void start_fill(struct conn *c, enum fill_kind kind, const char *mid, long from)
{
	start_fill_of(fill_new(c, kind, mid, from));
}

static void start_recover(struct conn *c, const char *mid, long last)
{
	struct fill *f = fill_new(c, FILL_RECOVER, mid, last + 1);
	f->recover_last = last;
	start_fill_of(f);
}

/* The socket's queue has drained enough: the paused replay goes on. */
void conn_fill_resume(struct conn *c)
{
	struct fill *f = c->paused_fill;
	c->paused_fill = NULL;
	start_fill_of(f);
}

void conn_fill_drop(struct conn *c)
{
	if (c->paused_fill) {
		struct fill *f = c->paused_fill;
		c->paused_fill = NULL;
		fill_free(f);
	}
}

void conn_recover(struct conn *c, const char *mid, long last)
{
	if (c->state != CONN_LIVE) {
		/* after the snapshot: its answer would race with this one */
		struct strbuf sb = STRBUF_INIT;
		frame_error(&sb, c->sid, mid, "busy", "send reconnect after welcome");
		send_built(c, &sb);
		sb_release(&sb);
		return;
	}
	start_recover(c, mid, last);
}

/* Reply to MULTI HSETNX session userId, HGETALL session, LRANGE history, EXEC. */
static void snapshot_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct fill *f = priv;
	struct conn *c = f->c;
	redisReply *r = reply;
	(void)ac;
	if (request_failed(c, r))
		goto out;
	redisReply *sess = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element[1] : NULL;
	redisReply *hist = sess ? r->element[2] : NULL;
	const char *mid = NULL, *status = NULL, *total = NULL, *owner = NULL;
	for (size_t i = 0; sess && sess->type == REDIS_REPLY_ARRAY && i + 1 < sess->elements; i += 2) {
		const char *k = sess->element[i]->str;
		if (!strcmp(k, "userId"))
			owner = sess->element[i + 1]->str;
		else if (!strcmp(k, "messageId"))
			mid = sess->element[i + 1]->str;
		else if (!strcmp(k, "status"))
			status = sess->element[i + 1]->str;
		else if (!strcmp(k, "totalChunks"))
			total = sess->element[i + 1]->str;
	}
	if (mid && !valid_message_id(mid, strlen(mid)))
		mid = NULL;
	if (owner && strcmp(owner, c->uid) != 0) {
		/* nothing of the session has been sent: frames held so far go with it */
		log_info("forbidden", "session=%s user=%s", c->sid, c->uid);
		conn_close(c, 4403, "this session belongs to another user");
		goto out;
	}
	session_owned(c);

	if (c->greeted) {
		/* back from a Redis outage: fill what this socket missed of the reply
		 * it was following, then all of a newer one, one after the other so
		 * that their frames keep their order */
		int newer = mid && strcmp(mid, c->cur_mid) != 0;
		if (c->cur_mid[0] && !c->cur_done) {
			struct fill *g = fill_new(c, FILL_GAP, c->cur_mid, c->cur_sent + 1);
			if (newer)
				snprintf(g->then_mid, sizeof g->then_mid, "%s", mid);
			start_fill_of(g);
		} else if (newer)
			start_fill(c, FILL_GAP, mid, 0);
		else if (mid)
			start_fill(c, FILL_GAP, mid, c->cur_sent + 1);
		else
			drain_held(c);
		goto out;
	}
	for (size_t i = 0; hist && hist->type == REDIS_REPLY_ARRAY && i < hist->elements; i++) {
		if (i)
			sb_addc(&f->items, ',');
		sb_add(&f->items, hist->element[i]->str, hist->element[i]->len);
	}
	if (mid && status && (!strcmp(status, "queued") || !strcmp(status, "streaming"))) {
		/* a reply in progress: read its chunks, then greet */
		f->kind = FILL_SNAPSHOT;
		snprintf(f->mid, sizeof f->mid, "%s", mid);
		f->from = 0;
		start_fill_of(f);  /* f keeps the reference conn_sync took */
		f = NULL;
		goto out;
	}
	greet(c, &f->items, NULL);
	if (mid) {
		/* the last reply has ended and is in the history */
		set_cur(c, mid, strlen(mid));
		c->cur_sent = c->cur_hist = total ? atol(total) - 1 : -1;
		c->cur_done = DONE_IN_HISTORY;
	}
	drain_held(c);
out:
	if (f)
		fill_free(f);
}

void conn_sync(struct conn *c)
{
	char ksess[KEY_MAX], khist[KEY_MAX];
	redisAsyncContext *ac = relay.cmd.ready ? relay.cmd.ac : NULL;
	if (!ac || !c->wsi) {
		c->state = CONN_WAIT_SUB;  /* sessions_cmd_ready retries */
		return;
	}
	conn_fill_drop(c);  /* a resync replaces a replay cut short by a Redis outage */
	c->state = CONN_SYNCING;
	c->fills = 0;
	struct fill *f = fill_new(c, FILL_GAP, "", 0);
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	/* a session belongs to its first user, whether it first posts or listens:
	 * else a listener could wait in an empty session for another's reply */
	redisAsyncCommand(ac, NULL, NULL, "HSETNX %s userId %s", key_session(ksess, c->sid), c->uid);
	redisAsyncCommand(ac, NULL, NULL, "HGETALL %s", ksess);
	/* a socket already greeted needs only the session's current reply */
	if (c->greeted)
		redisAsyncCommand(ac, NULL, NULL, "LRANGE %s 1 0", key_history(khist, c->sid));
	else
		redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %ld -1", key_history(khist, c->sid),
				  -relay.cfg.history_limit);
	redisAsyncCommand(ac, snapshot_read, f, "EXEC");
}

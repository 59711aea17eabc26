/* Bringing one socket up to date, and keeping it so.
 *
 * Per socket the relay remembers, of the session's current reply and of the
 * replies before it that the socket sent or resumed, the last chunk frame it
 * sent, how far the history frame carried it as text, and whether its end
 * frame went out. Every frame, live or read back from the chunk cache,
 * passes admit(): a chunk already sent is dropped, a chunk past a hole is
 * held until the hole is filled from stream:chunks:{M}. While a socket reads
 * Redis (its snapshot, a fill, a resume) live frames are held and then
 * replayed through the same admit(), so a frame can neither be lost nor sent
 * twice.
 *
 * A socket has one Redis read at a time (c->fill): resumes asked for
 * meanwhile wait their turn in c->pending. When the subscriber connection
 * comes back, every socket forgets the read it had in flight (its reply may
 * predate frames that nobody received) and syncs again; a resume it was
 * running goes back to the head of the queue. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "keys.h"
#include "log.h"
#include "relay.h"
#include "strbuf.h"
#include "util.h"
#include "xalloc.h"

#define MAX_FILLS_PER_DRAIN 4
#define FILL_PAGE_MAX 1024
#define PAST_MAX 64           /* earlier replies a socket remembers */
#define PENDING_MAX 8         /* resumes a client may ask for at once */
#define CHUNKS_GONE (LONG_MAX / 2)  /* a position past every chunk, with room to add to */

/* What a socket reads from Redis. */
enum fill_kind {
	FILL_SESSION,             /* conn_sync: the session, its history, the claim */
	FILL_GAP,                 /* chunks it missed: a hole before a live frame, a Redis outage */
	FILL_SNAPSHOT,            /* the reply in progress at the first sync, for the history frame */
	FILL_RECOVER,             /* a resume the client asked for */
};

struct fill {
	struct conn *c;
	enum fill_kind kind;
	int in_flight;            /* its EXEC is sent and not answered */
	int stale;                /* cancelled: its reply changes nothing */
	int limit;                /* FILL_SESSION: limits on new sockets counted (count_limit) */
	char mid[ID_MAX + 1];
	long from;                /* first chunk index read */
	long page;                /* chunks asked for; -1: to the end */
	long pages;               /* read so far */
	long sent;                /* chunk frames sent so far */
	long recover_last;        /* FILL_RECOVER: the client's lastChunkIndex */
	char then_mid[ID_MAX + 1];/* a newer reply to fill once this one is done */
	struct strbuf items;      /* FILL_SNAPSHOT: stored history items, joined */
};

enum admit { ADMIT_DROP, ADMIT_SEND, ADMIT_GAP };

static int pos_is(const struct reply_pos *p, const char *mid, size_t ml)
{
	return strlen(p->mid) == ml && memcmp(p->mid, mid, ml) == 0;
}

static int is_cur(const struct conn *c, const char *mid, size_t ml)
{
	return pos_is(&c->cur, mid, ml);
}

static void pos_init(struct reply_pos *p, const char *mid, size_t ml)
{
	memcpy(p->mid, mid, ml);
	p->mid[ml] = '\0';
	p->sent = p->hist = -1;
	p->done = DONE_NOT;
}

static int past_find(const struct conn *c, const char *mid, size_t ml)
{
	for (int i = c->npast - 1; i >= 0; i--)
		if (pos_is(&c->past[i], mid, ml))
			return i;
	return -1;
}

static void past_remove(struct conn *c, int i)
{
	memmove(c->past + i, c->past + i + 1, (size_t)(c->npast - i - 1) * sizeof *c->past);
	c->npast--;
}

/* p becomes the newest past reply; past PAST_MAX the oldest is forgotten,
 * and a resume of it then replays all its chunks above the client's. */
static struct reply_pos *past_add(struct conn *c, const struct reply_pos *p)
{
	if (c->npast == PAST_MAX)
		past_remove(c, 0);
	if (c->npast == c->cappast) {
		c->cappast = c->cappast ? c->cappast * 2 : 2;
		c->past = xreallocarray(c->past, (size_t)c->cappast, sizeof *c->past);
	}
	c->past[c->npast] = *p;
	return &c->past[c->npast++];
}

/* What this socket has sent of reply mid; NULL: nothing. */
static struct reply_pos *pos_find(struct conn *c, const char *mid, size_t ml)
{
	if (is_cur(c, mid, ml))
		return &c->cur;
	int i = past_find(c, mid, ml);
	return i >= 0 ? &c->past[i] : NULL;
}

/* mid becomes the current reply, with what this socket sent of it before. */
static void switch_cur(struct conn *c, const char *mid, size_t ml)
{
	if (is_cur(c, mid, ml))
		return;
	struct reply_pos old = c->cur;
	int i = past_find(c, mid, ml);
	if (i >= 0) {
		c->cur = c->past[i];
		past_remove(c, i);
	} else
		pos_init(&c->cur, mid, ml);
	if (old.mid[0])
		past_add(c, &old);
}

/* The next chunk of reply mid this socket has not sent. */
static long fill_from(struct conn *c, const char *mid)
{
	struct reply_pos *p = pos_find(c, mid, strlen(mid));
	return p ? p->sent + 1 : 0;
}

static enum admit admit_chunk(struct reply_pos *p, long index)
{
	if (p->done || index <= p->sent)
		return ADMIT_DROP;
	if (index > p->sent + 1)
		return ADMIT_GAP;
	p->sent = index;
	return ADMIT_SEND;
}

static enum admit admit_end(struct reply_pos *p, long total)
{
	if (p->done)
		return ADMIT_DROP;
	if (total >= 0 && total - 1 > p->sent)
		return ADMIT_GAP;
	p->done = DONE_SENT;
	return ADMIT_SEND;
}

static int is_end(enum frame_type t)
{
	return t == FT_COMPLETE || t == FT_CANCELLED || t == FT_ERROR;
}

/* A frame of another reply than the current one makes that reply current
 * when this socket knows it, or when the frame is its beginning. */
static enum admit admit(struct conn *c, enum frame_type t, const char *mid, size_t ml, long index,
			long total)
{
	if (!mid || ml == 0 || ml > ID_MAX || (t != FT_CHUNK && !is_end(t)))
		return ADMIT_SEND;
	if (t == FT_CHUNK && index < 0)
		return ADMIT_DROP;
	if (!is_cur(c, mid, ml)) {
		int begins = t == FT_CHUNK ? index == 0 : total <= 0;
		if (!begins && past_find(c, mid, ml) < 0)
			return ADMIT_GAP;
		switch_cur(c, mid, ml);
	}
	return t == FT_CHUNK ? admit_chunk(&c->cur, index) : admit_end(&c->cur, total);
}

/* Fills could not close the hole before fi (its chunks are gone): the
 * socket's position moves past it, so that no later fill sends again what
 * follows it. */
static void skip_hole(struct conn *c, const struct frame_info *fi)
{
	log_warn("hole in a reply skipped: its chunks are gone", "session=%s message=%.*s", c->sid,
		 (int)fi->message_id_len, fi->message_id);
	switch_cur(c, fi->message_id, fi->message_id_len);
	if (fi->type == FT_CHUNK)
		c->cur.sent = fi->index;
	else {
		if (fi->total - 1 > c->cur.sent)
			c->cur.sent = fi->total - 1;
		c->cur.done = DONE_SENT;
	}
}

static void start_fill(struct conn *c, enum fill_kind kind, const char *mid, long from);
static void start_fill_of(struct fill *f);
static void fill_read(redisAsyncContext *ac, void *reply, void *priv);

static void hold(struct conn *c, struct msgbuf *m)
{
	if ((long)c->nheld >= relay.cfg.queue_frames) {
		/* it cannot even take in the replay: as slow as a full queue */
		conn_too_slow(c);
		return;
	}
	if (c->nheld == c->capheld) {
		c->capheld = c->capheld ? c->capheld * 2 : 16;
		c->held = xreallocarray(c->held, c->capheld, sizeof *c->held);
	}
	m->refs++;
	c->held[c->nheld++] = m;
}

static void start_recover(struct conn *c, const struct recovery *r);

/* Queues a resume; first: at the head (one cut short, to run again). One
 * slot beyond PENDING_MAX is kept for that. */
static int pending_add(struct conn *c, const char *mid, long last, long from, int first)
{
	if (c->npending >= PENDING_MAX + first)
		return -1;
	if (!c->pending)
		c->pending = xmalloc((PENDING_MAX + 1) * sizeof *c->pending);
	if (first)
		memmove(c->pending + 1, c->pending, (size_t)c->npending * sizeof *c->pending);
	struct recovery *r = &c->pending[first ? 0 : c->npending];
	snprintf(r->mid, sizeof r->mid, "%s", mid);
	r->last = last;
	r->from = from;
	c->npending++;
	return 0;
}

/* Frame fi came past a hole: read what is missing of its message. */
static void fill_gap_before(struct conn *c, const struct frame_info *fi)
{
	char mid[ID_MAX + 1];
	memcpy(mid, fi->message_id, fi->message_id_len);
	mid[fi->message_id_len] = '\0';
	start_fill(c, FILL_GAP, mid, fill_from(c, mid));
}

/* The socket is in sync with Redis: resumes waiting run first, one after
 * the other, so that a resumed reply's chunks come before any live frame;
 * then live frames that arrived meanwhile go out, in order. */
static void drain_held(struct conn *c)
{
	size_t i = 0;
	if (c->npending) {
		struct recovery r = c->pending[0];
		c->npending--;
		memmove(c->pending, c->pending + 1, (size_t)c->npending * sizeof *c->pending);
		start_recover(c, &r);
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
		if (a == ADMIT_GAP)
			skip_hole(c, fi);
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
		return;  /* WAIT_SUB: its sync will read this */
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

/* welcome, then the history frame: the stored items (joined) and the reply
 * in progress, if any, as its text so far. */
static void greet(struct conn *c, const struct strbuf *items, const struct inprogress *ip)
{
	struct strbuf sb = STRBUF_INIT, msgs = STRBUF_INIT;
	const char *joined[1] = { items->buf };
	size_t lens[1] = { items->len };
	history_items(&msgs, joined, lens, items->len ? 1 : 0, ip, 1);
	frame_welcome(&sb, c->sid, relay.node);
	conn_send_built(c, &sb);
	frame_history(&sb, c->sid, msgs.buf, msgs.len);
	conn_send_built(c, &sb);
	sb_release(&sb);
	sb_release(&msgs);
	c->greeted = 1;
}

static void fill_free(struct fill *f)
{
	if (f->c->fill == f)
		f->c->fill = NULL;
	sb_release(&f->items);
	conn_unref(f->c);
	free(f);
}

void conn_fill_cancel(struct conn *c)
{
	struct fill *f = c->fill;
	if (!f)
		return;
	c->fill = NULL;
	if (f->kind == FILL_RECOVER && c->state != CONN_CLOSING)
		pending_add(c, f->mid, f->recover_last, f->from, 1);
	if (f->in_flight)
		f->stale = 1;
	else
		fill_free(f);
}

/* A Redis request of a socket failed: if the connection went away, wait for
 * it to come back (sessions_*_ready syncs the socket again); otherwise give
 * up on this socket, which reconnects and recovers. */
static int request_failed(struct conn *c, redisReply *r)
{
	if (!c->wsi || c->state == CONN_CLOSING)
		return 1;
	if (r && r->type != REDIS_REPLY_ERROR)
		return 0;
	if (r) {
		log_error("redis read failed", "session=%s error=\"%s\"", c->sid, r->str);
		conn_close(c, 1011, "server error");
	} else {
		conn_fill_cancel(c);
		c->state = CONN_WAIT_SUB;
	}
	return 1;
}

/* The answer to a socket's fill: 1 when the socket still wants it and it
 * is no error (f then no longer in flight); else f is freed. */
static int fill_answered(struct fill *f, redisReply *r)
{
	if (f->stale || request_failed(f->c, r)) {
		fill_free(f);
		return 0;
	}
	f->in_flight = 0;
	return 1;
}

/* The socket is open and still syncing: nothing (a full send queue, Redis
 * gone) closed it or sent it back to wait while its read was in flight or
 * its frames were being sent. */
static int still_syncing(const struct conn *c)
{
	return c->wsi && c->state == CONN_SYNCING;
}

/* Chunks of f's reply from f->from, as far as the send queue takes them;
 * returns how many were gone through. A resume (p: its reply's position)
 * sends again what went only as history text. */
static size_t replay_chunks(struct conn *c, struct fill *f, struct reply_pos *p,
			    const redisReply *chunks, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	size_t ml = strlen(f->mid), i = 0;
	for (; i < n && still_syncing(c); i++) {
		long idx = f->from + (long)i;
		frame_chunk(&sb, c->sid, f->mid, idx, chunks->element[i]->str,
			    chunks->element[i]->len, 0);
		if (!queue_has_room(c, sb.len))
			break;
		int due = p ? idx <= p->hist || admit_chunk(p, idx) == ADMIT_SEND
			    : admit(c, FT_CHUNK, f->mid, ml, idx, -1) == ADMIT_SEND;
		if (due) {
			conn_send_built(c, &sb);
			f->sent++;
		}
		sb_reset(&sb);
	}
	sb_release(&sb);
	return i;
}

/* The end frame of f's reply, if it has ended and the socket has not sent
 * it; a resume sends again one that went only in the history. */
static void send_end(struct conn *c, struct fill *f, struct reply_pos *p, const char *status,
		     long total)
{
	int resend = p && p->done == DONE_IN_HISTORY;
	if (resend)
		p->done = DONE_SENT;
	if (!final_status(status))
		return;
	if (!resend && (p ? admit_end(p, total) : admit(c, FT_COMPLETE, f->mid, strlen(f->mid), -2,
							 total)) != ADMIT_SEND)
		return;
	struct strbuf sb = STRBUF_INIT;
	if (!strcmp(status, "error"))
		frame_error(&sb, c->sid, f->mid, "error", "the reply ended with an error");
	else
		frame_end(&sb, status, c->sid, f->mid, total);
	conn_send_built(c, &sb);
	sb_release(&sb);
}

/* What this socket has sent of the reply it resumes; one it knows nothing
 * of starts where the client is. The current reply stays current: a resume
 * of an older one must not make the newer one's next chunk look like a
 * hole. */
static struct reply_pos *recovery_pos(struct conn *c, struct fill *f)
{
	size_t ml = strlen(f->mid);
	struct reply_pos *p = pos_find(c, f->mid, ml);
	if (!p) {
		struct reply_pos fresh;
		pos_init(&fresh, f->mid, ml);
		p = past_add(c, &fresh);
	}
	if (p->sent < f->recover_last)
		p->sent = f->recover_last;  /* the client holds those already */
	return p;
}

/* One page of a fill: its reply's chunks from f->from on, and the reply's
 * meta. */
struct fill_page {
	const redisReply *chunks;     /* n chunk texts */
	size_t n;
	const char *status;           /* NULL: the reply is unknown or its chunks expired */
	long total;                   /* total_chunks once it has ended */
	const char *session;          /* the session the reply belongs to */
};

/* The reply to MULTI, LRANGE chunks, HMGET meta status total_chunks
 * session_id, EXEC. */
static void page_parse(const redisReply *r, struct fill_page *pg)
{
	const redisReply *chunks = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
	const redisReply *meta = chunks ? r->element[1] : NULL;
	int has_meta = meta && meta->type == REDIS_REPLY_ARRAY && meta->elements == 3;
	pg->chunks = chunks;
	pg->n = chunks && chunks->type == REDIS_REPLY_ARRAY ? chunks->elements : 0;
	pg->status = has_meta ? meta->element[0]->str : NULL;
	pg->total = pg->status && meta->element[1]->str ? atol(meta->element[1]->str) : 0;
	pg->session = has_meta ? meta->element[2]->str : NULL;
}

static void send_recovery_status(struct conn *c, const char *mid, const char *status, long sent)
{
	struct strbuf sb = STRBUF_INIT;
	frame_recovery_status(&sb, mid, status, sent);
	conn_send_built(c, &sb);
	sb_release(&sb);
}

/* After replay_chunks went through `done` of the page: whether the reply
 * has more to replay (the queue was full, or the page was full and more
 * may follow). If so it goes on now if the queue has drained, else once it
 * has (conn_fill_resume); f stays the socket's fill, and may be freed by
 * the time this returns. */
static int replay_goes_on(struct conn *c, struct fill *f, size_t done, const struct fill_page *pg)
{
	if (!still_syncing(c) || (done == pg->n && (f->page < 0 || (long)pg->n != f->page)))
		return 0;
	f->from += (long)done;
	if (queue_drained(c))
		start_fill_of(f);
	return 1;
}

/* The reply in progress at the socket's first sync goes into the history
 * frame as text: the socket has then sent its chunks so far. */
static void snapshot_filled(struct conn *c, struct fill *f, const struct fill_page *pg)
{
	const char **texts = xmalloc((pg->n + 1) * sizeof *texts);
	size_t *lens = xmalloc((pg->n + 1) * sizeof *lens);
	for (size_t i = 0; i < pg->n; i++) {
		texts[i] = pg->chunks->element[i]->str;
		lens[i] = pg->chunks->element[i]->len;
	}
	struct inprogress ip = { f->mid, "streaming", 0, texts, lens, (long)pg->n };
	greet(c, &f->items, pg->status ? &ip : NULL);
	free(texts);
	free(lens);
	switch_cur(c, f->mid, strlen(f->mid));
	c->cur.sent = c->cur.hist = (long)pg->n - 1;
}

/* A hole in what the socket sent of f's reply: the missing chunks, then the
 * end frame if it has ended. Returns 1 while the replay goes on. */
static int gap_filled(struct conn *c, struct fill *f, const struct fill_page *pg)
{
	if (!pg->status) {
		/* its chunks expired: the history holds its final text */
		log_warn("gap cannot be filled: chunks expired", "session=%s message=%s", c->sid, f->mid);
		switch_cur(c, f->mid, strlen(f->mid));
		c->cur.sent = CHUNKS_GONE;
		c->cur.done = DONE_SENT;
		return 0;
	}
	size_t done = replay_chunks(c, f, NULL, pg->chunks, pg->n);
	if (replay_goes_on(c, f, done, pg))
		return 1;
	if (still_syncing(c))
		send_end(c, f, NULL, pg->status, pg->total);
	return 0;
}

/* A resume: the chunks past the client's last one, the end frame, then
 * recovery_status. Returns 1 while the replay goes on. */
static int recover_filled(struct conn *c, struct fill *f, const struct fill_page *pg)
{
	/* a socket recovers only its own session's messages */
	if (!pg->status || !pg->session || strcmp(pg->session, c->sid) != 0) {
		relay.recoveries_not_found++;
		send_recovery_status(c, f->mid, "not_found", 0);
		return 0;
	}
	struct reply_pos *p = recovery_pos(c, f);
	size_t done = replay_chunks(c, f, p, pg->chunks, pg->n);
	if (replay_goes_on(c, f, done, pg))
		return 1;
	if (p->hist > f->recover_last)
		p->hist = f->recover_last;
	if (still_syncing(c))
		send_end(c, f, p, pg->status, pg->total);
	if (still_syncing(c)) {
		relay.recoveries++;
		send_recovery_status(c, f->mid, "recovered", f->sent);
	}
	return 0;
}

/* A fill is done: a newer reply waiting for its own fill gets it, else the
 * socket is in sync. */
static void fill_next(struct conn *c, const struct fill *f)
{
	if (!still_syncing(c))
		return;
	if (f->then_mid[0])
		start_fill(c, FILL_GAP, f->then_mid, fill_from(c, f->then_mid));
	else
		drain_held(c);
}

/* A page of a fill's reply: one function per kind. Returns 1 while f goes
 * on (c->fill is f, waiting for conn_fill_resume). */
static int page_read(struct conn *c, struct fill *f, const redisReply *r)
{
	struct fill_page pg;
	page_parse(r, &pg);
	int goes_on = 0;
	switch (f->kind) {
	case FILL_SNAPSHOT:
		snapshot_filled(c, f, &pg);
		break;
	case FILL_GAP:
		goes_on = gap_filled(c, f, &pg);
		break;
	case FILL_RECOVER:
		goes_on = recover_filled(c, f, &pg);
		break;
	case FILL_SESSION:
		break;  /* session_read's */
	}
	if (!goes_on)
		fill_next(c, f);
	return goes_on;
}

static void start_fill_of(struct fill *f)
{
	struct conn *c = f->c;
	char kchunks[KEY_MAX], kmeta[KEY_MAX];
	redisAsyncContext *ac = aredis_node(&relay.cmd, key_chunks(kchunks, f->mid));
	if (!c->wsi || c->state == CONN_CLOSING) {
		fill_free(f);
		return;
	}
	c->fill = f;
	c->state = CONN_SYNCING;
	if (f->pages++ == 0 && f->kind == FILL_GAP)
		c->fills++;
	if (!ac) {
		/* sessions_cmd_ready syncs it once the connection is back */
		conn_fill_cancel(c);
		c->state = CONN_WAIT_SUB;
		return;
	}
	/* a replay goes out a queueful at a time (see conn_fill_resume); the
	 * two frames of slack are for the end frame and recovery_status */
	long room = relay.cfg.queue_frames - (long)c->q.len - 2;
	f->page = f->kind == FILL_SNAPSHOT ? -1 : room < 1 ? 1 : room > FILL_PAGE_MAX ? FILL_PAGE_MAX : room;
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %ld %ld", kchunks, f->from,
			  f->page < 0 ? -1 : f->from + f->page - 1);
	redisAsyncCommand(ac, NULL, NULL, "HMGET %s status total_chunks session_id",
			  key_meta(kmeta, f->mid));
	f->in_flight = 1;
	redisAsyncCommand(ac, fill_read, f, "EXEC");
}

static struct fill *fill_new(struct conn *c, enum fill_kind kind, const char *mid, long from)
{
	struct fill *f = xcalloc(1, sizeof *f);
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

static void start_recover(struct conn *c, const struct recovery *r)
{
	struct fill *f = fill_new(c, FILL_RECOVER, r->mid, r->from);
	f->recover_last = r->last;
	start_fill_of(f);
}

void conn_fill_resume(struct conn *c)
{
	if (c->fill && !c->fill->in_flight)
		start_fill_of(c->fill);
}

void conn_sync_release(struct conn *c)
{
	free(c->past);
	free(c->pending);
	c->past = NULL;
	c->pending = NULL;
	c->npast = c->cappast = c->npending = 0;
}

void conn_recover(struct conn *c, const char *mid, long last)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_LIVE) {
		struct recovery r;
		snprintf(r.mid, sizeof r.mid, "%s", mid);
		r.last = last;
		r.from = last + 1;
		start_recover(c, &r);
		return;
	}
	/* before the welcome, or while the socket reads Redis: its turn comes
	 * once the socket is in sync */
	if (pending_add(c, mid, last, last + 1, 0) == 0)
		return;
	/* no messageId: the reply it names has not failed */
	struct strbuf sb = STRBUF_INIT;
	frame_error(&sb, c->sid, NULL, "busy", "too many resumes at once: wait for recovery_status");
	conn_send_built(c, &sb);
	sb_release(&sb);
}

/* The fields of the session hash a sync needs. */
struct session_fields {
	const char *owner, *mid, *status, *total;
};

static void session_parse(const redisReply *sess, struct session_fields *s)
{
	*s = (struct session_fields){ 0 };
	for (size_t i = 0; sess && sess->type == REDIS_REPLY_ARRAY && i + 1 < sess->elements; i += 2) {
		const char *k = sess->element[i]->str, *v = sess->element[i + 1]->str;
		if (!strcmp(k, "userId"))
			s->owner = v;
		else if (!strcmp(k, "messageId"))
			s->mid = v;
		else if (!strcmp(k, "status"))
			s->status = v;
		else if (!strcmp(k, "totalChunks"))
			s->total = v;
	}
	if (s->mid && !valid_message_id(s->mid, strlen(s->mid)))
		s->mid = NULL;
}

/* The session belongs to another user: nothing of it has been sent, and
 * the frames held so far go with the socket. */
static int forbidden(struct conn *c, const struct session_fields *s)
{
	if (!s->owner || strcmp(s->owner, c->uid) == 0)
		return 0;
	log_info("forbidden", "session=%s user=%s", c->sid, c->uid);
	conn_close(c, 4403, "this session belongs to another user");
	return 1;
}

/* Back from a Redis outage, a socket already greeted: fill what it missed
 * of the reply it was following, then all of a newer one (mid), one after
 * the other so that their frames keep their order. */
static void resync_greeted(struct conn *c, const char *mid)
{
	int newer = mid && strcmp(mid, c->cur.mid) != 0;
	if (c->cur.mid[0] && !c->cur.done) {
		struct fill *g = fill_new(c, FILL_GAP, c->cur.mid, c->cur.sent + 1);
		if (newer)
			snprintf(g->then_mid, sizeof g->then_mid, "%s", mid);
		start_fill_of(g);
	} else if (newer)
		start_fill(c, FILL_GAP, mid, fill_from(c, mid));
	else if (mid)
		start_fill(c, FILL_GAP, mid, c->cur.sent + 1);
	else
		drain_held(c);
}

/* A socket's first sync: the stored history, and the session's last reply.
 * One in progress is read first (f goes on as its FILL_SNAPSHOT: returns
 * 1); else the socket is greeted now. */
static int greet_first(struct conn *c, struct fill *f, const redisReply *hist,
		       const struct session_fields *s)
{
	for (size_t i = 0; hist && hist->type == REDIS_REPLY_ARRAY && i < hist->elements; i++) {
		if (i)
			sb_addc(&f->items, ',');
		sb_add(&f->items, hist->element[i]->str, hist->element[i]->len);
	}
	if (s->mid && s->status && (!strcmp(s->status, "queued") || !strcmp(s->status, "streaming"))) {
		f->kind = FILL_SNAPSHOT;
		snprintf(f->mid, sizeof f->mid, "%s", s->mid);
		f->from = 0;
		start_fill_of(f);  /* f keeps the reference conn_sync took */
		return 1;
	}
	greet(c, &f->items, NULL);
	if (s->mid) {
		/* the last reply has ended and is in the history */
		switch_cur(c, s->mid, strlen(s->mid));
		c->cur.sent = c->cur.hist = s->total ? atol(s->total) - 1 : -1;
		c->cur.done = DONE_IN_HISTORY;
	}
	drain_held(c);
	return 0;
}

/* The reply to read_session's read: MULTI, claim.lua, HGETALL session, LRANGE
 * history, EXEC. Returns 1 when f goes on as the read of the reply in
 * progress. */
static int session_read(struct conn *c, struct fill *f, const redisReply *r)
{
	const redisReply *sess = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element[1] : NULL;
	struct session_fields s;
	session_parse(sess, &s);
	if (forbidden(c, &s))
		return 0;
	session_owned(c);
	if (!c->greeted)
		return greet_first(c, f, sess ? r->element[2] : NULL, &s);
	resync_greeted(c, s.mid);
	return 0;
}

/* The reply to any Redis read of a socket (conn_sync's, start_fill_of's). */
static void fill_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct fill *f = priv;
	struct conn *c = f->c;
	redisReply *r = reply;
	(void)ac;
	if (!fill_answered(f, r))
		return;
	int goes_on = f->kind == FILL_SESSION ? session_read(c, f, r) : page_read(c, f, r);
	if (!goes_on)
		fill_free(f);
}

/* A session belongs to its first user, whether it first posts or listens:
 * else a listener could wait in an empty session for another's reply. */
static void claim(const char *ksess, const char *uid)
{
	char ttl[24];
	snprintf(ttl, sizeof ttl, "%ld", relay.cfg.claim_ttl_ms);
	const char *keys[1] = { ksess };
	const char *args[2] = { uid, ttl };
	aredis_eval(&relay.cmd, NULL, NULL, SCRIPT_CLAIM, 1, keys, 2, args, NULL);
}

/* The session, its history and the claim, in one MULTI/EXEC (keys of the
 * session's slot only). */
static void read_session(struct conn *c, struct fill *f)
{
	char ksess[KEY_MAX], khist[KEY_MAX];
	redisAsyncContext *ac = aredis_node(&relay.cmd, key_session(ksess, c->sid));
	if (!ac) {
		conn_fill_cancel(c);
		c->state = CONN_WAIT_SUB;  /* sessions_cmd_ready retries */
		return;
	}
	/* on a cluster the claim goes by the same connection (that of the
	 * session's primary), between MULTI and EXEC as on a single Redis */
	redisAsyncCommand(ac, NULL, NULL, "MULTI");
	claim(ksess, c->uid);
	redisAsyncCommand(ac, NULL, NULL, "HGETALL %s", ksess);
	/* a socket already greeted needs only the session's current reply */
	if (c->greeted)
		redisAsyncCommand(ac, NULL, NULL, "LRANGE %s 1 0", key_history(khist, c->sid));
	else
		redisAsyncCommand(ac, NULL, NULL, "LRANGE %s %ld -1", key_history(khist, c->sid),
				  -relay.cfg.history_limit);
	f->in_flight = 1;
	redisAsyncCommand(ac, fill_read, f, "EXEC");
}

/* A socket's first read counts it against its user's, then its address's,
 * limit on new WebSockets (ratelimit.lua, one counter a call: each lives
 * in its own slot), so a client that opens sockets to fresh sessions in a
 * loop is stopped before it claims them all. f->limit is the counter being
 * counted: 0 the user's, 1 the address's, 2 both passed. */
static void count_limit(struct conn *c, struct fill *f);

static void limit_counted(redisAsyncContext *ac, void *reply, void *priv)
{
	struct fill *f = priv;
	struct conn *c = f->c;
	redisReply *r = reply;
	(void)ac;
	if (!fill_answered(f, r))
		return;
	if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "over") == 0) {
		relay.rate_limited++;
		log_info("too many new sockets", "session=%s user=%s addr=%s limit=%s", c->sid, c->uid,
			 c->addr, f->limit == 0 ? "user" : "addr");
		conn_close(c, 4429, "too many new connections: wait a minute");
		fill_free(f);
		return;
	}
	f->limit++;
	count_limit(c, f);
}

static void count_limit(struct conn *c, struct fill *f)
{
	char key[KEY_MAX], limit[24], left[24];
	int64_t now = now_ms();
	long long window = now / 60000;
	if (f->limit >= 2 || !relay.cmd.ready) {
		read_session(c, f);
		return;
	}
	if (f->limit == 0) {
		key_ratelimit_ws(key, c->uid, window);
		snprintf(limit, sizeof limit, "%ld", relay.cfg.ws_per_min_user);
	} else {
		key_ratelimit_ws_addr(key, c->addr, window);
		snprintf(limit, sizeof limit, "%ld", relay.cfg.ws_per_min_addr);
	}
	snprintf(left, sizeof left, "%lld", (long long)(60000 - now % 60000));
	const char *keys[1] = { key };
	const char *args[2] = { limit, left };
	f->in_flight = 1;
	if (aredis_eval(&relay.cmd, limit_counted, f, SCRIPT_RATELIMIT, 1, keys, 2, args, NULL) != 0) {
		f->in_flight = 0;
		conn_fill_cancel(c);
		c->state = CONN_WAIT_SUB;  /* sessions_cmd_ready retries */
	}
}

void conn_sync(struct conn *c)
{
	conn_fill_cancel(c);  /* a resync replaces whatever read was under way */
	if (!relay.cmd.ready || !c->wsi) {
		c->state = CONN_WAIT_SUB;  /* sessions_cmd_ready retries */
		return;
	}
	c->state = CONN_SYNCING;
	c->fills = 0;
	struct fill *f = fill_new(c, FILL_SESSION, "", 0);
	c->fill = f;
	/* a resync after a Redis reconnection is not a new socket */
	f->limit = c->claimed ? 2 : 0;
	c->claimed = 1;
	count_limit(c, f);
}

/* Sessions of this relay and their subscriptions through the subscriber
 * (subscriber.h: one connection, or one per primary of a Cluster).
 *
 * A session's channel is subscribed when its first socket arrives and
 * unsubscribed after its last one leaves. A socket starts reading Redis only
 * once Redis has confirmed the subscription: anything published after the
 * confirmation reaches us, anything before it is in what we read, so the
 * two together have no hole: no frame is lost between a socket's read and
 * the live stream. */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "relay.h"
#include "subscriber.h"
#include "xalloc.h"

/* SUB_LOST: the channel stopped receiving and the subscriber is subscribing
 * it again (a Cluster's slot moved, or its primary's connection dropped). */
enum sub_state { SUB_NONE, SUB_PENDING, SUB_ACTIVE, SUB_LEAVING, SUB_LOST };

struct session {
	char sid[ID_MAX + 1];
	char uid[ID_MAX + 1];     /* its owner, once a socket of it passed the check */
	int registered;           /* in the registry under uid */
	struct session *hnext;
	struct conn *conns;
	long nconns;
	enum sub_state sub;
};

#define NBUCKETS 65536
static struct session *buckets[NBUCKETS];

static unsigned hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h & (NBUCKETS - 1);
}

static struct session *lookup(const char *sid, size_t n)
{
	for (struct session *s = buckets[hash(sid, n)]; s; s = s->hnext)
		if (strlen(s->sid) == n && memcmp(s->sid, sid, n) == 0)
			return s;
	return NULL;
}

static void session_free(struct session *s)
{
	struct session **pp = &buckets[hash(s->sid, strlen(s->sid))];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	relay.nsessions--;
	if (s->registered) {
		relay.nregistered--;
		registry_leave(s->sid);
	}
	free(s);
}

static void subscribe(struct session *s)
{
	char ch[KEY_MAX];
	/* not now: sessions_redis_ready subscribes it */
	s->sub = subscriber_subscribe(key_channel(ch, s->sid)) == 0 ? SUB_PENDING : SUB_NONE;
}

static void unsubscribe(struct session *s)
{
	char ch[KEY_MAX];
	s->sub = SUB_LEAVING;
	if (!subscriber_unsubscribe(key_channel(ch, s->sid)))
		session_free(s);
}

/* The session's subscription came back after frames may have gone by
 * unseen: each socket forgets the read it had in flight (it may predate
 * them) and syncs again once the subscription is confirmed. */
static void session_resync(struct session *s)
{
	for (struct conn *c = s->conns; c; c = c->snext)
		if (c->state != CONN_CLOSING) {
			conn_fill_cancel(c);
			c->state = CONN_WAIT_SUB;
		}
}

static void on_confirmed(struct session *s)
{
	s->sub = SUB_ACTIVE;
	if (s->nconns == 0) {
		unsubscribe(s);  /* its sockets closed while Redis was confirming */
		return;
	}
	for (struct conn *c = s->conns; c; c = c->snext)
		if (c->state == CONN_WAIT_SUB)
			conn_sync(c);
}

static void on_unsubscribed(struct session *s)
{
	if (s->nconns > 0)
		subscribe(s);  /* a socket arrived while we were leaving */
	else
		session_free(s);
}

static struct session *channel_lookup(const char *channel, size_t len)
{
	size_t idlen;
	const char *sid = channel_session(channel, len, &idlen);
	return sid ? lookup(sid, idlen) : NULL;
}

void session_subscribed(const char *channel, size_t len)
{
	struct session *s = channel_lookup(channel, len);
	if (!s)
		return;
	if (s->sub == SUB_LOST) {
		session_resync(s);
		on_confirmed(s);
	} else if (s->sub == SUB_PENDING) {
		on_confirmed(s);
	}
}

void session_unsubscribed(const char *channel, size_t len)
{
	struct session *s = channel_lookup(channel, len);
	if (s && s->sub == SUB_LEAVING)
		on_unsubscribed(s);
}

/* As when the whole subscriber connection drops, for one session: its
 * sockets get nothing live until session_subscribed, then fill the gap. */
void session_channel_lost(const char *channel, size_t len, const char *why)
{
	struct session *s = channel_lookup(channel, len);
	if (s && s->sub == SUB_ACTIVE) {
		s->sub = SUB_LOST;
		log_info("session's channel lost", "session=%s why=%s sockets=%ld", s->sid, why, s->nconns);
	}
}

void session_on_message(const char *channel, size_t chlen, const char *payload, size_t len)
{
	struct session *s = channel_lookup(channel, chlen);
	if (!s || s->sub != SUB_ACTIVE || !s->conns)
		return;
	struct msgbuf *m = msgbuf_new_peeked(payload, len);
	if (!m->peeked)
		log_warn("malformed frame on channel dropped", "session=%s bytes=%zu", s->sid, len);
	for (struct conn *c = s->conns; m->peeked && c; c = c->snext)
		conn_deliver(c, m);
	if (m->peeked && m->fi.message_id &&
	    (m->fi.type == FT_COMPLETE || m->fi.type == FT_CANCELLED || m->fi.type == FT_ERROR)) {
		/* one line per reply, so that a grep on its id follows it here too */
		relay.replies_delivered++;
		log_info("reply ended", "session=%s message=%.*s end=%s chunks=%ld sockets=%ld", s->sid,
			 (int)m->fi.message_id_len, m->fi.message_id,
			 m->fi.type == FT_COMPLETE ? "complete" : m->fi.type == FT_CANCELLED ? "cancelled"
											: "error",
			 m->fi.total, s->nconns);
	}
	msgbuf_unref(m);
}

void session_attach(struct conn *c)
{
	size_t n = strlen(c->sid);
	struct session *s = lookup(c->sid, n);
	if (!s) {
		s = xcalloc(1, sizeof *s);
		memcpy(s->sid, c->sid, n + 1);
		unsigned h = hash(c->sid, n);
		s->hnext = buckets[h];
		buckets[h] = s;
		relay.nsessions++;
	}
	c->sess = s;
	c->sprev = NULL;
	c->snext = s->conns;
	if (s->conns)
		s->conns->sprev = c;
	s->conns = c;
	s->nconns++;
	c->state = CONN_WAIT_SUB;
	if (s->sub == SUB_ACTIVE)
		conn_sync(c);
	else if (s->sub == SUB_NONE)
		subscribe(s);
	/* SUB_PENDING, SUB_LOST: on_confirmed syncs it; SUB_LEAVING: on_unsubscribed
	 * resubscribes */
}

void session_detach(struct conn *c)
{
	struct session *s = c->sess;
	if (!s)
		return;
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		s->conns = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	c->sess = NULL;
	if (--s->nconns == 0 && (s->sub == SUB_ACTIVE || s->sub == SUB_LOST))
		unsubscribe(s);
	else if (s->nconns == 0 && s->sub == SUB_NONE)
		session_free(s);
}

/* Joins the registry only now: a socket refused 4403 must not name its user
 * as the session's. */
void session_owned(struct conn *c)
{
	struct session *s = c->sess;
	if (!s || s->registered)
		return;
	memcpy(s->uid, c->uid, sizeof s->uid);
	s->registered = 1;
	relay.nregistered++;
	registry_join(s->sid, s->uid);
}

/* The subscriber connection is back: subscribe every session again. Each
 * socket then reads what it missed (conn_sync) before live frames flow,
 * whatever it was doing: a read in flight may predate frames that nobody
 * received, so it is forgotten. */
void sessions_redis_ready(void)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct session *s = buckets[i], *next; s; s = next) {
			next = s->hnext;
			if (s->nconns == 0) {
				session_free(s);
				continue;
			}
			session_resync(s);
			subscribe(s);
		}
}

void sessions_redis_lost(void)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct session *s = buckets[i]; s; s = s->hnext)
			s->sub = SUB_NONE;
}

int session_registered(const char *sid)
{
	struct session *s = lookup(sid, strlen(sid));
	return s && s->registered;
}

void sessions_rejoin(void)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct session *s = buckets[i]; s; s = s->hnext)
			if (s->registered)
				registry_join(s->sid, s->uid);
}

/* The command connection is back: the registry learns this relay's
 * sessions afresh, and sockets that could not read their snapshot while it
 * was away read it now. */
void sessions_cmd_ready(void)
{
	registry_refresh();  /* leaves what it no longer holds, then rejoins */
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct session *s = buckets[i]; s; s = s->hnext) {
			if (s->sub == SUB_ACTIVE)
				for (struct conn *c = s->conns; c; c = c->snext)
					if (c->state == CONN_WAIT_SUB)
						conn_sync(c);
		}
}

void conns_close_all(int code, const char *reason)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct session *s = buckets[i]; s; s = s->hnext)
			for (struct conn *c = s->conns; c; c = c->snext)
				conn_close(c, code, reason);
}

/* The two kinds of subscriber behind subscriber.h: SUBSCRIBE on one aredis
 * connection, or SSUBSCRIBE through cluster_sub.c on a Cluster. */
#include "subscriber.h"

#include <string.h>

#include "aredis.h"
#include "aredis_cluster.h"
#include "cluster_sub.h"
#include "log.h"

static struct {
	struct subscriber_events ev;
	int cluster;
	struct aredis ar;             /* one Redis or Sentinel */
	unsigned long subscribes;
	struct arcluster *map;        /* a Cluster: the command connection's slot map */
	struct csub *csub;
} sub;

/* ---- one connection: SUBSCRIBE ---- */

static void ar_ready(struct aredis *ar) { (void)ar; sub.ev.ready_all(); }
static void ar_lost(struct aredis *ar) { (void)ar; sub.ev.lost_all(); }

/* Every reply of the subscriber connection: a message, or the confirmation
 * of a SUBSCRIBE or UNSUBSCRIBE. */
static void on_channel(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	(void)ac;
	(void)priv;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = r->element[0]->str;
	redisReply *ch = r->element[1];
	if (!strcmp(kind, "message")) {
		if (r->element[2]->type == REDIS_REPLY_STRING)
			sub.ev.message(ch->str, ch->len, r->element[2]->str, r->element[2]->len);
	} else if (!strcmp(kind, "subscribe")) {
		sub.ev.subscribed(ch->str, ch->len);
	} else if (!strcmp(kind, "unsubscribe")) {
		sub.ev.unsubscribed(ch->str, ch->len);
	}
}

/* ---- a Cluster: SSUBSCRIBE ---- */

static void cs_message(struct csub *s, const char *channel, const char *msg, size_t len, void *data)
{
	(void)s;
	(void)data;
	sub.ev.message(channel, strlen(channel), msg, len);
}

static void cs_subscribed(struct csub *s, const char *channel, void *data)
{
	(void)s;
	(void)data;
	sub.ev.subscribed(channel, strlen(channel));
}

static void cs_lost(struct csub *s, const char *channel, const char *why, void *data)
{
	(void)s;
	(void)data;
	log_info("channel lost; subscribing again", "channel=%s why=%s", channel, why);
	sub.ev.channel_lost(channel, strlen(channel), why);
}

/* The slot map is the command connection's: one map for the relay, and a
 * re-read that csub asks for serves the commands too. */
static void start_cluster(uv_loop_t *loop, const struct redis_cfg *cfg, struct arcluster *map)
{
	sub.map = map;
	const struct csub_handlers h = { cs_message, cs_subscribed, cs_lost };
	sub.csub = csub_start(loop, sub.map, cfg->user, cfg->password, &h, NULL);
}

/* ---- either ---- */

void subscriber_start(uv_loop_t *loop, const struct redis_cfg *cfg, const struct subscriber_events *ev,
		      struct arcluster *map)
{
	sub.ev = *ev;
	sub.cluster = cfg->topology == REDIS_CLUSTER;
	if (sub.cluster) {
		start_cluster(loop, cfg, map);
		return;
	}
	sub.ar.on_ready = ar_ready;
	sub.ar.on_lost = ar_lost;
	aredis_start(&sub.ar, loop, cfg, "subscriber");
}

void subscriber_stop(void)
{
	if (!sub.cluster) {
		aredis_stop(&sub.ar);
		return;
	}
	csub_stop(sub.csub);   /* before map's arcluster_stop: it reads the map */
}

int subscriber_ready(void)
{
	return sub.cluster ? arcluster_ready(sub.map) : sub.ar.ready;
}

int subscriber_subscribe(const char *channel)
{
	if (sub.cluster)
		return csub_subscribe(sub.csub, channel);
	if (!sub.ar.ready)
		return -1;
	redisAsyncCommand(sub.ar.ac, on_channel, NULL, "SUBSCRIBE %s", channel);
	sub.subscribes++;
	return 0;
}

int subscriber_unsubscribe(const char *channel)
{
	if (sub.cluster) {
		csub_unsubscribe(sub.csub, channel);  /* nothing more is delivered on it */
		return 0;
	}
	if (!sub.ar.ready)
		return 0;
	redisAsyncCommand(sub.ar.ac, on_channel, NULL, "UNSUBSCRIBE %s", channel);
	return 1;
}

void subscriber_stats(struct subscriber_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!sub.cluster) {
		st->subscribes = sub.subscribes;
		st->reconnects = sub.ar.reconnects;
		return;
	}
	const struct csub_stats *cs = csub_stats(sub.csub);
	st->subscribes = cs->subscribes;
	st->reconnects = cs->disconnects;
	st->lost_moved = cs->lost_moved;
	st->lost_disconnected = cs->lost_disconnected;
}

/* The relay's subscriber (src/ws-relay/subscriber.c) fed by append.lua, for
 * t/52-relay-cluster-sub.bats:
 *
 *   relay-sub REDIS_URL SESSION STOPFILE
 *
 * Loads the scripts as every program does for REDIS_URL's topology
 * (scripts_load with redis_publish_command: SPUBLISH on a Cluster, PUBLISH
 * on one Redis), subscribes SESSION's channel through the subscriber seam
 * as the relay does, and appends a chunk "c<i>" to one message of the
 * session every 100 ms with append.lua (EVAL of the loaded text: the SHA is
 * that of the substituted text), the frame being "<i>". It prints
 * "slot=N" (the channel's slot), "ready" at the first subscription, and
 * "subscribed", "lost WHY" as the subscriber reports them.
 *
 * Once STOPFILE exists it waits (90 s at most) until the channel has been
 * subscribed again after any loss and 5 frames have arrived since the last
 * subscription, then reads the chunk list and prints one line:
 *   appended= received= missing= since_sub= subscribes= lost_moved=
 *   lost_disconnected= lost_all= list_ok= published_twice=
 * missing: chunks appended but never received live (what the relay fills
 * from the list); list_ok=1: the list holds c0..c<appended-1> in order.
 * Exit 0 when list_ok and frames came after the last subscription, 1
 * otherwise, 2 on a usage or setup error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aredis.h"
#include "aredis_cluster.h"
#include "cluster_slot.h"
#include "keys.h"
#include "redis_url.h"
#include "scripts.h"
#include "subscriber.h"
#include "util.h"

#define MAX_CHUNKS 100000

typedef void reply_fn(redisReply *r);

static struct {
	uv_loop_t *loop;
	struct redis_cfg cfg;
	struct aredis cmd;            /* one Redis */
	struct arcluster *cc;         /* a Cluster */
	const char *stopfile;
	char sid[64], mid[33], channel[KEY_MAX], kchunks[KEY_MAX], klock[KEY_MAX], owner[64];
	long next;                    /* the index of the next append */
	int busy;                     /* a command in flight */
	int live, ready_said, stopping;
	long since_sub, lost_all, received, published_twice, stop_ticks;
	unsigned char *seen;
	uv_timer_t tick;
} g;

/* ---- commands, on either kind of connection ---- */

static void ar_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	((reply_fn *)priv)(reply);
}

static void cc_reply(struct arcluster *c, redisAsyncContext *from, redisReply *reply, void *priv)
{
	(void)c;
	((reply_fn *)priv)(reply);
}

static int command(int argc, const char **argv, reply_fn *done)
{
	if (g.cc)
		return arcluster_command(g.cc, 0, NULL, 0, argc, argv, NULL, cc_reply, (void *)done);
	if (!g.cmd.ready)
		return -1;
	return redisAsyncCommandArgv(g.cmd.ac, ar_reply, (void *)done, argc, argv, NULL) == REDIS_OK ? 0 : -1;
}

/* ---- the checks at the end ---- */

static void finish(int list_ok)
{
	long missing = 0;
	for (long i = 0; i < g.next; i++)
		missing += !g.seen[i];
	struct subscriber_stats st;
	subscriber_stats(&st);
	printf("appended=%ld received=%ld missing=%ld since_sub=%ld subscribes=%lu lost_moved=%lu "
	       "lost_disconnected=%lu lost_all=%ld list_ok=%d published_twice=%ld\n",
	       g.next, g.received, missing, g.since_sub, st.subscribes, st.lost_moved, st.lost_disconnected,
	       g.lost_all, list_ok, g.published_twice);
	fflush(stdout);
	exit(list_ok && g.since_sub >= 5 ? 0 : 1);
}

static void listed(redisReply *r)
{
	int ok = r && r->type == REDIS_REPLY_ARRAY && (long)r->elements == g.next;
	for (size_t i = 0; ok && i < r->elements; i++) {
		char want[32];
		snprintf(want, sizeof want, "c%zu", i);
		ok = r->element[i]->type == REDIS_REPLY_STRING && !strcmp(r->element[i]->str, want);
	}
	if (!ok)
		fprintf(stderr, "relay-sub: the chunk list is not c0..c%ld (%zu items)\n", g.next - 1,
			r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0);
	finish(ok);
}

/* ---- appending ---- */

static void lock_set(redisReply *r)
{
	(void)r;
	g.busy = 0;
}

static void appended(redisReply *r)
{
	g.busy = 0;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1)
		return;   /* no reply in time: the next tick asks again at the same index */
	redisReply *e = r->element[0];
	if (e->type == REDIS_REPLY_INTEGER) {
		g.next = e->integer;
	} else if (e->type == REDIS_REPLY_STRING && !strncmp(e->str, "index:", 6)) {
		g.next = atol(e->str + 6);   /* an append whose reply was lost had run */
	} else if (e->type == REDIS_REPLY_STRING && !strcmp(e->str, "lease")) {
		const char *argv[] = { "SET", g.klock, g.owner };   /* a failover lost the lock */
		g.busy = command(3, argv, lock_set) == 0;
	} else {
		fprintf(stderr, "relay-sub: append.lua answered %s\n", e->type == REDIS_REPLY_STRING ? e->str : "?");
	}
}

static void append_next(void)
{
	char index[24], content[32], frame[24];
	snprintf(index, sizeof index, "%ld", g.next);
	snprintf(content, sizeof content, "c%ld", g.next);
	snprintf(frame, sizeof frame, "%ld", g.next);
	const struct script *s = script_get(SCRIPT_APPEND);
	const char *argv[] = { "EVAL", s->body, "2", g.kchunks, g.klock, g.owner, index, content, g.channel, frame };
	g.busy = command(10, argv, appended) == 0;
}

static void tick(uv_timer_t *t)
{
	(void)t;
	struct stat st;
	if (!g.ready_said || g.busy)
		return;
	if (!g.stopping && stat(g.stopfile, &st) == 0)
		g.stopping = 1;
	if (g.stopping && g.live && g.since_sub >= 5) {
		uv_timer_stop(&g.tick);
		const char *argv[] = { "LRANGE", g.kchunks, "0", "-1" };
		if (command(4, argv, listed) < 0)
			finish(0);
		return;
	}
	if (g.stopping && ++g.stop_ticks > 900) {
		fprintf(stderr, "relay-sub: no frames after a subscription within 90 s (live=%d)\n", g.live);
		finish(0);
	}
	if (g.next + 1 < MAX_CHUNKS)
		append_next();
}

/* ---- the subscriber's events, as session.c gets them ---- */

static void ready_all(void)
{
	subscriber_subscribe(g.channel);
}

static void lost_all(void)
{
	g.live = 0;
	g.lost_all++;
	printf("lost all\n");
	fflush(stdout);
}

static void subscribed(const char *channel, size_t len)
{
	(void)channel;
	(void)len;
	g.live = 1;
	g.since_sub = 0;
	printf("%s\n", g.ready_said ? "subscribed" : "ready");
	fflush(stdout);
	if (!g.ready_said) {
		g.ready_said = 1;
		const char *argv[] = { "SET", g.klock, g.owner };
		g.busy = command(3, argv, lock_set) == 0;
	}
}

static void unsubscribed(const char *channel, size_t len)
{
	(void)channel;
	(void)len;
}

static void channel_lost(const char *channel, size_t len, const char *why)
{
	(void)channel;
	(void)len;
	g.live = 0;
	printf("lost %s\n", why);
	fflush(stdout);
}

static void message(const char *channel, size_t chlen, const char *payload, size_t len)
{
	(void)channel;
	(void)chlen;
	long i = strtol(payload, NULL, 10);
	if (!g.live || len == 0 || i < 0 || i >= MAX_CHUNKS)
		return;
	g.since_sub++;
	if (g.seen[i]) {
		g.published_twice++;   /* an append retried after a failover; the relay's admit() drops it */
		return;
	}
	g.seen[i] = 1;
	g.received++;
}

static const struct subscriber_events events = {
	ready_all, lost_all, subscribed, unsubscribed, channel_lost, message,
};

static void map_ready(struct arcluster *c, int status)
{
	if (status < 0) {
		fprintf(stderr, "relay-sub: %s\n", arcluster_error(c));
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const char *err;
	if (argc != 4 || redis_url_parse(argv[1], &g.cfg, &err) || strlen(argv[2]) >= sizeof g.sid) {
		fprintf(stderr, "usage: relay-sub REDIS_URL SESSION STOPFILE\n");
		return 2;
	}
	snprintf(g.sid, sizeof g.sid, "%s", argv[2]);
	g.stopfile = argv[3];
	g.seen = calloc(MAX_CHUNKS, 1);
	keys_init(NULL);
	scripts_load(share_dir(NULL), redis_publish_command(&g.cfg));
	if (new_message_id(g.mid, session_partition(g.sid)))
		return 2;
	key_channel(g.channel, g.sid);
	key_chunks(g.kchunks, g.mid);
	key_lock(g.klock, g.mid);
	snprintf(g.owner, sizeof g.owner, "relay-sub-%ld", (long)getpid());
	printf("slot=%d\n", cluster_key_slot(g.channel, strlen(g.channel)));
	fflush(stdout);

	g.loop = uv_default_loop();
	if (g.cfg.topology == REDIS_CLUSTER) {
		struct rcluster_opts o = { .user = g.cfg.user, .password = g.cfg.password, .retry_ms = 30000 };
		g.cc = arcluster_start(g.loop, g.cfg.addrs, g.cfg.naddrs, &o, map_ready, NULL);
	} else {
		aredis_start(&g.cmd, g.loop, &g.cfg, "commands");
	}
	subscriber_start(g.loop, &g.cfg, &events, g.cc);
	subscriber_subscribe(g.channel);   /* or, on one Redis, at ready_all */
	uv_timer_init(g.loop, &g.tick);
	uv_timer_start(&g.tick, tick, 100, 100);
	uv_run(g.loop, UV_RUN_DEFAULT);
	return 2;
}

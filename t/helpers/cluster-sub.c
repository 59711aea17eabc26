/* Sharded pub/sub through cluster_sub.c, for t/69-cluster-sub.bats:
 *
 *   cluster-sub --seeds H:P[,H:P...] [--password PW] NCHANNELS STOPFILE
 *
 * Subscribes to NCHANNELS channels (sub:{0}, sub:{1}, ...: all slots
 * alike), prints "ready" once every one is subscribed, then publishes a
 * rising number on each channel every 50 ms (SPUBLISH through the async
 * cluster client) and checks that no number arrives twice on a channel
 * (a publish retried after a failover may overtake a later one: those are
 * counted, out_of_order=, not refused).
 * Once STOPFILE exists, it waits until every channel is subscribed again,
 * publishes "final" on each and waits for all of them (60 s at most).
 * Prints one line: channels= final= messages= duplicates= out_of_order=
 * lost_moved= lost_disconnected= moved_replies= pub_lost= pub_errors=. Exit 0 when every final
 * arrived and nothing twice, 1 otherwise, 2 on a cluster error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aredis_cluster.h"
#include "cluster_sub.h"

#define MAX_SEQ 65536

struct chstate {
	long last;                    /* the last number received */
	int on, final;
	unsigned char seen[MAX_SEQ / 8];
};

static struct {
	uv_loop_t *loop;
	struct arcluster *c;
	struct csub *sub;
	const char *password, *stopfile;
	int n, on, finals, final_sent, ready_said;
	long seq;
	unsigned long out_of_order, duplicates, pub_lost, pub_errors;
	struct chstate *ch;
	uv_timer_t tick;
	int ticks_after_stop;
} g;

static int chan_index(const char *name)
{
	return atoi(name + 5);   /* "sub:{N}" */
}

static void chan_name(int i, char *out, size_t n)
{
	snprintf(out, n, "sub:{%d}", i);
}

static void finish(int code)
{
	const struct csub_stats *st = csub_stats(g.sub);
	printf("channels=%d final=%d messages=%lu duplicates=%lu out_of_order=%lu lost_moved=%lu lost_disconnected=%lu "
	       "moved_replies=%lu pub_lost=%lu pub_errors=%lu\n",
	       g.n, g.finals, st->messages, g.duplicates, g.out_of_order, st->lost_moved, st->lost_disconnected,
	       st->moved_replies, g.pub_lost, g.pub_errors);
	fflush(stdout);
	exit(code);
}

static void on_message(struct csub *s, const char *channel, const char *msg, size_t len, void *data)
{
	struct chstate *c = &g.ch[chan_index(channel)];
	if (len == 5 && !memcmp(msg, "final", 5)) {
		if (!c->final++)
			g.finals++;
		if (g.finals == g.n)
			finish(g.duplicates ? 1 : 0);
		return;
	}
	long v = atol(msg);
	if (v > 0 && v < MAX_SEQ) {
		if (c->seen[v / 8] & (1 << (v % 8)))
			g.duplicates++;
		c->seen[v / 8] |= (unsigned char)(1 << (v % 8));
	}
	if (v <= c->last)
		g.out_of_order++;
	else
		c->last = v;
}

static void on_subscribed(struct csub *s, const char *channel, void *data)
{
	struct chstate *c = &g.ch[chan_index(channel)];
	if (!c->on++)
		g.on++;
	else
		c->on = 1;
	if (g.on == g.n && !g.ready_said) {
		g.ready_said = 1;
		printf("ready\n");
		fflush(stdout);
	}
}

static void on_lost(struct csub *s, const char *channel, const char *why, void *data)
{
	struct chstate *c = &g.ch[chan_index(channel)];
	if (c->on) {
		c->on = 0;
		g.on--;
	}
}

/* A publish whose connection dropped may or may not have gone out; it is
 * not sent again (that could deliver it twice), only counted. */
static void published(struct arcluster *c, redisAsyncContext *from, redisReply *r, void *priv)
{
	if (!r)
		g.pub_lost++;
	else if (r->type == REDIS_REPLY_ERROR)
		g.pub_errors++;
}

static void publish_all(const char *what)
{
	char name[32];
	for (int i = 0; i < g.n; i++) {
		chan_name(i, name, sizeof name);
		const char *argv[] = { "SPUBLISH", name, what };
		arcluster_command(g.c, 0, NULL, 0, 3, argv, NULL, published, NULL);
	}
}

static void tick(uv_timer_t *t)
{
	struct stat st;
	if (!g.ready_said)
		return;
	if (stat(g.stopfile, &st) < 0 && g.seq + 1 < MAX_SEQ) {
		char v[32];
		snprintf(v, sizeof v, "%ld", ++g.seq);
		publish_all(v);
		return;
	}
	if (++g.ticks_after_stop > 1200) {
		fprintf(stderr, "cluster-sub: %d of %d finals after 60 s (%d subscribed)\n", g.finals, g.n, g.on);
		finish(1);
	}
	if (g.on == g.n && !g.final_sent) {
		g.final_sent = 1;
		publish_all("final");
	}
}

static void on_ready(struct arcluster *c, int status)
{
	if (status < 0) {
		fprintf(stderr, "cluster-sub: %s\n", arcluster_error(c));
		exit(2);
	}
	struct csub_handlers h = { on_message, on_subscribed, on_lost };
	g.sub = csub_start(g.loop, c, NULL, g.password, &h, NULL);
	char name[32];
	for (int i = 0; i < g.n; i++) {
		chan_name(i, name, sizeof name);
		csub_subscribe(g.sub, name);
	}
	uv_timer_start(&g.tick, tick, 50, 50);
}

int main(int argc, char **argv)
{
	struct redis_addr seeds[REDIS_MAX_ADDRS];
	int nseeds = 0, i = 1;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--password")) {
			g.password = argv[i + 1];
			continue;
		}
		for (char *tok = strtok(argv[i + 1], ","); tok && nseeds < REDIS_MAX_ADDRS; tok = strtok(NULL, ",")) {
			char *colon = strrchr(tok, ':');
			if (!colon)
				break;
			*colon = 0;
			snprintf(seeds[nseeds].host, sizeof seeds[0].host, "%s", tok);
			seeds[nseeds++].port = atoi(colon + 1);
		}
	}
	if (argc - i != 2 || !nseeds || atoi(argv[i]) < 1) {
		fprintf(stderr, "usage: cluster-sub --seeds H:P[,H:P...] [--password PW] NCHANNELS STOPFILE\n");
		return 2;
	}
	g.n = atoi(argv[i]);
	g.stopfile = argv[i + 1];
	g.ch = calloc((size_t)g.n, sizeof *g.ch);
	g.loop = uv_default_loop();
	uv_timer_init(g.loop, &g.tick);
	struct rcluster_opts o = { .password = g.password, .retry_ms = 30000 };
	g.c = arcluster_start(g.loop, seeds, nseeds, &o, on_ready, NULL);
	uv_run(g.loop, UV_RUN_DEFAULT);
	return 2;
}

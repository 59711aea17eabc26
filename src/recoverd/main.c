/* recoverd: the recovery daemon. In this version it keeps the registries
 * true: the sessions of a relay whose heartbeat lapsed leave
 * sessions:node/active/user (a relay that comes back re-registers its own),
 * and nodes silent for long leave nodes:ai and nodes:ws. It heartbeats
 * itself. Reclaiming the jobs of dead workers is the next step (DESIGN.md
 * "The life of a message", 4). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "keys.h"
#include "log.h"
#include "redis_sync.h"
#include "scripts.h"
#include "util.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: recoverd [--help] [--version]\n"
		"environment (default):\n"
		"  REDIS_URL          redis://127.0.0.1:6379/0\n"
		"  KEY_PREFIX         \"\"\n"
		"  INTERVAL_MS        1000     time between two passes\n"
		"  RELAY_DEAD_MS      15000    a relay silent this long loses its sessions\n"
		"  NODE_FORGET_MS     3600000  a node silent this long leaves the registries\n"
		"  NODE_ID            rec-hostname-pid\n"
		"  LOG_LEVEL          info\n");
}

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (!stopping && nanosleep(&ts, &ts) != 0)
		;
}

/* The sessions of relays whose heartbeat lapsed leave the registry. */
static int forget_dead_relays(redisContext *c, long long now, long dead_ms)
{
	char kz[KEY_MAX], knode[KEY_MAX], kactive[KEY_MAX];
	redisReply *dead = redisCommand(c, "ZRANGEBYSCORE %s -inf %lld", key_nodes_ws(kz), now - dead_ms);
	if (!dead)
		return -1;
	for (size_t i = 0; dead->type == REDIS_REPLY_ARRAY && i < dead->elements; i++) {
		const char *n = dead->element[i]->str;
		redisReply *e = redisCommand(c, "EXISTS %s", key_sessions_node(knode, n));
		if (!e)
			goto fail;
		long long held = e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
		freeReplyObject(e);
		if (!held)
			continue;
		const char *keys[3] = { knode, key_sessions_active(kactive), kz };
		const char *args[2] = { n, keys_prefix() };
		redisReply *r = rs_eval(c, SCRIPT_SESSIONS_LEAVE, 3, keys, 2, args, NULL);
		if (!r)
			goto fail;
		if (r->type == REDIS_REPLY_INTEGER)
			log_info("forgot the sessions of a silent relay", "relay=%s sessions_gone=%lld", n,
				 r->integer);
		else if (r->type == REDIS_REPLY_ERROR)
			log_warn("registry cleanup failed", "relay=%s error=\"%s\"", n, r->str);
		freeReplyObject(r);
	}
	freeReplyObject(dead);
	return 0;
fail:
	freeReplyObject(dead);
	return -1;
}

/* One pass; -1 if the connection failed. */
static int pass(redisContext *c, const char *node, long dead_ms, long forget_ms)
{
	char kz[KEY_MAX], k[KEY_MAX];
	long long now = now_ms();
	redisReply *r;
	if (forget_dead_relays(c, now, dead_ms))
		return -1;
	for (int i = 0; i < 2; i++) {
		(i ? key_nodes_ws : key_nodes_ai)(kz);
		r = redisCommand(c, "ZREMRANGEBYSCORE %s -inf %lld", kz, now - forget_ms);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			log_info("forgot silent nodes", "registry=%s count=%lld", kz, r->integer);
		freeReplyObject(r);
	}
	key_node_recoverd(k, node);
	r = redisCommand(c, "HSET %s id %s last_seen_ms %lld", k, node, now);
	if (!r)
		return -1;
	freeReplyObject(r);
	r = redisCommand(c, "PEXPIRE %s 5000", k);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("recoverd");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("recoverd %s\n", VERSION);
			return 0;
		}
		usage(stderr);
		return 100;
	}
	struct redis_cfg cfg;
	char node[128];
	daemon_setup("rec", node, sizeof node, &cfg);
	long interval = env_long("INTERVAL_MS", 1000, 10, 3600000);
	long dead = env_long("RELAY_DEAD_MS", 15000, 1000, 30L * 86400000);
	long forget = env_long("NODE_FORGET_MS", 3600000, 1000, 30L * 86400000);

	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_info("started", "version=%s interval_ms=%ld", VERSION, interval);

	redisContext *c = NULL;
	long backoff = 50;
	while (!stopping) {
		if (!c) {
			char e[200];
			c = rs_connect(&cfg, 1000, e, sizeof e);
			if (!c) {
				log_warn("redis unavailable", "error=\"%s\" retry_ms=%ld", e, backoff);
				nap(backoff);
				backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
			backoff = 50;
			log_info("redis connected", NULL);
		}
		if (pass(c, node, dead, forget) != 0) {
			log_warn("redis connection lost", "error=\"%s\"", c->errstr);
			redisFree(c);
			c = NULL;
			continue;
		}
		nap(interval);
	}
	if (c)
		redisFree(c);
	log_info("stopped", NULL);
	return 0;
}

/* recoverd: the reason no stream is left hanging. Every pass it
 *   - requeues the jobs of dead workers, to resume where they stopped
 *     (reclaim.c), also those whose stream entry was trimmed (orphans.c);
 *   - drops the sessions of relays whose heartbeat lapsed (registry.c);
 *   - forgets nodes silent for long from nodes:ai and nodes:ws;
 *   - heartbeats in node:recoverd:{N} with its counters. */
#include <stdio.h>
#include <stdlib.h>

#include "archive.h"
#include "config.h"
#include "daemon.h"
#include "heartbeat.h"
#include "recoverd.h"
#include "keys.h"
#include "log.h"
#include "redis_sync.h"
#include "scripts.h"
#include "util.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

#define HEARTBEAT_TTL_MS 5000


static const struct knob knobs[] = {
	KNOB_INT("INTERVAL_MS", 1000, 10, 3600000, "time between two passes"),
	KNOB_INT("LEASE_MS", 10000, 100, 3600000,
		 "a job pending this long without a lease holder is requeued"),
	KNOB_INT("CHUNK_TTL_S", 300, 1, 30L * 86400,
		 "how long the chunks of a reply recoverd ends are kept"),
	KNOB_INT("HISTORY_MAX", 1000, 2, 1000000, "messages kept per session (as in ai-streamer)"),
	KNOB_INT("RELAY_DEAD_MS", 15000, 1000, 30L * 86400000,
		 "a relay silent this long loses its sessions"),
	KNOB_INT("NODE_FORGET_MS", 3600000, 1000, 30L * 86400000,
		 "a node silent this long leaves the registries"),
};
static const struct knob_table recoverd_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = {
	&recoverd_knobs, &redis_knobs, &daemon_knobs, &heartbeat_knobs, &archive_knobs, NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: recoverd [--help] [--version]\n"
		"Requeues the jobs of dead workers and drops the sessions of dead relays.\n\n");
	config_usage(f, all_knobs);
}

/* One pass; -1 if the connection failed. */
static struct reclaim reclaimed;

static int pass(struct rs *c, const char *node, const struct settings *set)
{
	char kz[KEY_MAX];
	long long now = now_ms();
	redisReply *r;
	long forget_ms = set->forget_ms;
	if (reclaim_jobs(c, node, set, &reclaimed) ||
	    forget_dead_relays(c, now, set->dead_ms))
		return -1;
	char *(*const sets[])(char *) = { key_nodes_ai, key_nodes_ws, key_nodes_recoverd,
					   key_nodes_archiver };
	for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
		sets[i](kz);
		r = rs_command(c, "ZREMRANGEBYSCORE %s -inf %lld", kz, now - forget_ms);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			log_info("forgot silent nodes", "registry=%s count=%lld", kz, r->integer);
		freeReplyObject(r);
	}
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_recoverd, key_nodes_recoverd, node, now, HEARTBEAT_TTL_MS);
	heartbeat_fields(&hb, "reclaimed %lld requeued %lld ended_acked %lld ended_lost %lld",
			 reclaimed.reclaimed, reclaimed.requeued, reclaimed.finished, reclaimed.ended_lost);
	int rc = heartbeat_write(&hb, c);
	heartbeat_release(&hb);
	if (rc == 0)
		daemon_heartbeat_file();
	return rc;
}

int main(int argc, char **argv)
{
	log_init("recoverd");
	daemon_args(argc, argv, "recoverd", VERSION, usage);
	struct redis_cfg cfg;
	char node[128];
	daemon_setup("rec", node, sizeof node, &cfg);
	long interval = config_int(&recoverd_knobs, "INTERVAL_MS");
	struct settings set;
	set.lease_ms = config_int(&recoverd_knobs, "LEASE_MS");
	set.dead_ms = config_int(&recoverd_knobs, "RELAY_DEAD_MS");
	set.forget_ms = config_int(&recoverd_knobs, "NODE_FORGET_MS");
	set.chunk_ttl_s = config_int(&recoverd_knobs, "CHUNK_TTL_S");
	set.history_max = config_int(&recoverd_knobs, "HISTORY_MAX");
	(void)archive_maxlen();  /* a bad ARCHIVE_MAXLEN stops it here */

	daemon_trap_stop();
	log_info("started", "version=%s interval_ms=%ld", VERSION, interval);

	struct rs *c = NULL;
	long backoff = 50;
	while (!daemon_stopping) {
		if (!c) {
			char e[200];
			c = rs_connect(&cfg, 1000, e, sizeof e);
			if (!c) {
				log_warn("redis unavailable", "error=\"%s\" retry_ms=%ld", e, backoff);
				daemon_nap(backoff);
				backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
			backoff = 50;
			log_info("redis connected", NULL);
		}
		if (pass(c, node, &set) != 0) {
			log_warn("redis connection lost", "error=\"%s\"", rs_errstr(c));
			rs_free(c);
			c = NULL;
			continue;
		}
		daemon_nap(interval);
	}
	if (c)
		rs_free(c);
	for (int p = 0; p < PARTITIONS; p++)
		ids_release(&reclaimed.gone[p]);
	log_info("stopped", NULL);
	return 0;
}

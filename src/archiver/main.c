/* archiver: every finished message from the Redis stream `archive` into
 * PostgreSQL, acknowledged only after the commit. It reads through the
 * consumer group `archivers` (so several run side by side), rereads its own
 * pending entries at start and after a failure, takes over the entries of
 * consumers that died (XAUTOCLAIM), and stores by message id (ON CONFLICT
 * DO NOTHING): kill -9 anywhere loses nothing and stores nothing twice.
 * PostgreSQL down: it retries with backoff and reads nothing new meanwhile;
 * the backlog waits in the stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archiver.h"
#include "config.h"
#include "daemon.h"
#include "heartbeat.h"
#include "keys.h"
#include "log.h"
#include "redis_sync.h"
#include "scripts.h"
#include "util.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

#define HEARTBEAT_MS 1000
#define HEARTBEAT_TTL_MS 5000
#define WARN_EVERY_MS 60000


static const struct knob knobs[] = {
	KNOB_TEXT("DATABASE_URL", NULL, NULL,
		  "the archive's PostgreSQL, a libpq URI or conninfo "
		  "(postgresql://user@host/db, or host=/run/dir dbname=x); required"),
	KNOB_INT("ARCHIVE_BATCH", 500, 1, 5000, "messages stored per transaction at most"),
	KNOB_INT("ARCHIVE_BLOCK_MS", 1000, 10, 60000, "when no archive stream has a new message, how long it waits before reading them again"),
	KNOB_INT("ARCHIVE_CLAIM_IDLE_MS", 30000, 1000, 86400000,
		 "entries pending this long with another archiver (dead, or stuck) are taken over"),
	KNOB_INT("ARCHIVE_RETRY_MAX_MS", 5000, 100, 600000,
		 "the longest wait between two attempts while PostgreSQL fails"),
};
static const struct knob_table archiver_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = {
	&archiver_knobs, &archive_knobs, &redis_knobs, &daemon_knobs, &heartbeat_knobs, NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: archiver [--help] [--version]\n"
		"Copies every finished message from the Redis stream `archive` into PostgreSQL.\n\n");
	config_usage(f, all_knobs);
}

struct settings {
	long batch, block_ms, claim_idle_ms, retry_max_ms, maxlen;
};

struct archiver {
	const char *node;
	struct settings set;
	struct store store;
	struct rs *redis;
	struct batch batch;
	int own_pending;          /* reread its own pending entries before new ones */
	char cursor[48];          /* XAUTOCLAIM's, in the stream of partition claim_part */
	int claim_part;
	long long next_claim_ms, next_beat_ms, next_warn_ms;
	long backoff_ms;
	long long stored, duplicates, unusable, batches;  /* since start */
	char last_error[256];
};

static void heartbeat(struct archiver *a)
{
	long long now = now_ms();
	if (now < a->next_beat_ms)
		return;
	a->next_beat_ms = now + HEARTBEAT_MS;
	if (a->store.pg && !store_alive(&a->store))
		snprintf(a->last_error, sizeof a->last_error, "%s", a->store.error);  /* while idle */
	long long backlog = entries_backlog(a->redis);
	if (backlog > a->set.maxlen / 2 && now >= a->next_warn_ms) {
		a->next_warn_ms = now + WARN_EVERY_MS;
		log_warn("archive backlog past half its cap: the oldest messages are lost to the "
			 "archive at ARCHIVE_MAXLEN", "backlog=%lld cap=%ld", backlog, a->set.maxlen);
	}
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_archiver, key_nodes_archiver, a->node, now, HEARTBEAT_TTL_MS);
	heartbeat_fields(&hb, "pg_up %d stored %lld duplicates %lld unusable %lld batches %lld "
			 "backlog %lld pg_error %s", a->store.pg ? 1 : 0, a->stored, a->duplicates,
			 a->unusable, a->batches, backlog, a->store.pg ? "" : a->last_error);
	if (heartbeat_write(&hb, a->redis) == 0)
		daemon_heartbeat_file();
	heartbeat_release(&hb);
}

/* A failure of PostgreSQL: logged when it changes, shown in the
 * heartbeat, then a longer wait. */
static void pg_failed(struct archiver *a)
{
	if (strcmp(a->last_error, a->store.error) != 0) {
		snprintf(a->last_error, sizeof a->last_error, "%s", a->store.error);
		log_warn("postgres unavailable", "error=\"%s\" retry_max_ms=%ld", a->last_error,
			 a->set.retry_max_ms);
	}
	a->own_pending = 1;
	if (!rs_err(a->redis))
		heartbeat(a);
	if (a->backoff_ms < 100)
		a->backoff_ms = 100;
	daemon_nap(a->backoff_ms);
	a->backoff_ms = a->backoff_ms * 2 > a->set.retry_max_ms ? a->set.retry_max_ms :
			a->backoff_ms * 2;
}

static void pg_fine(struct archiver *a)
{
	if (a->last_error[0])
		log_info("postgres available again", NULL);
	a->last_error[0] = 0;
	a->backoff_ms = 100;
	a->next_beat_ms = 0;  /* pg_up 1 at once */
}

/* The next entries: its own pending ones first, then now and then those of
 * dead consumers, else new ones. -1: Redis failed. */
static int next_batch(struct archiver *a)
{
	struct batch *b = &a->batch;
	long long now = now_ms();
	if (a->own_pending) {
		if (entries_read(a->redis, a->node, "0", a->set.batch, 0, b))
			return -1;
		a->own_pending = b->n > 0;
		if (b->n)
			return 0;
	}
	if (now >= a->next_claim_ms) {
		if (entries_claim(a->redis, a->node, a->set.claim_idle_ms, a->set.batch,
				  &a->claim_part, a->cursor, sizeof a->cursor, b))
			return -1;
		if (!strcmp(a->cursor, "0-0") && a->claim_part == 0)
			a->next_claim_ms = now + a->set.claim_idle_ms / 2;
		if (b->n)
			return 0;
	}
	return entries_read(a->redis, a->node, ">", a->set.batch, a->set.block_ms, b);
}

/* A batch PostgreSQL refused while the connection stayed up (no input
 * should do that, but a stuck batch would stop the archive): each message
 * alone, and one still refused is logged and let go. */
static void store_each(struct archiver *a)
{
	for (size_t i = 0; i < a->batch.n && a->store.pg; i++) {
		if (a->batch.e[i].bad)
			continue;  /* counted with the batch */
		struct batch one = { &a->batch.e[i], 1, 1 };
		long stored;
		if (store_batch(&a->store, &one, &stored) == 0) {
			a->stored += stored;
			a->duplicates += 1 - stored;
		} else if (a->store.pg) {
			a->unusable++;
			log_error("message not archived", "message=%s entry=%s error=\"%s\"",
				  a->batch.e[i].message_id, a->batch.e[i].id, a->store.error);
		}
	}
}

/* One batch stored, then acknowledged. -1: Redis failed. */
static int archive_batch(struct archiver *a)
{
	struct batch *b = &a->batch;
	long stored, usable = 0;
	for (size_t i = 0; i < b->n; i++)
		usable += !b->e[i].bad;
	if (store_batch(&a->store, b, &stored) == 0) {
		a->stored += stored;
		a->duplicates += usable - stored;
	} else if (a->store.pg) {
		log_warn("batch refused, storing its messages one by one", "error=\"%s\"",
			 a->store.error);
		store_each(a);
	}
	if (!a->store.pg) {  /* nothing acknowledged: reread after reconnecting */
		pg_failed(a);
		return 0;
	}
	a->unusable += b->n - usable;
	a->batches++;
	log_debug("batch archived", "entries=%zu stored=%ld", b->n, stored);
	return entries_done(a->redis, b);
}

static void run(struct archiver *a, const struct redis_cfg *cfg)
{
	long redis_backoff = 50;
	while (!daemon_stopping) {
		if (!a->redis) {
			char e[200];
			a->redis = rs_connect(cfg, 2000, e, sizeof e);
			if (!a->redis || entries_group(a->redis)) {
				log_warn("redis unavailable", "error=\"%s\" retry_ms=%ld",
					 a->redis ? rs_errstr(a->redis) : e, redis_backoff);
				if (a->redis)
					rs_free(a->redis);
				a->redis = NULL;
				daemon_nap(redis_backoff);
				redis_backoff = redis_backoff * 2 > 2000 ? 2000 : redis_backoff * 2;
				continue;
			}
			redis_backoff = 50;
			a->own_pending = 1;
			log_info("redis connected", NULL);
		}
		int rc;
		if (!a->store.pg && store_open(&a->store)) {
			pg_failed(a);
			rc = rs_err(a->redis) ? -1 : 0;
		} else {
			if (a->last_error[0] || a->backoff_ms == 0) {
				pg_fine(a);
				log_info("postgres connected", NULL);
			}
			batch_reset(&a->batch);
			rc = next_batch(a);
			if (!rc && a->batch.n)
				rc = archive_batch(a);
			if (!rc)
				heartbeat(a);
		}
		if (rc || rs_err(a->redis)) {
			log_warn("redis connection lost", "error=\"%s\"", rs_errstr(a->redis));
			rs_free(a->redis);
			a->redis = NULL;
		}
	}
}

int main(int argc, char **argv)
{
	log_init("archiver");
	daemon_args(argc, argv, "archiver", VERSION, usage);
	struct redis_cfg cfg;
	char node[128];
	daemon_setup("arc", node, sizeof node, &cfg);
	static struct archiver a;
	a.node = node;
	a.set.batch = config_int(&archiver_knobs, "ARCHIVE_BATCH");
	a.set.block_ms = config_int(&archiver_knobs, "ARCHIVE_BLOCK_MS");
	a.set.claim_idle_ms = config_int(&archiver_knobs, "ARCHIVE_CLAIM_IDLE_MS");
	a.set.retry_max_ms = config_int(&archiver_knobs, "ARCHIVE_RETRY_MAX_MS");
	a.set.maxlen = atol(archive_maxlen());
	a.store.url = config_text(&archiver_knobs, "DATABASE_URL");
	if (!a.store.url)
		die(100, "DATABASE_URL is not set: the archive's PostgreSQL, e.g. "
		    "postgresql://user@host/db");
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(a.store.url, &err);
	if (!opts) {
		for (char *p = err; p && *p; p++)
			if (*p == '\n')
				*p = ' ';
		die(100, "DATABASE_URL does not parse: %s", err ? err : "out of memory");
	}
	PQconninfoFree(opts);
	static char sql_dir[4200];
	snprintf(sql_dir, sizeof sql_dir, "%s/sql", share_dir(config_text(&daemon_knobs, "SHARE_DIR")));
	a.store.sql_dir = sql_dir;
	snprintf(a.cursor, sizeof a.cursor, "0-0");

	daemon_trap_stop();
	log_info("started", "version=%s batch=%ld", VERSION, a.set.batch);
	run(&a, &cfg);
	if (a.redis)
		rs_free(a.redis);
	store_close(&a.store);
	batch_release(&a.batch);
	log_info("stopped", "stored=%lld duplicates=%lld", a.stored, a.duplicates);
	return 0;
}

/* Writes and reads back keys through the Redis Cluster routing layer
 * (src/common/redis_cluster.c; with --async, aredis_cluster.c through
 * cluster-rw-async.c), for t/66-redis-cluster.bats:
 *
 *   cluster-rw --seeds H:P[,H:P...] [--password PW] [--retry-ms N] [--slots LO-HI]
 *              [--every-slot] [--strict] [--async] [--start-file F] COMMAND
 *     write PREFIX N      SET PREFIX:i for the first N keys (of the slots asked;
 *                         --every-slot: one key of each slot, N = 16384), then
 *                         WAIT for a replica on every primary (not --async)
 *     read PREFIX N       GET them back; each must hold what write put there
 *     loop PREFIX FILE S  SET then GET fresh keys until FILE exists (at most S
 *                         seconds); with --strict a read that differs fails
 *     set KEY VALUE, get KEY
 *     get-twice KEY FILE  GET, then again once FILE exists (at most 60 s later),
 *                         with the slot map the first GET saw
 *
 * --start-file: prints "ready" once it has the slot map, and starts the
 * command once F exists (a test changes the cluster in between).
 *
 * Prints one line of counts (moved=, ask=, ...). Exit 0; 1 when a value
 * read differs from the one written; 2 when the cluster gave no answer in
 * the time allowed (the reason on stderr, one line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster-rw.h"

static struct rcluster *rc;

static int parse_seeds(struct opts *o, char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		char *colon = strrchr(tok, ':');
		if (!colon || o->nseeds == REDIS_MAX_ADDRS)
			return -1;
		*colon = 0;
		snprintf(o->seeds[o->nseeds].host, sizeof o->seeds[0].host, "%s", tok);
		o->seeds[o->nseeds].port = atoi(colon + 1);
		o->nseeds++;
	}
	return o->nseeds ? 0 : -1;
}

/* --every-slot: the first PREFIX:j of each slot, slot by slot */
static unsigned long *slot_keys;

static void slot_keys_make(const char *prefix)
{
	slot_keys = calloc(CLUSTER_SLOTS, sizeof *slot_keys);
	char key[128];
	int left = CLUSTER_SLOTS;
	for (unsigned long j = 1; left; j++) {
		snprintf(key, sizeof key, "%s:%lu", prefix, j);
		int slot = cluster_key_slot(key, strlen(key));
		if (!slot_keys[slot]) {
			slot_keys[slot] = j;
			left--;
		}
	}
}

/* The next key of PREFIX whose slot lies in the range asked (keys are
 * PREFIX:j for j = 0, 1, ...; the range makes the scan skip some); with
 * --every-slot, the key of slot *j. */
void key_at(const struct opts *o, const char *prefix, unsigned long *j, char *out, size_t n)
{
	if (o->every_slot) {
		if (!slot_keys)
			slot_keys_make(prefix);
		snprintf(out, n, "%s:%lu", prefix, slot_keys[(*j)++ % CLUSTER_SLOTS]);
		return;
	}
	for (;;) {
		snprintf(out, n, "%s:%lu", prefix, (*j)++);
		int slot = cluster_key_slot(out, strlen(out));
		if (slot >= o->slot_lo && slot <= o->slot_hi)
			return;
	}
}

void value_of(const char *key, char *out, size_t n)
{
	snprintf(out, n, "v=%s", key);
}

static redisReply *run(int flags, int argc, const char *const *argv)
{
	redisReply *r = rcluster_command(rc, flags, NULL, 0, argc, argv, NULL);
	if (!r) {
		fprintf(stderr, "cluster-rw: %s: %s\n", argv[0], rcluster_error(rc));
		exit(2);
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "cluster-rw: %s: %s\n", argv[0], r->str);
		freeReplyObject(r);
		rcluster_free(rc);
		exit(2);
	}
	return r;
}

static void set_key(const char *key, const char *val, struct counts *n)
{
	const char *argv[] = { "SET", key, val };
	freeReplyObject(run(RC_IDEMPOTENT, 3, argv));
	n->written++;
}

int note_read(const char *key, const char *val, const redisReply *r, struct counts *n)
{
	int same = r->type == REDIS_REPLY_STRING && !strcmp(r->str, val);
	if (!same) {
		n->mismatches++;
		if (n->mismatches <= 5)
			fprintf(stderr, "cluster-rw: %s holds %s, not %s\n", key,
				r->type == REDIS_REPLY_STRING ? r->str : "nothing", val);
	}
	n->read++;
	int slot = cluster_key_slot(key, strlen(key));
	if (same && !n->seen[slot]) {
		n->seen[slot] = 1;
		n->slots++;
	}
	return same;
}

/* 1 when the key holds val */
static int check_key(const char *key, const char *val, struct counts *n)
{
	const char *argv[] = { "GET", key };
	redisReply *r = run(RC_IDEMPOTENT, 2, argv);
	int same = note_read(key, val, r, n);
	freeReplyObject(r);
	return same;
}

/* Every primary has a replica with what was written on its connection. */
static void wait_replicas(void)
{
	const char *argv[] = { "WAIT", "1", "5000" };
	for (int i = 0; i < rcluster_primaries(rc); i++) {
		redisReply *r = rcluster_command_primary(rc, i, 3, argv, NULL);
		if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 1)
			fprintf(stderr, "cluster-rw: WAIT on %s:%d: %s\n", rcluster_primary(rc, i)->host,
				rcluster_primary(rc, i)->port, r ? "no replica acknowledged" : rcluster_error(rc));
		freeReplyObject(r);
	}
}

static void do_write(const struct opts *o, const char *prefix, unsigned long count, struct counts *n)
{
	char key[128], val[160];
	unsigned long j = 0;
	for (unsigned long i = 0; i < count; i++) {
		key_at(o, prefix, &j, key, sizeof key);
		value_of(key, val, sizeof val);
		set_key(key, val, n);
	}
	wait_replicas();
}

static void do_read(const struct opts *o, const char *prefix, unsigned long count, struct counts *n)
{
	char key[128], val[160];
	unsigned long j = 0;
	for (unsigned long i = 0; i < count; i++) {
		key_at(o, prefix, &j, key, sizeof key);
		value_of(key, val, sizeof val);
		check_key(key, val, n);
	}
}

static void do_loop(const struct opts *o, const char *prefix, const char *until, int seconds,
		    struct counts *n)
{
	char key[128], val[160];
	unsigned long j = 0;
	time_t end = time(NULL) + seconds;
	struct stat st;
	while (time(NULL) < end && stat(until, &st) < 0) {
		key_at(o, prefix, &j, key, sizeof key);
		value_of(key, val, sizeof val);
		set_key(key, val, n);
		check_key(key, val, n);
	}
}

static void print_value(const char *key)
{
	const char *argv[] = { "GET", key };
	redisReply *r = run(RC_IDEMPOTENT, 2, argv);
	printf("value=%s\n", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	freeReplyObject(r);
}

void wait_file(const char *path, int seconds)
{
	struct stat st;
	for (int i = 0; i < seconds * 10 && stat(path, &st) < 0; i++)
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: cluster-rw --seeds H:P[,H:P...] [--password PW] [--retry-ms N] "
			"[--slots LO-HI] [--every-slot] [--strict] [--async] [--start-file F] write|read PREFIX N | loop PREFIX FILE SECONDS | "
			"set KEY VALUE | get KEY | get-twice KEY FILE\n");
	exit(2);
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--strict")) {
			o->strict = 1;
			continue;
		}
		if (!strcmp(argv[i], "--every-slot")) {
			o->every_slot = 1;
			continue;
		}
		if (!strcmp(argv[i], "--async")) {
			o->async = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(argv[i - 1], "--seeds")) {
			if (parse_seeds(o, argv[i]) < 0)
				usage();
		} else if (!strcmp(argv[i - 1], "--password")) {
			o->password = v;
		} else if (!strcmp(argv[i - 1], "--start-file")) {
			o->start_file = v;
		} else if (!strcmp(argv[i - 1], "--retry-ms")) {
			o->retry_ms = atoi(v);
		} else if (!strcmp(argv[i - 1], "--slots")) {
			if (sscanf(v, "%d-%d", &o->slot_lo, &o->slot_hi) != 2 || o->slot_lo < 0 ||
			    o->slot_hi >= CLUSTER_SLOTS || o->slot_lo > o->slot_hi)
				usage();
		} else {
			usage();
		}
	}
	if (!o->nseeds || i >= argc)
		usage();
	return i;
}

/* The command through the synchronous client: 0, or -1 for a bad command. */
static int sync_main(const struct opts *o, const char *cmd, char **args, int nargs, struct counts *n,
		     struct rcluster_stats *st)
{
	struct rcluster_opts ro = { .password = o->password, .retry_ms = o->retry_ms };
	rc = rcluster_new(o->seeds, o->nseeds, &ro);
	char err[512];
	if (rcluster_connect(rc, err, sizeof err) < 0) {
		fprintf(stderr, "cluster-rw: %s\n", err);
		exit(2);
	}
	if (o->start_file) {
		printf("ready\n");
		fflush(stdout);
		wait_file(o->start_file, 60);
	}
	int rcode = 0;
	if ((!strcmp(cmd, "write") || !strcmp(cmd, "read")) && nargs == 2) {
		if (cmd[0] == 'w')
			do_write(o, args[0], strtoul(args[1], NULL, 10), n);
		else
			do_read(o, args[0], strtoul(args[1], NULL, 10), n);
	} else if (!strcmp(cmd, "loop") && nargs == 3) {
		do_loop(o, args[0], args[1], atoi(args[2]), n);
	} else if (!strcmp(cmd, "set") && nargs == 2) {
		set_key(args[0], args[1], n);
	} else if (!strcmp(cmd, "get") && nargs == 1) {
		print_value(args[0]);
	} else if (!strcmp(cmd, "get-twice") && nargs == 2) {
		print_value(args[0]);
		fflush(stdout);
		wait_file(args[1], 60);
		print_value(args[0]);
	} else {
		rcode = -1;
	}
	*st = *rcluster_stats(rc);
	rcluster_free(rc);
	return rcode;
}

int main(int argc, char **argv)
{
	struct opts o = { .slot_lo = 0, .slot_hi = CLUSTER_SLOTS - 1 };
	int i = parse_opts(&o, argc, argv);
	const char *cmd = argv[i];
	static struct counts n;
	struct rcluster_stats s;
	if ((o.async ? async_main : sync_main)(&o, cmd, argv + i + 1, argc - i - 1, &n, &s) < 0)
		usage();
	printf("written=%lu read=%lu slots=%lu mismatches=%lu moved=%lu ask=%lu tryagain=%lu clusterdown=%lu "
	       "conn_errors=%lu reloads=%lu retries=%lu\n",
	       n.written, n.read, n.slots, n.mismatches, s.moved, s.ask, s.tryagain, s.clusterdown,
	       s.conn_errors, s.map_reloads, s.retries);
	int bad = n.mismatches && (o.strict || strcmp(cmd, "loop"));
	return bad ? 1 : 0;
}

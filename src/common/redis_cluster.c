#include "redis_cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster_conf.h"
#include "xalloc.h"

struct node_conn {
	struct redis_addr addr;
	redisContext *ctx;            /* NULL until needed, or after an error */
};

struct rcluster {
	struct cluster_conf conf;
	struct cluster_map map;
	struct node_conn *conns;
	int nconns;
	struct rcluster_stats stats;
	int moved_since_reload;
	int fatal;                    /* the last error will not pass by retrying */
	char err[512];
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void set_err(struct rcluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct rcluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

struct rcluster *rcluster_new(const struct redis_addr *seeds, int nseeds, const struct rcluster_opts *o)
{
	struct rcluster *c = xcalloc(1, sizeof *c);
	cluster_conf_init(&c->conf, seeds, nseeds, o);
	cluster_map_init(&c->map);
	return c;
}

void rcluster_free(struct rcluster *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nconns; i++)
		if (c->conns[i].ctx)
			redisFree(c->conns[i].ctx);
	free(c->conns);
	cluster_map_free(&c->map);
	cluster_conf_free(&c->conf);
	free(c);
}

static struct node_conn *conn_slot(struct rcluster *c, const struct redis_addr *a)
{
	for (int i = 0; i < c->nconns; i++)
		if (c->conns[i].addr.port == a->port && !strcmp(c->conns[i].addr.host, a->host))
			return &c->conns[i];
	c->conns = xreallocarray(c->conns, (size_t)c->nconns + 1, sizeof *c->conns);
	struct node_conn *n = &c->conns[c->nconns++];
	n->addr = *a;
	n->ctx = NULL;
	return n;
}

static void conn_drop(struct node_conn *n)
{
	if (n->ctx)
		redisFree(n->ctx);
	n->ctx = NULL;
}

static int auth(struct rcluster *c, struct node_conn *n)
{
	if (!c->conf.password[0])
		return 0;
	redisReply *r = c->conf.user[0]
		? redisCommand(n->ctx, "AUTH %s %s", c->conf.user, c->conf.password)
		: redisCommand(n->ctx, "AUTH %s", c->conf.password);
	if (r && r->type != REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return 0;
	}
	set_err(c, "AUTH on %s:%d: %s", n->addr.host, n->addr.port, r ? r->str : n->ctx->errstr);
	/* a refused password stays refused; a lost reply may pass */
	c->fatal = r != NULL;
	if (!r)
		c->stats.conn_errors++;
	if (r)
		freeReplyObject(r);
	conn_drop(n);
	return -1;
}

/* The node's connection, made and authenticated when missing. NULL with
 * c->err set when it cannot be had. */
static redisContext *conn_get(struct rcluster *c, const struct redis_addr *a)
{
	struct node_conn *n = conn_slot(c, a);
	if (n->ctx && !n->ctx->err)
		return n->ctx;
	conn_drop(n);
	struct timeval tv = { c->conf.timeout_ms / 1000, (c->conf.timeout_ms % 1000) * 1000 };
	n->ctx = redisConnectWithTimeout(a->host, a->port, tv);
	if (!n->ctx || n->ctx->err) {
		set_err(c, "connect to %s:%d: %s", a->host, a->port, n->ctx ? n->ctx->errstr : "out of memory");
		conn_drop(n);
		c->stats.conn_errors++;
		return NULL;
	}
	redisSetTimeout(n->ctx, tv);
	if (auth(c, n) < 0)
		return NULL;
	return n->ctx;
}

/* CLUSTER SLOTS from one node into the map: 0, -1 when the node could not
 * be asked (try another), -2 when it answered and is no cluster node. */
static int map_from_node(struct rcluster *c, const struct redis_addr *a)
{
	redisContext *ctx = conn_get(c, a);
	if (!ctx)
		return c->fatal ? -2 : -1;
	redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
	if (!r) {
		set_err(c, "CLUSTER SLOTS on %s:%d: %s", a->host, a->port, ctx->errstr);
		conn_drop(conn_slot(c, a));
		c->stats.conn_errors++;
		return -1;
	}
	char why[256];
	int rc = cluster_map_from_slots(&c->map, r, a->host, why, sizeof why);
	int not_cluster = rc < 0 && r->type == REDIS_REPLY_ERROR;
	freeReplyObject(r);
	if (rc < 0 && strstr(why, "cluster support disabled")) {
		set_err(c, "%s:%d is not a Redis Cluster node (%s)", a->host, a->port, why);
		c->fatal = 1;
		return -2;
	}
	if (rc < 0) {
		set_err(c, "%s:%d refused the slot map: %s", a->host, a->port, why);
		c->fatal = not_cluster;
		return not_cluster ? -2 : -1;
	}
	if (c->map.nnodes == 0) {
		set_err(c, "%s:%d: CLUSTER SLOTS lists no slot (a cluster not yet created?)", a->host, a->port);
		return -1;
	}
	c->stats.map_reloads++;
	c->moved_since_reload = 0;
	return 0;
}

/* Re-reads the map from the primaries it knows, then the seeds. */
static int map_reload(struct rcluster *c)
{
	int n;
	struct redis_addr *known = cluster_map_sources(&c->map, &c->conf, &n);
	int rc = -1;
	for (int i = 0; i < n && rc == -1; i++)
		rc = map_from_node(c, &known[i]);
	free(known);
	return rc;
}

int rcluster_connect(struct rcluster *c, char *err, size_t errlen)
{
	c->fatal = 0;
	int rc = -1;
	for (int i = 0; i < c->conf.nseeds && rc == -1; i++)
		rc = map_from_node(c, &c->conf.seeds[i]);
	if (rc == 0)
		return 0;
	if (c->conf.nseeds == 0)
		set_err(c, "no cluster seed node given");
	else if (rc == -1 && c->conf.nseeds > 1)
		cluster_seeds_failed(c->err, sizeof c->err, c->conf.nseeds);
	snprintf(err, errlen, "%s", c->err);
	return -1;
}

static int eq_word(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static size_t arg_len(const char *const *argv, const size_t *argvlen, int i)
{
	return argvlen ? argvlen[i] : strlen(argv[i]);
}

int rcluster_key_index(int argc, const char *const *argv, const size_t *argvlen)
{
	if (argc < 2)
		return -1;
	const char *cmd = argv[0];
	size_t len = arg_len(argv, argvlen, 0);
	if (eq_word(cmd, len, "EVAL") || eq_word(cmd, len, "EVALSHA") || eq_word(cmd, len, "EVAL_RO") ||
	    eq_word(cmd, len, "EVALSHA_RO") || eq_word(cmd, len, "FCALL") || eq_word(cmd, len, "FCALL_RO")) {
		if (argc < 4)
			return -1;
		char nk[24];
		size_t l = arg_len(argv, argvlen, 2);
		if (l == 0 || l >= sizeof nk)
			return -1;
		memcpy(nk, argv[2], l);
		nk[l] = 0;
		return atol(nk) > 0 ? 3 : -1;
	}
	if (eq_word(cmd, len, "XREAD") || eq_word(cmd, len, "XREADGROUP")) {
		for (int i = 1; i + 1 < argc; i++)
			if (eq_word(argv[i], arg_len(argv, argvlen, i), "STREAMS"))
				return i + 1;
		return -1;
	}
	/* a subcommand first, then the key */
	if ((eq_word(cmd, len, "XGROUP") || eq_word(cmd, len, "XINFO")) && argc >= 3)
		return 2;
	static const char *const keyless[] = { "PING", "INFO", "SCRIPT", "CLUSTER", "ECHO", "TIME",
					       "WAIT", "AUTH", "HELLO", "CLIENT", "CONFIG", "FUNCTION",
					       "SCAN", "DBSIZE" };
	for (size_t i = 0; i < sizeof keyless / sizeof *keyless; i++)
		if (eq_word(cmd, len, keyless[i]))
			return -1;
	return 1;
}

/* One send on addr (ASKING first when asking). NULL: the reply was lost
 * (or never sent); *sent says whether the command may have run. */
static redisReply *send_once(struct rcluster *c, const struct redis_addr *addr, int asking, int argc,
			     const char *const *argv, const size_t *argvlen, int *sent)
{
	*sent = 0;
	redisContext *ctx = conn_get(c, addr);
	if (!ctx)
		return NULL;
	/* from here on the bytes may reach the node, whatever comes back */
	*sent = 1;
	if (asking)
		redisAppendCommand(ctx, "ASKING");
	redisAppendCommandArgv(ctx, argc, (const char **)argv, argvlen);
	void *r = NULL;
	if (asking) {
		if (redisGetReply(ctx, &r) != REDIS_OK)
			goto lost;
		freeReplyObject(r);
		r = NULL;
	}
	if (redisGetReply(ctx, &r) != REDIS_OK)
		goto lost;
	return r;
lost:
	set_err(c, "%s:%d: %s", addr->host, addr->port, ctx->errstr[0] ? ctx->errstr : "connection lost");
	conn_drop(conn_slot(c, addr));
	c->stats.conn_errors++;
	return NULL;
}

/* After a MOVED: the slot's new owner (a ":port" endpoint is the host that
 * answered). */
static void note_moved(struct rcluster *c, struct cluster_redirect *rd, const struct redis_addr *from)
{
	if (!rd->to.host[0])
		snprintf(rd->to.host, sizeof rd->to.host, "%s", from->host);
	c->map.owner[rd->slot] = (int16_t)cluster_map_node(&c->map, rd->to.host, rd->to.port);
}

redisReply *rcluster_command(struct rcluster *c, int flags, const char *key, size_t keylen, int argc,
			     const char *const *argv, const size_t *argvlen)
{
	int ki = key ? -1 : rcluster_key_index(argc, argv, argvlen);
	if (!key && ki >= 0) {
		key = argv[ki];
		keylen = arg_len(argv, argvlen, ki);
	}
	int slot = key ? cluster_key_slot(key, keylen) : -1;
	long long deadline = mono_ms() + c->conf.retry_ms;
	int backoff = CLUSTER_BACKOFF_FIRST_MS, redirects = 0, moved = 0;
	struct redis_addr ask_to, from;
	int asking = 0;
	redisReply *last = NULL;       /* the last retryable error reply */
	c->fatal = 0;
	for (;;) {
		const struct redis_addr *to = asking ? &ask_to : cluster_map_route(&c->map, slot);
		redisReply *r = NULL;
		int sent = 0;
		if (!to) {
			set_err(c, "slot %d has no primary in the map", slot);
		} else {
			from = *to;
			r = send_once(c, &from, asking, argc, argv, argvlen, &sent);
			asking = 0;
			/* a refused password, or a command that may have run */
			if (!r && (c->fatal || (sent && !(flags & RC_IDEMPOTENT)))) {
				freeReplyObject(last);
				return NULL;
			}
		}
		struct cluster_redirect rd;
		enum cluster_error kind = r && r->type == REDIS_REPLY_ERROR
			? cluster_error_parse(r->str, r->len, &rd) : CLUSTER_ERR_NONE;
		if (r && kind == CLUSTER_ERR_NONE) {
			freeReplyObject(last);
			return r;
		}
		if ((kind == CLUSTER_ERR_MOVED || kind == CLUSTER_ERR_ASK) &&
		    ++redirects > CLUSTER_MAX_REDIRECTS) {
			freeReplyObject(last);
			return r;
		}
		if (kind == CLUSTER_ERR_MOVED) {
			c->stats.moved++;
			note_moved(c, &rd, &from);
			/* one slot moved is a reshard under way; the same command
			 * moved twice, or many slots moved since the map was read,
			 * is a failover or a finished reshard: read it all */
			if (++moved > 1 || ++c->moved_since_reload >= CLUSTER_MOVED_BEFORE_RELOAD)
				map_reload(c);
			freeReplyObject(r);
			continue;
		}
		if (kind == CLUSTER_ERR_ASK) {
			c->stats.ask++;
			ask_to = rd.to;
			if (!ask_to.host[0])
				snprintf(ask_to.host, sizeof ask_to.host, "%s", from.host);
			asking = 1;
			freeReplyObject(r);
			continue;
		}
		/* TRYAGAIN, CLUSTERDOWN, no route or no reply: wait, then again */
		if (kind == CLUSTER_ERR_TRYAGAIN)
			c->stats.tryagain++;
		else if (kind == CLUSTER_ERR_DOWN)
			c->stats.clusterdown++;
		if (r) {
			freeReplyObject(last);
			last = r;
		}
		if (mono_ms() + backoff > deadline)
			break;
		sleep_ms(backoff);
		backoff = cluster_backoff_next(backoff);
		c->stats.retries++;
		if (!r)
			map_reload(c);   /* a node gone: perhaps failed over */
		c->fatal = 0;
	}
	if (last)
		return last;   /* the cluster's own words after the time allowed */
	return NULL;
}

redisReply *rcluster_command_primary(struct rcluster *c, int i, int argc, const char *const *argv,
				     const size_t *argvlen)
{
	if (i < 0 || i >= c->map.nnodes) {
		set_err(c, "no primary %d", i);
		return NULL;
	}
	struct redis_addr a = c->map.nodes[i];
	int sent;
	return send_once(c, &a, 0, argc, argv, argvlen, &sent);
}

redisContext *rcluster_node(struct rcluster *c, const char *key, size_t keylen)
{
	const struct redis_addr *to = cluster_map_route(&c->map, cluster_key_slot(key, keylen));
	if (!to) {
		set_err(c, "slot %d has no primary in the map", cluster_key_slot(key, keylen));
		return NULL;
	}
	struct redis_addr a = *to;
	return conn_get(c, &a);
}

void rcluster_refresh(struct rcluster *c)
{
	map_reload(c);
}

int rcluster_primaries(const struct rcluster *c)
{
	return c->map.nnodes;
}

const struct redis_addr *rcluster_primary(const struct rcluster *c, int i)
{
	return i >= 0 && i < c->map.nnodes ? &c->map.nodes[i] : NULL;
}

int rcluster_fatal(const struct rcluster *c)
{
	return c->fatal;
}

const char *rcluster_error(const struct rcluster *c)
{
	return c->err;
}

const struct rcluster_stats *rcluster_stats(const struct rcluster *c)
{
	return &c->stats;
}

const struct cluster_map *rcluster_map(const struct rcluster *c)
{
	return &c->map;
}

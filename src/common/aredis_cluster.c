#include "aredis_cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_conf.h"
#include "log.h"
#include "redis_uv.h"
#include "xalloc.h"

struct anode {
	struct arcluster *c;
	struct redis_addr addr;
	redisAsyncContext *ac;        /* NULL until needed, or after it closed */
};

struct areq {
	struct arcluster *c;
	int argc;
	char **argv;
	size_t *argvlen;
	int slot, flags;
	arcluster_cb *cb;
	void *priv;
	uint64_t deadline;
	int backoff, redirects, moved;
	int asking;
	struct redis_addr ask_to;
	redisAsyncContext *sent_on;   /* while in flight */
	uv_timer_t timer;             /* the backoff, or the reply's timeout */
	struct areq *prev, *next;     /* the commands not yet answered */
};

struct arcluster {
	uv_loop_t *loop;
	struct cluster_conf conf;
	struct cluster_map map;
	struct anode **nodes;
	int nnodes;
	struct rcluster_stats stats;
	int moved_since_reload;
	/* the map being read: the candidates, tried one after another */
	int loading;
	struct redis_addr *cand;
	int ncand, icand;
	redisAsyncContext *asked;     /* where CLUSTER SLOTS is in flight */
	int ready, fatal, stopped;
	uv_timer_t round_timer;       /* the next round over the seeds, or the
					 timeout of the CLUSTER SLOTS in flight */
	int round_backoff;
	uint64_t unreachable_logged;  /* loop ms of the last "redis unavailable" */
	void (*on_ready)(struct arcluster *, int);
	void *data;
	struct areq *reqs;
	char err[512];
};

static void set_err(struct arcluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct arcluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

/* ---- connections ---- */

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct anode *n = ac->data;
	if (status != REDIS_OK) {
		set_err(n->c, "connect to %s:%d: %s", n->addr.host, n->addr.port, ac->errstr);
		n->ac = NULL;   /* hiredis frees it and fails its commands next */
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct anode *n = ac->data;
	(void)status;
	if (n->ac == ac)
		n->ac = NULL;
}

/* Closes the node's context now: the commands on it get no reply (hiredis
 * calls them back with NULL, after the current callback if in one). Every
 * live context stays some node's ac until it goes this way or by itself. */
static void node_close(struct anode *n)
{
	redisAsyncContext *ac = n->ac;
	n->ac = NULL;
	if (ac)
		redisAsyncFree(ac);
}

static void auth_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct anode *n = ac->data;
	redisReply *reply = r;
	if (!reply || reply->type != REDIS_REPLY_ERROR || n->ac != ac)
		return;
	set_err(n->c, "AUTH on %s:%d: %s", n->addr.host, n->addr.port, reply->str);
	n->c->fatal = 1;
	node_close(n);
}

static struct anode *node_of(struct arcluster *c, const struct redis_addr *a)
{
	for (int i = 0; i < c->nnodes; i++)
		if (c->nodes[i]->addr.port == a->port && !strcmp(c->nodes[i]->addr.host, a->host))
			return c->nodes[i];
	c->nodes = xreallocarray(c->nodes, (size_t)c->nnodes + 1, sizeof *c->nodes);
	struct anode *n = xcalloc(1, sizeof *n);
	n->c = c;
	n->addr = *a;
	c->nodes[c->nnodes++] = n;
	return n;
}

/* The node's context, connecting (and queueing AUTH first) when there is
 * none; commands sent before the connect completes wait in hiredis. */
static redisAsyncContext *node_ctx(struct arcluster *c, const struct redis_addr *a)
{
	struct anode *n = node_of(c, a);
	if (n->ac)
		return n->ac;
	redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
	if (!ac || ac->err) {
		set_err(c, "connect to %s:%d: %s", a->host, a->port, ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		return NULL;
	}
	ac->data = n;
	if (redis_uv_attach(ac, c->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		set_err(c, "connect to %s:%d: cannot watch the socket", a->host, a->port);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	n->ac = ac;
	if (c->conf.password[0]) {
		if (c->conf.user[0])
			redisAsyncCommand(ac, auth_reply, NULL, "AUTH %s %s", c->conf.user,
					  c->conf.password);
		else
			redisAsyncCommand(ac, auth_reply, NULL, "AUTH %s", c->conf.password);
	}
	return ac;
}

/* ---- the slot map ---- */

static void load_next(struct arcluster *c);

#define UNREACHABLE_LOG_MS 10000

static void round_cb(uv_timer_t *t)
{
	struct arcluster *c = t->data;
	c->fatal = 0;
	load_next(c);
}

/* Every candidate failed. */
static void round_failed(struct arcluster *c)
{
	c->loading = 0;
	if (c->ready)
		return;   /* the commands' own retries read it again */
	if (c->fatal) {
		if (c->on_ready)
			c->on_ready(c, -1);
		return;
	}
	if (c->conf.nseeds > 1 && strncmp(c->err, "none of", 7))
		cluster_seeds_failed(c->err, sizeof c->err, c->conf.nseeds);
	c->round_backoff = c->round_backoff ? cluster_backoff_next(c->round_backoff)
					    : CLUSTER_BACKOFF_FIRST_MS;
	/* the log says why the program is unhealthy, as with a single Redis
	 * down: at once, then every 10 s, not every round of a quarter second */
	uint64_t now = uv_now(c->loop) + 1;
	if (!c->unreachable_logged || now - c->unreachable_logged >= UNREACHABLE_LOG_MS) {
		c->unreachable_logged = now;
		log_warn("redis unavailable", "error=\"%s\" retry_ms=%d", c->err, c->round_backoff);
	}
	c->loading = 1;
	c->icand = 0;
	uv_timer_start(&c->round_timer, round_cb, (uint64_t)c->round_backoff, 0);
}

static void slots_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct arcluster *c = priv;
	struct anode *n = ac->data;
	redisReply *reply = r;
	if (c->stopped)
		return;
	if (c->asked == ac) {
		c->asked = NULL;
		uv_timer_stop(&c->round_timer);
	}
	char why[256];
	if (!reply) {
		if (!c->fatal)   /* else AUTH said why */
			set_err(c, "CLUSTER SLOTS on %s:%d: %s", n->addr.host, n->addr.port,
				ac->errstr[0] ? ac->errstr : "connection lost");
	} else if (cluster_map_from_slots(&c->map, reply, n->addr.host, why, sizeof why) == 0 &&
		   c->map.nnodes > 0) {
		c->loading = 0;
		c->fatal = 0;
		c->stats.map_reloads++;
		c->moved_since_reload = 0;
		c->round_backoff = 0;
		if (!c->ready) {
			c->ready = 1;
			if (c->on_ready)
				c->on_ready(c, 0);
		}
		return;
	} else if (reply->type == REDIS_REPLY_ERROR) {
		if (strstr(why, "cluster support disabled"))
			set_err(c, "%s:%d is not a Redis Cluster node (%s)", n->addr.host, n->addr.port, why);
		else
			set_err(c, "%s:%d refused the slot map: %s", n->addr.host, n->addr.port, why);
		c->fatal = 1;
	} else {
		set_err(c, "%s:%d: %s", n->addr.host, n->addr.port,
			c->map.nnodes ? why : "CLUSTER SLOTS lists no slot");
	}
	c->icand++;
	load_next(c);
}

/* A node that accepts connections but does not answer (frozen, or its
 * host gone without a reset) is closed, which fails the CLUSTER SLOTS on
 * it: the next candidate is asked. */
static void load_timeout(uv_timer_t *t)
{
	struct arcluster *c = t->data;
	if (!c->asked)
		return;
	struct anode *n = c->asked->data;
	set_err(c, "CLUSTER SLOTS on %s:%d: no reply in %d ms", n->addr.host, n->addr.port,
		c->conf.timeout_ms);
	if (n->ac == c->asked)
		node_close(n);
}

static void load_next(struct arcluster *c)
{
	for (; c->icand < c->ncand; c->icand++) {
		redisAsyncContext *ac = node_ctx(c, &c->cand[c->icand]);
		if (ac && redisAsyncCommand(ac, slots_reply, c, "CLUSTER SLOTS") == REDIS_OK) {
			c->asked = ac;
			uv_timer_start(&c->round_timer, load_timeout, (uint64_t)c->conf.timeout_ms, 0);
			return;
		}
	}
	round_failed(c);
}

/* Reads the map again (from the primaries known, then the seeds) unless a
 * read is under way. */
static void map_reload(struct arcluster *c)
{
	if (c->loading || c->stopped)
		return;
	free(c->cand);
	c->cand = cluster_map_sources(&c->map, &c->conf, &c->ncand);
	c->icand = 0;
	c->loading = 1;
	load_next(c);
}

/* ---- commands ---- */

static void req_send(struct areq *q);

static void req_closed(uv_handle_t *h)
{
	struct areq *q = h->data;
	free(q->argv);
	free(q);
}

/* The caller's callback, once; then the request goes. */
static void req_finish(struct areq *q, redisAsyncContext *from, redisReply *r)
{
	struct arcluster *c = q->c;
	uv_timer_stop(&q->timer);
	if (q->prev)
		q->prev->next = q->next;
	else
		c->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->cb(c, from, r, q->priv);
	uv_close((uv_handle_t *)&q->timer, req_closed);
}

static void retry_cb(uv_timer_t *t)
{
	struct areq *q = t->data;
	q->c->stats.retries++;
	req_send(q);
}

/* Again after the backoff, or, when the time allowed is over, the caller's
 * reply r (NULL: none) from its connection. */
static void req_retry(struct areq *q, redisAsyncContext *from, redisReply *r)
{
	if (uv_now(q->c->loop) + (uint64_t)q->backoff > q->deadline) {
		req_finish(q, from, r);
		return;
	}
	uv_timer_start(&q->timer, retry_cb, (uint64_t)q->backoff, 0);
	q->backoff = cluster_backoff_next(q->backoff);
}

/* No reply in timeout_ms: the node counts as lost. Closing its context
 * fails every command on it, this one included, through reply(). */
static void timeout_cb(uv_timer_t *t)
{
	struct areq *q = t->data;
	struct anode *n = q->sent_on ? q->sent_on->data : NULL;
	if (n && n->ac == q->sent_on) {
		set_err(q->c, "%s:%d: no reply in %d ms", n->addr.host, n->addr.port,
			q->c->conf.timeout_ms);
		node_close(n);
	}
}

static void reply(redisAsyncContext *ac, void *rv, void *priv)
{
	struct areq *q = priv;
	struct arcluster *c = q->c;
	struct anode *n = ac->data;
	redisReply *r = rv;
	q->sent_on = NULL;
	uv_timer_stop(&q->timer);
	if (c->stopped) {
		req_finish(q, NULL, NULL);
		return;
	}
	if (!r) {
		c->stats.conn_errors++;
		if (!c->err[0] || strncmp(c->err, n->addr.host, strlen(n->addr.host)))
			set_err(c, "%s:%d: %s", n->addr.host, n->addr.port,
				ac->errstr[0] ? ac->errstr : "connection lost");
		/* sent on a connection that was up: it may have run */
		int maybe_ran = (ac->c.flags & REDIS_CONNECTED) != 0;
		if (c->fatal || (maybe_ran && !(q->flags & RC_IDEMPOTENT))) {
			req_finish(q, NULL, NULL);
			return;
		}
		map_reload(c);   /* a node gone: perhaps failed over */
		req_retry(q, NULL, NULL);
		return;
	}
	struct cluster_redirect rd;
	enum cluster_error kind = r->type == REDIS_REPLY_ERROR
		? cluster_error_parse(r->str, r->len, &rd) : CLUSTER_ERR_NONE;
	if (kind == CLUSTER_ERR_NONE ||
	    ((kind == CLUSTER_ERR_MOVED || kind == CLUSTER_ERR_ASK) &&
	     ++q->redirects > CLUSTER_MAX_REDIRECTS)) {
		req_finish(q, ac, r);
		return;
	}
	if (!rd.to.host[0] && (kind == CLUSTER_ERR_MOVED || kind == CLUSTER_ERR_ASK))
		snprintf(rd.to.host, sizeof rd.to.host, "%s", n->addr.host);
	switch (kind) {
	case CLUSTER_ERR_MOVED:
		c->stats.moved++;
		c->map.owner[rd.slot] = (int16_t)cluster_map_node(&c->map, rd.to.host, rd.to.port);
		if (++q->moved > 1 || ++c->moved_since_reload >= CLUSTER_MOVED_BEFORE_RELOAD)
			map_reload(c);
		req_send(q);
		return;
	case CLUSTER_ERR_ASK:
		c->stats.ask++;
		q->ask_to = rd.to;
		q->asking = 1;
		req_send(q);
		return;
	case CLUSTER_ERR_TRYAGAIN:
		c->stats.tryagain++;
		break;
	default:
		c->stats.clusterdown++;
		break;
	}
	req_retry(q, ac, r);
}

static void req_send(struct areq *q)
{
	struct arcluster *c = q->c;
	const struct redis_addr *to = q->asking ? &q->ask_to : cluster_map_route(&c->map, q->slot);
	redisAsyncContext *ac = NULL;
	if (!to)
		set_err(c, "slot %d has no primary in the map", q->slot);
	else
		ac = node_ctx(c, to);
	if (!ac) {
		if (to)
			c->stats.conn_errors++;
		map_reload(c);
		req_retry(q, NULL, NULL);
		return;
	}
	if (q->asking)
		redisAsyncCommand(ac, NULL, NULL, "ASKING");
	q->asking = 0;
	if (redisAsyncCommandArgv(ac, reply, q, q->argc, (const char **)q->argv, q->argvlen) != REDIS_OK) {
		req_retry(q, NULL, NULL);   /* the context is closing: a fresh one next time */
		return;
	}
	q->sent_on = ac;
	uv_timer_start(&q->timer, timeout_cb, (uint64_t)c->conf.timeout_ms, 0);
}

int arcluster_command(struct arcluster *c, int flags, const char *key, size_t keylen, int argc,
		      const char *const *argv, const size_t *argvlen, arcluster_cb *cb, void *priv)
{
	if (c->stopped || argc < 1)
		return -1;
	struct areq *q = xcalloc(1, sizeof *q);
	/* one block: the pointers, the lengths, then the bytes */
	size_t total = 0;
	for (int i = 0; i < argc; i++)
		total += (argvlen ? argvlen[i] : strlen(argv[i])) + 1;
	char *block = xmalloc((size_t)argc * (sizeof(char *) + sizeof(size_t)) + total);
	q->argv = (char **)block;
	q->argvlen = (size_t *)(block + (size_t)argc * sizeof(char *));
	char *p = block + (size_t)argc * (sizeof(char *) + sizeof(size_t));
	for (int i = 0; i < argc; i++) {
		size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
		memcpy(p, argv[i], l);
		p[l] = 0;
		q->argv[i] = p;
		q->argvlen[i] = l;
		p += l + 1;
	}
	q->argc = argc;
	q->c = c;
	q->flags = flags;
	q->cb = cb;
	q->priv = priv;
	int ki = key ? -1 : rcluster_key_index(argc, argv, argvlen);
	if (!key && ki >= 0) {
		key = q->argv[ki];
		keylen = q->argvlen[ki];
	}
	q->slot = key ? cluster_key_slot(key, keylen) : -1;
	q->deadline = uv_now(c->loop) + (uint64_t)c->conf.retry_ms;
	q->backoff = CLUSTER_BACKOFF_FIRST_MS;
	uv_timer_init(c->loop, &q->timer);
	q->timer.data = q;
	q->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = q;
	c->reqs = q;
	req_send(q);
	return 0;
}

/* ---- life ---- */

struct arcluster *arcluster_start(uv_loop_t *loop, const struct redis_addr *seeds, int nseeds,
				  const struct rcluster_opts *o,
				  void (*on_ready)(struct arcluster *c, int status), void *data)
{
	struct arcluster *c = xcalloc(1, sizeof *c);
	c->loop = loop;
	cluster_conf_init(&c->conf, seeds, nseeds, o);
	c->on_ready = on_ready;
	c->data = data;
	cluster_map_init(&c->map);
	uv_timer_init(loop, &c->round_timer);
	c->round_timer.data = c;
	map_reload(c);
	return c;
}

static void cluster_closed(uv_handle_t *h)
{
	struct arcluster *c = h->data;
	for (int i = 0; i < c->nnodes; i++)
		free(c->nodes[i]);
	free(c->nodes);
	free(c->cand);
	cluster_conf_free(&c->conf);
	cluster_map_free(&c->map);
	free(c);
}

void arcluster_stop(struct arcluster *c)
{
	if (c->stopped)
		return;
	c->stopped = 1;
	set_err(c, "the cluster client stopped");
	uv_timer_stop(&c->round_timer);
	/* closing a context fails the commands on it: reply() finishes them,
	 * at once or (stopped from inside a reply) when that callback returns,
	 * which is before the loop runs cluster_closed */
	for (int i = 0; i < c->nnodes; i++)
		node_close(c->nodes[i]);
	struct areq *next;
	for (struct areq *q = c->reqs; q; q = next) {
		next = q->next;
		if (!q->sent_on)   /* waiting for its backoff */
			req_finish(q, NULL, NULL);
	}
	uv_close((uv_handle_t *)&c->round_timer, cluster_closed);
}

int arcluster_ready(const struct arcluster *c)
{
	return c->ready;
}

const struct cluster_map *arcluster_map(const struct arcluster *c)
{
	return c->ready ? &c->map : NULL;
}

redisAsyncContext *arcluster_node(struct arcluster *c, const char *key, size_t keylen)
{
	const struct redis_addr *to = c->stopped ? NULL
		: cluster_map_route(&c->map, cluster_key_slot(key, keylen));
	if (!to)
		return NULL;
	struct redis_addr a = *to;
	return node_ctx(c, &a);
}

redisAsyncContext *arcluster_primary_ctx(struct arcluster *c, int i)
{
	if (c->stopped || i < 0 || i >= c->map.nnodes)
		return NULL;
	struct redis_addr a = c->map.nodes[i];
	return node_ctx(c, &a);
}

void arcluster_refresh(struct arcluster *c)
{
	map_reload(c);
}

void *arcluster_data(const struct arcluster *c)
{
	return c->data;
}

const char *arcluster_error(const struct arcluster *c)
{
	return c->err;
}

const struct rcluster_stats *arcluster_stats(const struct arcluster *c)
{
	return &c->stats;
}

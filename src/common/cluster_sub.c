#include "cluster_sub.h"

#include <hiredis.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define RESYNC_MS 50         /* after a move: the map is being re-read */
#define RETRY_MS 100         /* no map, no owner, a node gone */
/* channels by name, for the message of each push: a relay subscribes one
 * channel per session it holds, tens of thousands */
#define CHAN_BUCKETS 16384

enum chan_state { CH_WANT, CH_SENT, CH_ON };

struct chan {
	char *name;
	int slot;
	enum chan_state st;
	struct snode *node;           /* where it is sent or subscribed */
	struct chan *next, *prev;     /* every channel */
	struct chan *hnext;           /* in its bucket */
};

/* What each reply on a connection answers, oldest first: AUTH (an empty
 * entry), SSUBSCRIBE of a channel, "!" and the channel for an SSUBSCRIBE
 * whose channel was unsubscribed before the answer came, or "-" and the
 * channel for SUNSUBSCRIBE. Redis' own sunsubscribe pushes answer nothing. */
struct fifo {
	char **v;
	size_t head, n, cap;
};

struct snode {
	struct csub *s;
	struct redis_addr addr;
	uv_tcp_t tcp;
	uv_connect_t creq;
	redisReader *rd;
	int up, closing;
	struct fifo fifo;
	char buf[16384];
	struct snode *next;
};

struct csub {
	uv_loop_t *loop;
	struct arcluster *c;
	char user[128], password[256];
	struct csub_handlers h;
	void *data;
	struct chan *chans;
	struct chan *buckets[CHAN_BUCKETS];
	struct snode *nodes;
	uv_timer_t timer;             /* the next sync */
	int stopped;
	struct csub_stats stats;
};

static void fifo_push(struct fifo *f, const char *what)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		char **v = xcalloc(cap, sizeof *v);
		for (size_t i = 0; i < f->n; i++)
			v[i] = f->v[(f->head + i) % f->cap];
		free(f->v);
		f->v = v;
		f->head = 0;
		f->cap = cap;
	}
	f->v[(f->head + f->n++) % f->cap] = xstrdup(what);
}

/* The oldest entry (the caller frees it), NULL when empty. */
static char *fifo_pop(struct fifo *f)
{
	if (!f->n)
		return NULL;
	char *w = f->v[f->head];
	f->head = (f->head + 1) % f->cap;
	f->n--;
	return w;
}

static const char *fifo_peek(const struct fifo *f)
{
	return f->n ? f->v[f->head] : NULL;
}

/* The SSUBSCRIBE of channel name still unanswered is void: its answer
 * must not confirm a later subscription of the same name, which the
 * SUNSUBSCRIBE sent meanwhile undoes. */
static void fifo_void(struct fifo *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++) {
		char **w = &f->v[(f->head + i) % f->cap];
		if (!strcmp(*w, name)) {
			char *mark = xmalloc(strlen(name) + 2);
			sprintf(mark, "!%s", name);
			free(*w);
			*w = mark;
			return;
		}
	}
}

static void fifo_free(struct fifo *f)
{
	char *w;
	while ((w = fifo_pop(f)))
		free(w);
	free(f->v);
}

static struct chan **chan_bucket(struct csub *s, const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return &s->buckets[h % CHAN_BUCKETS];
}

static struct chan *chan_find(struct csub *s, const char *name, size_t len)
{
	for (struct chan *ch = *chan_bucket(s, name, len); ch; ch = ch->hnext)
		if (strlen(ch->name) == len && !memcmp(ch->name, name, len))
			return ch;
	return NULL;
}

static void chan_add(struct csub *s, struct chan *ch)
{
	struct chan **b = chan_bucket(s, ch->name, strlen(ch->name));
	ch->hnext = *b;
	*b = ch;
	ch->prev = NULL;
	ch->next = s->chans;
	if (s->chans)
		s->chans->prev = ch;
	s->chans = ch;
}

static void chan_remove(struct csub *s, struct chan *ch)
{
	struct chan **b = chan_bucket(s, ch->name, strlen(ch->name));
	while (*b != ch)
		b = &(*b)->hnext;
	*b = ch->hnext;
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		s->chans = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
}

static void schedule(struct csub *s, int ms);

/* ---- writing ---- */

static void written(uv_write_t *w, int status)
{
	(void)status;   /* a failed write shows as a read error too */
	free(w->data);
	free(w);
}

static void send_cmd(struct snode *n, int argc, const char **argv)
{
	char *cmd;
	int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
	if (len < 0)
		return;
	uv_write_t *w = xmalloc(sizeof *w);
	w->data = cmd;
	uv_buf_t b = uv_buf_init(cmd, (unsigned)len);
	if (uv_write(w, (uv_stream_t *)&n->tcp, &b, 1, written) < 0) {
		redisFreeCommand(cmd);
		free(w);
	}
}

/* ---- nodes ---- */

static void node_freed(uv_handle_t *h)
{
	struct snode *n = h->data;
	if (n->rd)
		redisReaderFree(n->rd);
	fifo_free(&n->fifo);
	free(n);
}

/* The connection is gone: its channels want a primary again, those that
 * were receiving are reported lost. */
static void node_close(struct snode *n)
{
	struct csub *s = n->s;
	if (n->closing)
		return;
	n->closing = 1;
	if (n->up && !s->stopped)
		s->stats.disconnects++;
	for (struct snode **p = &s->nodes; *p; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			break;
		}
	for (struct chan *ch = s->chans; ch; ch = ch->next) {
		if (ch->node != n)
			continue;
		int was_on = ch->st == CH_ON;
		ch->st = CH_WANT;
		ch->node = NULL;
		if (was_on && !s->stopped) {
			s->stats.lost_disconnected++;
			if (s->h.on_lost)
				s->h.on_lost(s, ch->name, "disconnected", s->data);
		}
	}
	uv_close((uv_handle_t *)&n->tcp, node_freed);
	if (!s->stopped) {
		arcluster_refresh(s->c);
		schedule(s, RETRY_MS);
	}
}

static void on_sunsubscribe(struct snode *n, const char *name, size_t len)
{
	struct csub *s = n->s;
	const char *head = fifo_peek(&n->fifo);
	if (head && head[0] == '-' && strlen(head + 1) == len && !memcmp(head + 1, name, len)) {
		free(fifo_pop(&n->fifo));   /* the answer to our own SUNSUBSCRIBE */
		return;
	}
	/* pushed by Redis: the channel's slot moved away from this node */
	struct chan *ch = chan_find(s, name, len);
	if (!ch || ch->node != n)
		return;
	ch->st = CH_WANT;
	ch->node = NULL;
	s->stats.lost_moved++;
	if (s->h.on_lost)
		s->h.on_lost(s, ch->name, "moved", s->data);
	arcluster_refresh(s->c);
	schedule(s, RESYNC_MS);
}

static void on_ssubscribe(struct snode *n, const char *name, size_t len)
{
	struct csub *s = n->s;
	char *what = fifo_pop(&n->fifo);
	int stale = what && what[0] == '!';
	free(what);
	if (stale)
		return;   /* answers an SSUBSCRIBE of a channel unsubscribed since */
	struct chan *ch = chan_find(s, name, len);
	if (!ch || ch->node != n || ch->st != CH_SENT)
		return;
	ch->st = CH_ON;
	s->stats.subscribes++;
	if (s->h.on_subscribed)
		s->h.on_subscribed(s, ch->name, s->data);
}

/* An error answers the oldest command: AUTH refused, or a channel this
 * node does not serve (MOVED, ASK during a migration, CLUSTERDOWN). */
static int on_error(struct snode *n, const redisReply *r)
{
	struct csub *s = n->s;
	char *what = fifo_pop(&n->fifo);
	if (!what)
		return 0;
	if (!what[0]) {
		free(what);
		return -1;   /* AUTH: nothing passes on this connection */
	}
	struct chan *ch = what[0] == '-' ? NULL : chan_find(s, what, strlen(what));
	free(what);
	if (ch && ch->node == n && ch->st == CH_SENT) {
		ch->st = CH_WANT;
		ch->node = NULL;
		s->stats.moved_replies += !strncmp(r->str, "MOVED", 5);
		arcluster_refresh(s->c);
		schedule(s, RESYNC_MS);
	}
	return 0;
}

static int is_word(const redisReply *e, const char *w)
{
	return e->type == REDIS_REPLY_STRING && strlen(w) == e->len && !memcmp(e->str, w, e->len);
}

/* 0, or -1 when the connection must go */
static int on_reply(struct snode *n, const redisReply *r)
{
	struct csub *s = n->s;
	if (r->type == REDIS_REPLY_ERROR)
		return on_error(n, r);
	if (r->type == REDIS_REPLY_STATUS) {
		free(fifo_pop(&n->fifo));   /* AUTH's +OK */
		return 0;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[1]->type != REDIS_REPLY_STRING)
		return 0;
	const redisReply *kind = r->element[0], *chan = r->element[1], *body = r->element[2];
	if (is_word(kind, "smessage") && body->type == REDIS_REPLY_STRING) {
		struct chan *ch = chan_find(s, chan->str, chan->len);
		if (ch && ch->st == CH_ON && s->h.on_message) {
			s->stats.messages++;
			s->h.on_message(s, ch->name, body->str, body->len, s->data);
		}
	} else if (is_word(kind, "ssubscribe")) {
		on_ssubscribe(n, chan->str, chan->len);
	} else if (is_word(kind, "sunsubscribe")) {
		on_sunsubscribe(n, chan->str, chan->len);
	}
	return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct snode *n = h->data;
	(void)suggested;
	*b = uv_buf_init(n->buf, sizeof n->buf);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct snode *n = st->data;
	if (n->closing)
		return;
	if (nread < 0) {
		node_close(n);
		return;
	}
	if (redisReaderFeed(n->rd, b->base, (size_t)nread) != REDIS_OK) {
		node_close(n);
		return;
	}
	for (;;) {
		void *r = NULL;
		if (redisReaderGetReply(n->rd, &r) != REDIS_OK) {
			node_close(n);
			return;
		}
		if (!r)
			return;
		int rc = on_reply(n, r);
		freeReplyObject(r);
		if (rc < 0 || n->closing) {
			node_close(n);
			return;
		}
	}
}

static void connected(uv_connect_t *req, int status)
{
	struct snode *n = req->data;
	if (n->closing)
		return;   /* closed while connecting */
	if (status < 0 || n->s->stopped) {
		node_close(n);
		return;
	}
	n->up = 1;
	uv_read_start((uv_stream_t *)&n->tcp, alloc_cb, read_cb);
	struct csub *s = n->s;
	if (s->password[0]) {
		const char *argv[] = { "AUTH", s->user, s->password };
		fifo_push(&n->fifo, "");
		if (s->user[0])
			send_cmd(n, 3, argv);
		else
			send_cmd(n, 2, (const char *[]){ "AUTH", s->password });
	}
	schedule(s, 0);
}

/* The address of a node: numeric, or resolved (blocking, rare: CLUSTER
 * SLOTS names nodes by address unless told otherwise). */
static int node_sockaddr(const struct redis_addr *a, struct sockaddr_storage *ss)
{
	if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0 ||
	    uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	char port[8];
	snprintf(port, sizeof port, "%d", a->port);
	if (getaddrinfo(a->host, port, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static struct snode *node_get(struct csub *s, const struct redis_addr *a)
{
	for (struct snode *n = s->nodes; n; n = n->next)
		if (n->addr.port == a->port && !strcmp(n->addr.host, a->host))
			return n;
	struct sockaddr_storage ss;
	if (node_sockaddr(a, &ss) < 0)
		return NULL;
	struct snode *n = xcalloc(1, sizeof *n);
	n->s = s;
	n->addr = *a;
	n->rd = redisReaderCreate();
	uv_tcp_init(s->loop, &n->tcp);
	n->tcp.data = n;
	n->creq.data = n;
	n->next = s->nodes;
	s->nodes = n;
	if (uv_tcp_connect(&n->creq, &n->tcp, (const struct sockaddr *)&ss, connected) < 0) {
		node_close(n);
		return NULL;
	}
	return n;
}

/* ---- subscribing ---- */

/* Each channel that wants a primary is sent to its slot's, as the map says. */
static void sync_cb(uv_timer_t *t)
{
	struct csub *s = t->data;
	const struct cluster_map *m = arcluster_map(s->c);
	int later = 0;
	for (struct chan *ch = s->chans; ch; ch = ch->next) {
		if (ch->st != CH_WANT)
			continue;
		if (!m || m->owner[ch->slot] < 0) {
			later = 1;
			continue;
		}
		struct snode *n = node_get(s, &m->nodes[m->owner[ch->slot]]);
		if (!n || !n->up) {
			later = 1;   /* connecting: once up it syncs again */
			continue;
		}
		fifo_push(&n->fifo, ch->name);
		send_cmd(n, 2, (const char *[]){ "SSUBSCRIBE", ch->name });
		ch->st = CH_SENT;
		ch->node = n;
	}
	if (later)
		schedule(s, RETRY_MS);
}

static void schedule(struct csub *s, int ms)
{
	if (s->stopped)
		return;
	/* the sooner wins */
	if (uv_is_active((uv_handle_t *)&s->timer) &&
	    uv_timer_get_due_in(&s->timer) <= (uint64_t)ms)
		return;
	uv_timer_start(&s->timer, sync_cb, (uint64_t)ms, 0);
}

int csub_subscribe(struct csub *s, const char *channel)
{
	if (s->stopped)
		return -1;
	size_t len = strlen(channel);
	if (chan_find(s, channel, len))
		return 0;
	struct chan *ch = xcalloc(1, sizeof *ch);
	ch->name = xstrdup(channel);
	ch->slot = cluster_key_slot(channel, len);
	ch->st = CH_WANT;
	chan_add(s, ch);
	schedule(s, 0);
	return 0;
}

void csub_unsubscribe(struct csub *s, const char *channel)
{
	struct chan *ch = chan_find(s, channel, strlen(channel));
	if (!ch)
		return;
	if (ch->node && ch->node->up) {
		if (ch->st == CH_SENT)
			fifo_void(&ch->node->fifo, ch->name);
		char *mark = xmalloc(strlen(ch->name) + 2);
		sprintf(mark, "-%s", ch->name);
		fifo_push(&ch->node->fifo, mark);
		free(mark);
		send_cmd(ch->node, 2, (const char *[]){ "SUNSUBSCRIBE", ch->name });
	}
	chan_remove(s, ch);
	free(ch->name);
	free(ch);
}

/* ---- life ---- */

struct csub *csub_start(uv_loop_t *loop, struct arcluster *c, const char *user, const char *password,
			const struct csub_handlers *h, void *data)
{
	struct csub *s = xcalloc(1, sizeof *s);
	s->loop = loop;
	s->c = c;
	snprintf(s->user, sizeof s->user, "%s", user ? user : "");
	snprintf(s->password, sizeof s->password, "%s", password ? password : "");
	s->h = *h;
	s->data = data;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	return s;
}

static void csub_freed(uv_handle_t *h)
{
	struct csub *s = h->data;
	while (s->chans) {
		struct chan *ch = s->chans;
		s->chans = ch->next;
		free(ch->name);
		free(ch);
	}
	free(s);
}

void csub_stop(struct csub *s)
{
	if (s->stopped)
		return;
	s->stopped = 1;
	while (s->nodes)
		node_close(s->nodes);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, csub_freed);
}

const struct csub_stats *csub_stats(const struct csub *s)
{
	return &s->stats;
}

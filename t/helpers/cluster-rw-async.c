/* cluster-rw's commands through the asynchronous cluster client
 * (aredis_cluster.c) on a libuv loop: write and read keep WINDOW commands
 * in flight, loop runs CHAINS of SET-then-GET side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aredis_cluster.h"
#include "cluster-rw.h"

#define WINDOW 64
#define CHAINS 8

enum kind { K_WRITE, K_READ, K_LOOP, K_SET, K_GET, K_GET_TWICE };

struct drv {
	const struct opts *o;
	struct counts *n;
	struct rcluster_stats *st;
	struct arcluster *c;
	uv_loop_t *loop;
	enum kind kind;
	char **args;
	unsigned long total, issued, done, j;
	int running;                  /* loop: chains not yet ended */
	uint64_t end_ms;
	int polls;
	uv_timer_t timer;             /* the wait for the map, then get-twice's file */
	int finished;
};

struct op {
	struct drv *d;
	char key[128], val[160];
	int reading;                  /* loop: the GET after the SET */
};

static void fail(struct drv *d, const char *what, const redisReply *r)
{
	fprintf(stderr, "cluster-rw: %s: %s\n", what, r ? r->str : arcluster_error(d->c));
	exit(2);
}

static void finish(struct drv *d)
{
	if (d->finished)
		return;
	d->finished = 1;
	*d->st = *arcluster_stats(d->c);
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, NULL);
	arcluster_stop(d->c);
}

static void op_send(struct op *p, int argc, const char **argv);

static void next_key(struct op *p)
{
	key_at(p->d->o, p->d->args[0], &p->d->j, p->key, sizeof p->key);
	value_of(p->key, p->val, sizeof p->val);
}

/* write and read: the next key, or the end when every key is done */
static void issue(struct drv *d)
{
	while (d->issued < d->total && d->issued - d->done < WINDOW) {
		struct op *p = calloc(1, sizeof *p);
		p->d = d;
		next_key(p);
		d->issued++;
		if (d->kind == K_WRITE)
			op_send(p, 3, (const char *[]){ "SET", p->key, p->val });
		else
			op_send(p, 2, (const char *[]){ "GET", p->key });
	}
	if (d->done == d->total)
		finish(d);
}

static int loop_over(struct drv *d)
{
	struct stat st;
	return uv_now(d->loop) >= d->end_ms || stat(d->args[1], &st) == 0;
}

static void chain_step(struct op *p)
{
	struct drv *d = p->d;
	if (loop_over(d)) {
		free(p);
		if (--d->running == 0)
			finish(d);
		return;
	}
	next_key(p);
	p->reading = 0;
	op_send(p, 3, (const char *[]){ "SET", p->key, p->val });
}

static void print_value(const redisReply *r)
{
	printf("value=%s\n", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
	fflush(stdout);
}

static void poll_file(uv_timer_t *t)
{
	struct drv *d = t->data;
	struct stat st;
	if (stat(d->args[1], &st) < 0 && ++d->polls < 600)
		return;
	uv_timer_stop(t);
	struct op *p = calloc(1, sizeof *p);
	p->d = d;
	d->kind = K_GET;
	op_send(p, 2, (const char *[]){ "GET", d->args[0] });
}

static void on_reply(struct arcluster *c, redisAsyncContext *from, redisReply *r, void *priv)
{
	struct op *p = priv;
	struct drv *d = p->d;
	if (!r || r->type == REDIS_REPLY_ERROR)
		fail(d, p->key[0] ? p->key : d->args[0], r);
	switch (d->kind) {
	case K_WRITE:
	case K_READ:
		if (d->kind == K_WRITE)
			d->n->written++;
		else
			note_read(p->key, p->val, r, d->n);
		free(p);
		d->done++;
		issue(d);
		return;
	case K_LOOP:
		if (!p->reading) {
			d->n->written++;
			p->reading = 1;
			op_send(p, 2, (const char *[]){ "GET", p->key });
			return;
		}
		note_read(p->key, p->val, r, d->n);
		chain_step(p);
		return;
	case K_SET:
		d->n->written++;
		break;
	case K_GET:
		print_value(r);
		break;
	case K_GET_TWICE:
		print_value(r);
		free(p);
		uv_timer_start(&d->timer, poll_file, 100, 100);
		return;
	}
	free(p);
	finish(d);
}

static void op_send(struct op *p, int argc, const char **argv)
{
	if (arcluster_command(p->d->c, RC_IDEMPOTENT, NULL, 0, argc, argv, NULL, on_reply, p) < 0)
		fail(p->d, argv[0], NULL);
}

static void start(struct drv *d)
{
	struct op *p;
	switch (d->kind) {
	case K_WRITE:
	case K_READ:
		issue(d);
		return;
	case K_LOOP:
		d->end_ms = uv_now(d->loop) + (uint64_t)atoi(d->args[2]) * 1000;
		for (d->running = 0; d->running < CHAINS; d->running++) {
			p = calloc(1, sizeof *p);
			p->d = d;
			next_key(p);
			op_send(p, 3, (const char *[]){ "SET", p->key, p->val });
		}
		return;
	case K_SET:
		p = calloc(1, sizeof *p);
		p->d = d;
		op_send(p, 3, (const char *[]){ "SET", d->args[0], d->args[1] });
		return;
	case K_GET:
	case K_GET_TWICE:
		p = calloc(1, sizeof *p);
		p->d = d;
		op_send(p, 2, (const char *[]){ "GET", d->args[0] });
		return;
	}
}

/* --start-file: the command starts once the file exists (at most 60 s) */
static void poll_start(uv_timer_t *t)
{
	struct drv *d = t->data;
	struct stat st;
	if (stat(d->o->start_file, &st) < 0 && ++d->polls < 600)
		return;
	uv_timer_stop(t);
	d->polls = 0;
	start(d);
}

static void on_ready(struct arcluster *c, int status)
{
	struct drv *d = arcluster_data(c);
	if (status < 0)
		fail(d, "cluster", NULL);
	uv_timer_stop(&d->timer);
	if (d->o->start_file) {
		printf("ready\n");
		fflush(stdout);
		uv_timer_start(&d->timer, poll_start, 100, 100);
		return;
	}
	start(d);
}

/* Seeds that cannot be reached are retried for ever; a program reports
 * them after a while (here: the time a command may take). */
static void ready_timeout(uv_timer_t *t)
{
	struct drv *d = t->data;
	if (!arcluster_ready(d->c))
		fail(d, "cluster", NULL);
}

static int kind_of(const char *cmd, int nargs, enum kind *k)
{
	static const struct { const char *name; int nargs; enum kind kind; } cmds[] = {
		{ "write", 2, K_WRITE }, { "read", 2, K_READ }, { "loop", 3, K_LOOP },
		{ "set", 2, K_SET }, { "get", 1, K_GET }, { "get-twice", 2, K_GET_TWICE },
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(cmd, cmds[i].name) && nargs == cmds[i].nargs) {
			*k = cmds[i].kind;
			return 0;
		}
	return -1;
}

int async_main(const struct opts *o, const char *cmd, char **args, int nargs, struct counts *n,
	       struct rcluster_stats *st)
{
	static struct drv d;
	if (kind_of(cmd, nargs, &d.kind) < 0)
		return -1;
	d.o = o;
	d.n = n;
	d.st = st;
	d.args = args;
	d.loop = uv_default_loop();
	if (d.kind == K_WRITE || d.kind == K_READ)
		d.total = strtoul(args[1], NULL, 10);
	uv_timer_init(d.loop, &d.timer);
	d.timer.data = &d;
	struct rcluster_opts ro = { .password = o->password, .retry_ms = o->retry_ms };
	d.c = arcluster_start(d.loop, o->seeds, o->nseeds, &ro, on_ready, &d);
	uv_timer_start(&d.timer, ready_timeout, (uint64_t)(o->retry_ms > 0 ? o->retry_ms : 5000), 0);
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	return 0;
}

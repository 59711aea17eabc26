#include "redis_uv.h"

#include <stdlib.h>

#include "xalloc.h"

struct redis_uv {
	redisAsyncContext *ac;    /* NULL once hiredis let go of us */
	uv_poll_t poll;
	int events;
};

static void on_poll(uv_poll_t *h, int status, int events);

static void restart(struct redis_uv *e)
{
	if (e->ac && e->events)
		uv_poll_start(&e->poll, e->events, on_poll);
	else if (e->ac)
		uv_poll_stop(&e->poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct redis_uv *e = h->data;
	if (status < 0) {
		/* libuv stopped the handle; a read makes hiredis see the socket
		 * error and disconnect (or fail the connect) properly */
		redisAsyncHandleRead(e->ac);
		restart(e);
		return;
	}
	if ((events & UV_READABLE) && e->ac)
		redisAsyncHandleRead(e->ac);
	if ((events & UV_WRITABLE) && e->ac)
		redisAsyncHandleWrite(e->ac);
}

/* hiredis asks again for reads after every read it handles; libuv's
 * uv_poll_start would answer with an epoll_ctl DEL and ADD each time, so
 * only a change of the events goes to libuv. */
static void set_events(struct redis_uv *e, int events)
{
	if (events == e->events)
		return;
	e->events = events;
	restart(e);
}

static void add_read(void *p) { struct redis_uv *e = p; set_events(e, e->events | UV_READABLE); }
static void del_read(void *p) { struct redis_uv *e = p; set_events(e, e->events & ~UV_READABLE); }
static void add_write(void *p) { struct redis_uv *e = p; set_events(e, e->events | UV_WRITABLE); }
static void del_write(void *p) { struct redis_uv *e = p; set_events(e, e->events & ~UV_WRITABLE); }

static void closed(uv_handle_t *h) { free(h->data); }

static void cleanup(void *p)
{
	struct redis_uv *e = p;
	e->ac = NULL;
	uv_close((uv_handle_t *)&e->poll, closed);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	if (ac->ev.data)
		return REDIS_ERR;
	struct redis_uv *e = xcalloc(1, sizeof *e);
	e->ac = ac;
	if (uv_poll_init_socket(loop, &e->poll, ac->c.fd) != 0) {
		free(e);
		return REDIS_ERR;
	}
	e->poll.data = e;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = e;
	return REDIS_OK;
}

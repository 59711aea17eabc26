/* Glue between hiredis' async API and a libuv loop. hiredis 0.14's own
 * adapters/libuv.h drops poll errors (a refused connect, a reset
 * connection) on the floor, leaving the connection hung forever; this one
 * hands them to hiredis, which then reports the failure. */
#ifndef SC_REDIS_UV_H
#define SC_REDIS_UV_H

#include <async.h>
#include <uv.h>

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif

/* Blocking Redis connections, for programs that handle one request at a
 * time (chat-fcgi, recoverd). */
#ifndef SC_REDIS_SYNC_H
#define SC_REDIS_SYNC_H

#include <hiredis.h>
#include <stddef.h>

#include "redis_url.h"
#include "scripts.h"

/* Connects (under Sentinel: to the primary the sentinels name, refused
 * unless ROLE says master), authenticates, selects the database and loads
 * the scripts.
 * Returns NULL with *err set (a static or reply-owned message copied into
 * errbuf) when Redis cannot be used. */
redisContext *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen);

/* EVALSHA, falling back to EVAL if the script cache was flushed. args may
 * hold binary data (lens gives their lengths). Caller frees the reply.
 * A READONLY answer (the node was demoted under us) returns NULL, as an I/O
 * error does: the caller drops c and reconnects. A READONLY in the answer
 * of any other command on a context of rs_connect breaks it too: that
 * answer is returned, the next command fails. */
redisReply *rs_eval(redisContext *c, enum script_id id, int nkeys, const char *const *keys,
		    int nargs, const char *const *args, const size_t *lens);

/* Makes c fail from now on, as a lost connection does, for why. */
void rs_break(redisContext *c, const char *why);

#endif

/* Blocking Redis connections, for programs that handle one request at a
 * time (chat-fcgi, recoverd). */
#ifndef SC_REDIS_SYNC_H
#define SC_REDIS_SYNC_H

#include <hiredis.h>
#include <stddef.h>

#include "redis_url.h"
#include "scripts.h"

/* Connects, authenticates, selects the database and loads the scripts.
 * Returns NULL with *err set (a static or reply-owned message copied into
 * errbuf) when Redis cannot be used. */
redisContext *rs_connect(const struct redis_cfg *cfg, int timeout_ms, char *errbuf, size_t errlen);

/* EVALSHA, falling back to EVAL if the script cache was flushed. args may
 * hold binary data (lens gives their lengths). Caller frees the reply. */
redisReply *rs_eval(redisContext *c, enum script_id id, int nkeys, const char *const *keys,
		    int nargs, const char *const *args, const size_t *lens);

#endif

/* The Sentinel topology: which node is the primary now, and whether a node
 * we reached still is one. The only place besides redis_url.c that knows
 * about Sentinel; redis_sync.c and aredis.c call it on every (re)connect. */
#ifndef SC_REDIS_SENTINEL_H
#define SC_REDIS_SENTINEL_H

#include <hiredis.h>
#include <stddef.h>

#include "redis_url.h"

/* How long one sentinel may take to answer: a dead one costs this much. */
#define SENTINEL_TIMEOUT_MS 250

/* Asks the sentinels in turn (starting with the last one that answered)
 * SENTINEL get-master-addr-by-name cfg->master. 0 with *out set, or -1
 * with a one-line reason in errbuf: no sentinel reachable, or none knows
 * the master (each sentinel's own answer listed). *which is the index of
 * the sentinel that answered, for the caller's +switch-master watch. */
int sentinel_primary(const struct redis_cfg *cfg, struct redis_addr *out, int *which,
		     char *errbuf, size_t errlen);

/* Whether a node must not be written to: 0 if r, the answer to ROLE, says
 * master; else -1 with the reason. */
int role_refused(const redisReply *r, char *errbuf, size_t errlen);

/* Whether r is the error of a node that was demoted under us (READONLY):
 * the connection must be dropped and the primary asked for again. */
int reply_demoted(const redisReply *r);

/* Makes r call demoted(arg) for each READONLY error it parses, anywhere
 * in a reply (an EXEC's answer holds its commands' errors), before the
 * owner's callback sees it. */
struct readonly_watch {
	void (*demoted)(void *arg);
	void *arg;
};
void watch_readonly(redisReader *r, struct readonly_watch *w);

/* The payload of a +switch-master message names this master. */
int switch_names_master(const char *payload, size_t len, const char *master);

#endif

/* POST /api/chat's first step, on the user's slot: a live worker, the rate
 * counter, the user's replies in flight, and a reservation for reply mid
 * among them (admit.c; doc/redis.md, "Two steps"). */
#ifndef SC_ADMIT_H
#define SC_ADMIT_H

#include <stdint.h>

#include "api.h"

/* 0 with mid reserved, or -1 with res filled (429, 503). */
int chat_admit(struct api *api, struct rs *c, const struct chat_request *cr, const char *mid,
	       int64_t now, struct http_response *res);
/* Gives back mid's reservation after enqueue.lua refused it. */
void chat_admit_undo(struct api *api, const char *user, const char *mid);

#endif

/* GET /api/history's older messages: where Redis's list (the recent ones)
 * runs out, the page goes on in the archive, from the message just before
 * the oldest one Redis gave, so that nothing is missing or doubled where
 * the two meet. */
#ifndef SC_HISTORY_OLDER_H
#define SC_HISTORY_OLDER_H

#include "api.h"

struct older {
	char owner[ID_MAX + 1];      /* the archive's owner, when Redis has no session */
	int owner_archived;          /* the archive knows the session */
	int in_redis;                /* Redis has the session */
	int partial;                 /* the archive could not be read: older messages than
					these were left out, and the next page answers 503 */
	struct db_items items;  /* the archive's part of the page, oldest first */
};

/* The archive's owner of a session that Redis does not know. */
void older_owner(struct api *api, const char *sid, struct older *o);

/* Completes a page of *n < limit items from Redis (page->element[start..])
 * with older ones from the archive. before is the request's (NULL: the
 * newest page), before_found whether Redis holds it (if not, the Redis page
 * is dropped: *n = 0). 0, or -1 with res filled. */
int history_older(struct api *api, const char *sid, const char *khist, const char *before,
		  int before_found, redisReply *page, size_t start, size_t *n, long limit,
		  struct older *o, struct http_response *res);

/* A page before a message older than all of Redis's list, straight from
 * the archive, so that walking back through the archive does not read the
 * whole Redis list again for each page. Decided by the message ids' time
 * (their first 12 hex digits) against the list's oldest item; 1 when the
 * page came from the archive (o->items), 0 when undecided or the archive
 * did not answer: then the page is looked for in Redis as ever. */
int history_archived_page(struct api *api, const char *sid, const char *khist, const char *before,
			  long limit, struct older *o);

#endif

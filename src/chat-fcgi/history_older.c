#include "history_older.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

void older_owner(struct api *api, const char *sid, struct older *o)
{
	o->owner_archived = db_owner(&api->archive, sid, o->owner) == DB_OK;
}

/* The message id of a stored item: items begin {"message_id":"M", */
static int item_message_id(const redisReply *item, char out[ID_MAX + 1])
{
	static const char pre[] = "{\"message_id\":\"";
	size_t pl = sizeof pre - 1;
	if (item->type != REDIS_REPLY_STRING || item->len <= pl || memcmp(item->str, pre, pl) != 0)
		return -1;
	const char *id = item->str + pl, *end = memchr(id, '"', item->len - pl);
	if (!end || end == id || end - id > ID_MAX)
		return -1;
	memcpy(out, id, (size_t)(end - id));
	out[end - id] = '\0';
	return 0;
}

/* Whether Redis's list may have lost older messages to its cap: a list
 * shorter than HISTORY_MAX holds the whole conversation. 1, 0, or -1 with
 * res filled. */
static int maybe_trimmed(struct api *api, const char *khist, struct older *o,
			 struct http_response *res)
{
	if (!o->in_redis)
		return o->owner_archived;
	struct rs *c = api_redis(api);
	redisReply *r = c ? rs_command(c, "LLEN %s", khist) : NULL;
	if (!r) {
		if (c)
			api_drop_redis(api);
		api_unavailable(res, "redis is unreachable");
		return -1;
	}
	int trimmed = r->type == REDIS_REPLY_INTEGER && r->integer >= api->cfg.history_max;
	freeReplyObject(r);
	return trimmed;
}

int history_older(struct api *api, const char *sid, const char *khist, const char *before,
		  int before_found, redisReply *page, size_t start, size_t *n, long limit,
		  struct older *o, struct http_response *res)
{
	char oldest[ID_MAX + 1];
	const char *boundary = before;
	int boundary_in_redis = 1;
	if (before && !before_found) {
		*n = 0;  /* Redis's newest page is not what was asked */
		boundary_in_redis = 0;
	} else if (*n > 0) {
		if (item_message_id(page->element[start], oldest)) {
			log_warn("history item without a message id", "session=%s", sid);
			return 0;
		}
		boundary = oldest;
	} else if (!before && !o->in_redis && !o->owner_archived)
		return 0;  /* a session nobody has written to */

	enum db_result r = db_page(&api->archive, sid, boundary, limit - (long)*n, &o->items);
	if (r == DB_OK)
		return 0;
	if (!boundary_in_redis) {
		if (r == DB_NOT_FOUND)
			api_error(res, 404, "not_found", "no such message in this conversation");
		else
			api_unavailable(res, "the archive is unreachable");
		return -1;
	}
	int trimmed = maybe_trimmed(api, khist, o, res);
	if (trimmed < 0)
		return -1;
	if (!trimmed)
		return 0;  /* Redis holds the whole conversation */
	if (*n > 0) {
		o->partial = 1;
		return 0;
	}
	api_unavailable(res, r == DB_NOT_FOUND ? "older messages are not archived yet"
						  : "the archive is unreachable");
	return -1;
}

/* Whether id is made by new_message_id: 12 hex digits of time, 20 random. */
static int timed_id(const char *id)
{
	if (strlen(id) != 32)
		return 0;
	for (int i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", id[i]))
			return 0;
	return 1;
}

int history_archived_page(struct api *api, const char *sid, const char *khist, const char *before,
			  long limit, struct older *o)
{
	if (!timed_id(before))
		return 0;
	struct rs *c = api_redis(api);
	redisReply *r = c ? rs_command(c, "LINDEX %s 0", khist) : NULL;
	if (!r) {
		if (c)
			api_drop_redis(api);
		return 0;  /* the Redis path says why */
	}
	char oldest[ID_MAX + 1];
	/* an empty list is left to the Redis path, which goes on in the
	 * archive all the same */
	int older = r->type == REDIS_REPLY_STRING && item_message_id(r, oldest) == 0 &&
		    timed_id(oldest) && strncmp(before, oldest, 12) < 0;
	freeReplyObject(r);
	if (!older)
		return 0;
	/* the times of a user message and its reply may differ by a ms the
	 * other way round: the archive's page is right for either, and a
	 * message it does not hold yet is looked for in Redis */
	if (db_page(&api->archive, sid, before, limit, &o->items) == DB_OK)
		return 1;
	db_items_release(&o->items);
	return 0;
}

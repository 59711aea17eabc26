#include "api.h"

#include <errno.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "archive.h"
#include "fault.h"
#include "frame.h"
#include "history_older.h"
#include "keys.h"
#include "log.h"
#include "ready.h"
#include "redis_sync.h"
#include "request.h"
#include "util.h"
#include "xalloc.h"


void api_error(struct http_response *res, int status, const char *code, const char *message)
{
	res->status = status;
	sb_reset(&res->body);
	if (res->openai_errors) {
		openai_error(res, status, code, message);
		return;
	}
	sb_adds(&res->body, "{\"error\":{\"code\":");
	sb_add_json_str(&res->body, code, strlen(code));
	sb_adds(&res->body, ",\"message\":");
	sb_add_json_str(&res->body, message, strlen(message));
	sb_adds(&res->body, "}}");
}

void api_unavailable(struct http_response *res, const char *why)
{
	api_error(res, 503, "unavailable", why);
	snprintf(res->headers, sizeof res->headers, "Retry-After: 1\r\n");
}

/* Whether Redis has closed the connection (a restart does) while it sat
 * idle between requests: then the next command would fail for nothing. */
static int closed_by_peer(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void api_drop_redis(struct api *api)
{
	rs_free(api->redis);
	api->redis = NULL;
	api->unread_replies = 0;
}

/* The connection, reconnecting at most every 100 ms so that a dead Redis
 * costs a request one short timeout, not a connect storm. */
struct rs *api_redis(struct api *api)
{
	/* the replies to what was sent after the last response (metrics_flush)
	 * have long arrived: take them off the connection first */
	while (api->redis && api->unread_replies > 0) {
		redisReply *r = NULL;
		if (rs_get_reply(api->redis, (void **)&r) != REDIS_OK) {
			log_warn("redis command failed", "error=\"%s\"", rs_errstr(api->redis));
			api_drop_redis(api);
			break;
		}
		freeReplyObject(r);
		api->unread_replies--;
	}
	if (api->redis && rs_fd(api->redis) >= 0 && closed_by_peer(rs_fd(api->redis))) {
		log_info("redis closed the connection; reconnecting", NULL);
		api_drop_redis(api);
		api->last_connect_us = 0;
	}
	if (api->redis)
		return api->redis;
	if (!retry_due(&api->last_connect_us, 100000))
		return NULL;
	char err[200];
	api->redis = rs_connect(&api->cfg.redis, api->cfg.redis_timeout_ms, err, sizeof err);
	if (!api->redis)
		log_warn("redis unavailable", "error=\"%s\"", err);
	else
		log_info("redis connected", NULL);
	return api->redis;
}

/* After an I/O error the connection is unusable: drop it and reconnect later. */
static redisReply *checked(struct api *api, redisReply *r)
{
	if (!r) {
		log_warn("redis command failed", "error=\"%s\"", rs_errstr(api->redis));
		api_drop_redis(api);
	}
	return r;
}

/* Reads the replies of n pipelined commands. On a broken connection it
 * frees what it read, drops the connection and answers 503. */
static int read_replies(struct api *api, int n, redisReply **out, struct http_response *res)
{
	for (int i = 0; i < n; i++) {
		out[i] = NULL;
		if (rs_get_reply(api->redis, (void **)&out[i]) != REDIS_OK) {
			while (i-- > 0)
				freeReplyObject(out[i]);
			checked(api, NULL);
			api_unavailable(res, "redis is unreachable");
			return -1;
		}
	}
	return 0;
}

/* With a token, the user is the token's: a user_id in the request may only
 * repeat it. Returns 0, or -1 with res filled. */
int take_user(const struct http_request *req, char user_id[ID_MAX + 1], struct http_response *res)
{
	if (!req->user) {
		if (user_id[0])
			return 0;
		api_error(res, 400, "invalid_request", "user_id is required");
		return -1;
	}
	if (user_id[0] && strcmp(user_id, req->user) != 0) {
		api_error(res, 403, "forbidden", "user_id is not the token's user");
		return -1;
	}
	snprintf(user_id, ID_MAX + 1, "%s", req->user);
	return 0;
}

/* enqueue.lua on the session's partition, after chat_admit. 0, or -1 with
 * res filled; *refused set when the script said no (403, 409), so that
 * the reservation is given back. */
static int enqueue(struct api *api, struct rs *c, const struct chat_request *cr,
		   const char *mid, int64_t now, int *refused, struct http_response *res)
{
	char user_mid[33];
	if (new_message_id(user_mid, session_partition(cr->session_id))) {
		api_error(res, 500, "internal", "no randomness for a message id");
		*refused = 1;
		return -1;
	}
	struct strbuf item = STRBUF_INIT;
	history_item(&item, user_mid, "user", cr->message, cr->message_len, "complete", now);

	int part = session_partition(cr->session_id);
	char ksession[KEY_MAX], khist[KEY_MAX], kmeta[KEY_MAX], kjobs[KEY_MAX], karchive[KEY_MAX];
	const char *keys[] = { key_session(ksession, cr->session_id), key_history(khist, cr->session_id),
			       key_meta(kmeta, mid), key_jobs(kjobs, part), key_archive(karchive, part) };
	char snow[24], shist[24], sjobs[24];
	snprintf(snow, sizeof snow, "%lld", (long long)now);
	snprintf(shist, sizeof shist, "%ld", api->cfg.history_max);
	snprintf(sjobs, sizeof sjobs, "%ld", api->cfg.jobs_maxlen);
	const char *args[] = { cr->session_id, cr->user_id, mid, item.buf, cr->model, cr->message,
			       snow, shist, sjobs, user_mid, archive_maxlen() };
	size_t lens[] = { strlen(cr->session_id), strlen(cr->user_id), strlen(mid), item.len,
			  strlen(cr->model), cr->message_len, strlen(snow), strlen(shist),
			  strlen(sjobs), strlen(user_mid), strlen(archive_maxlen()) };
	redisReply *r = checked(api, rs_eval(c, SCRIPT_ENQUEUE, 5, keys, 11, args, lens));
	sb_release(&item);

	int rc = -1;
	if (!r)
		api_unavailable(res, "redis is unreachable");
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		 r->element[0]->type != REDIS_REPLY_STRING) {
		log_error("enqueue failed", "session=%s error=\"%s\"", cr->session_id,
			  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		api_unavailable(res, "could not enqueue the message");
	} else {
		const char *status = r->element[0]->str;
		const char *detail = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
		*refused = 1;
		if (strcmp(status, "ok") == 0) {
			rc = 0;
			*refused = 0;
			log_info("chat enqueued", "session=%s message=%s user=%s bytes=%zu",
				 cr->session_id, mid, cr->user_id, cr->message_len);
		} else if (strcmp(status, "forbidden") == 0) {
			api_error(res, 403, "forbidden", "this session belongs to another user");
		} else if (strcmp(status, "stream_in_progress") == 0) {
			char msg[160];
			snprintf(msg, sizeof msg, "message %.64s is still streaming in this session",
				 detail);
			api_error(res, 409, "stream_in_progress", msg);
		} else
			api_unavailable(res, "could not enqueue the message");
	}
	if (r)
		freeReplyObject(r);
	return rc;
}

/* Enqueues cr, whose user take_user has settled, in two steps (doc/redis.md,
 * "Two steps"): chat_admit on the user's slot, then enqueue.lua on the
 * session's partition, which puts its message into the session's history
 * and the reply's job onto its partition's job stream. The reply's id is
 * mid, or a new one when mid is "". 0 with mid set, or -1 with res filled.
 * Every route that starts a reply comes here. */
int chat_enqueue(struct api *api, const struct chat_request *cr, char mid[33],
		 struct http_response *res)
{
	struct rs *c = api_redis(api);
	if (!c) {
		api_unavailable(res, "redis is unreachable");
		return -1;
	}
	if (!mid[0] && new_message_id(mid, session_partition(cr->session_id))) {
		api_error(res, 500, "internal", "no randomness for a message id");
		return -1;
	}
	int64_t now = now_ms();
	if (chat_admit(api, c, cr, mid, now, res))
		return -1;
	fault_point("chat-fcgi:after-admit", cr->session_id);
	int refused = 0;
	int rc = enqueue(api, c, cr, mid, now, &refused, res);
	if (refused)
		chat_admit_undo(api, cr->user_id, mid);
	if (rc == 0) {
		/* a second step of its own (doc/redis.md, "Two steps"): lost, the
		 * reply starts a second or so later through the workers' sweep */
		fault_point("chat-fcgi:after-enqueue", cr->session_id);
		if (ready_announce(c, session_partition(cr->session_id)) && rs_err(c))
			api_drop_redis(api);
	}
	return rc;
}

static void handle_chat(struct api *api, const struct http_request *req, struct http_response *res)
{
	struct chat_request cr;
	struct api_error err;
	char mid[33] = "";
	if (parse_chat_request(req->body, req->body_len, api->cfg.max_message, &cr, &err)) {
		api_error(res, err.status, err.code, err.message);
		return;
	}
	if (!take_user(req, cr.user_id, res) && !chat_enqueue(api, &cr, mid, res)) {
		res->status = 202;
		sb_addf(&res->body, "{\"message_id\":\"%s\",\"session_id\":\"%s\","
			"\"status\":\"streaming\"}", mid, cr.session_id);
	}
	chat_request_release(&cr);
}

/* POST /api/cancel: the cancel mark, for the worker's next append to see. */
static void handle_cancel(struct api *api, const struct http_request *req, struct http_response *res)
{
	struct cancel_request cr;
	struct api_error err;
	if (parse_cancel_request(req->body, req->body_len, &cr, &err)) {
		api_error(res, err.status, err.code, err.message);
		return;
	}
	if (take_user(req, cr.user_id, res))
		return;
	/* every message is minted in its session's partition: an id of another
	 * is none of this session's, and its keys are of another slot */
	if (message_partition(cr.message_id) != session_partition(cr.session_id)) {
		api_error(res, 404, "not_found", "no such message in this session");
		return;
	}
	struct rs *c = api_redis(api);
	if (!c) {
		api_unavailable(res, "redis is unreachable");
		return;
	}
	char ksession[KEY_MAX], kmeta[KEY_MAX], kcancel[KEY_MAX], klock[KEY_MAX], sttl[24];
	const char *keys[] = { key_session(ksession, cr.session_id), key_meta(kmeta, cr.message_id),
			       key_cancel(kcancel, cr.message_id), key_lock(klock, cr.message_id) };
	snprintf(sttl, sizeof sttl, "%ld", api->cfg.cancel_ttl_s);
	const char *args[] = { cr.session_id, cr.user_id, sttl };
	redisReply *r = checked(api, rs_eval(c, SCRIPT_CANCEL, 4, keys, 3, args, NULL));
	if (!r) {
		api_unavailable(res, "redis is unreachable");
		return;
	}
	const char *st = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			 r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : NULL;
	const char *detail = st && r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
	if (!st) {
		log_error("cancel failed", "session=%s message=%s error=\"%s\"", cr.session_id,
			  cr.message_id, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		api_unavailable(res, "could not cancel the message");
	} else if (!strcmp(st, "ok")) {
		res->status = 200;
		sb_addf(&res->body, "{\"message_id\":\"%s\",\"status\":\"cancelling\"}", cr.message_id);
		log_info("cancel requested", "session=%s message=%s user=%s", cr.session_id,
			 cr.message_id, cr.user_id);
	} else if (!strcmp(st, "forbidden")) {
		api_error(res, 403, "forbidden", "this session belongs to another user");
	} else if (!strcmp(st, "finished")) {
		char msg[120];
		snprintf(msg, sizeof msg, "the message has already ended (%.20s)", detail);
		api_error(res, 409, "not_streaming", msg);
	} else
		api_error(res, 404, "not_found", "no such message in this session");
	freeReplyObject(r);
}

/* The reader of GET (and DELETE) endpoints: the token's user, or in
 * development mode the user_id of the query string, which is then required
 * as the token is in secure mode: a reader who named no one would pass any
 * owner check. Returns 0, or -1 with res filled. */
int api_reader(const struct http_request *req, char user[ID_MAX + 1], struct http_response *res)
{
	int q = query_get(req->query, "user_id", user, ID_MAX + 1);
	if (q < 0 || (q == 1 && !valid_id(user, strlen(user)))) {
		api_error(res, 400, "invalid_request", "user_id must be 1-64 characters of [A-Za-z0-9_.:-]");
		return -1;
	}
	if (q == 0 && !req->user) {
		api_error(res, 400, "invalid_request", "user_id is required");
		return -1;
	}
	if (req->user) {
		if (q == 1 && strcmp(user, req->user) != 0) {
			api_error(res, 403, "forbidden", "user_id is not the token's user");
			return -1;
		}
		snprintf(user, ID_MAX + 1, "%s", req->user);
	}
	return 0;
}

/* The owner check of GET endpoints. Returns 0 when allowed, -1 with res
 * filled. */
static int check_reader(const struct http_request *req, const char *owner,
			struct http_response *res)
{
	char user[ID_MAX + 1];
	if (api_reader(req, user, res))
		return -1;
	if (owner && *owner && strcmp(owner, user) != 0) {
		api_error(res, 403, "forbidden", "this conversation belongs to another user");
		return -1;
	}
	return 0;
}

const char *api_hash_field(redisReply *h, const char *name)
{
	if (!h || h->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, name) == 0)
			return h->element[i + 1]->str;
	return NULL;
}

int api_query_long(const struct http_request *req, const char *name, long def, long min,
		      long max, long *out, struct http_response *res)
{
	char v[24];
	int q = query_get(req->query, name, v, sizeof v);
	*out = def;
	if (q == 0)
		return 0;
	if (q < 0 || parse_long(v, min, max, out)) {
		char msg[120];
		snprintf(msg, sizeof msg, "%s must be an integer from %ld to %ld", name, min, max);
		api_error(res, 400, "invalid_request", msg);
		return -1;
	}
	return 0;
}

/* Items read at a time while looking back for the message named by before:
 * a request costs Redis what it asks for and how far back it points, never
 * a whole session's history. */
#define HISTORY_STEP 64
/* Steps overlap by this many items, so that messages appended while the
 * steps are read (which move every item one further from the end) cannot
 * slip between two of them. */
#define HISTORY_OVERLAP 8

/* Whether the stored history item is message mid's. */
static int item_is(const redisReply *item, const char *mid)
{
	char prefix[ID_MAX + 32];
	int pl = snprintf(prefix, sizeof prefix, "{\"message_id\":\"%s\"", mid);
	return item->type == REDIS_REPLY_STRING && item->len >= (size_t)pl &&
	       memcmp(item->str, prefix, (size_t)pl) == 0;
}

/* LRANGE khist from to (indexes from the end when negative), or NULL with
 * res filled. */
static redisReply *history_range(struct api *api, const char *khist, long from, long to,
				 struct http_response *res)
{
	struct rs *c = api_redis(api);
	redisReply *r = c ? checked(api, rs_command(c, "LRANGE %s %ld %ld", khist, from, to)) : NULL;
	if (!r)
		api_unavailable(res, "redis is unreachable");
	else if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		api_unavailable(res, "unexpected reply from redis");
		r = NULL;
	}
	return r;
}

/* The page of history that ends just before message before: its items are
 * (*page)->element[*start .. *start + *n). Read backwards HISTORY_STEP items
 * at a time until the message is found; then the page is in the step read
 * already, or read with the message itself as its last item, so that a list
 * that moved in between (a new message, a trim) is seen and looked at again.
 * A message not in the history gives the newest page, as ever, and *found
 * 0. 0, or -1 with res filled. */
static int history_page_before(struct api *api, const char *khist, const char *before,
			       long limit, redisReply **page, size_t *start, size_t *n, int *found,
			       struct http_response *res)
{
	*page = NULL;
	*found = 1;
	for (int attempt = 0; attempt < 3; attempt++) {
		for (long back = 0;; back += HISTORY_STEP - HISTORY_OVERLAP) {
			redisReply *step = history_range(api, khist, -back - HISTORY_STEP, -back - 1, res);
			if (!step)
				return -1;
			size_t j = step->elements;
			while (j > 0 && !item_is(step->element[j - 1], before))
				j--;
			if (j > 0 && j - 1 >= (size_t)limit) {
				*page = step;
				*start = j - 1 - (size_t)limit;
				*n = (size_t)limit;
				return 0;
			}
			if (j > 0) {
				/* found near the start of the step: the page reaches further back */
				long at = -back - (long)(step->elements - (j - 1));
				freeReplyObject(step);
				redisReply *r = history_range(api, khist, at - limit, at, res);
				if (!r)
					return -1;
				if (r->elements > 0 && item_is(r->element[r->elements - 1], before)) {
					*page = r;
					*start = 0;
					*n = r->elements - 1;
					return 0;
				}
				freeReplyObject(r);
				break;  /* the list moved: look again */
			}
			int reached_head = step->elements < HISTORY_STEP;
			freeReplyObject(step);
			if (reached_head) {
				*found = 0;
				*page = history_range(api, khist, -limit, -1, res);
				*start = 0;
				*n = *page ? (*page)->elements : 0;
				return *page ? 0 : -1;
			}
		}
	}
	api_unavailable(res, "the history changed while it was read");
	return -1;
}

static void handle_history(struct api *api, const struct http_request *req, const char *sid,
			   struct http_response *res)
{
	long limit;
	char before[ID_MAX + 1];
	if (api_query_long(req, "limit", 50, 1, 1000, &limit, res))
		return;
	int qb = query_get(req->query, "before", before, sizeof before);
	if (qb < 0 || (qb == 1 && !valid_message_id(before, strlen(before)))) {
		api_error(res, 400, "invalid_request", "before must be a message id");
		return;
	}
	struct rs *c = api_redis(api);
	if (!c) {
		api_unavailable(res, "redis is unreachable");
		return;
	}
	char ksession[KEY_MAX], khist[KEY_MAX];
	key_history(khist, sid);
	rs_append(c, "HGETALL %s", key_session(ksession, sid));
	/* the newest page comes with the session; an older one after the owner check */
	if (qb == 0)
		rs_append(c, "LRANGE %s %ld -1", khist, -limit);
	redisReply *sh[2] = { NULL, NULL }, *sess = NULL, *hist = NULL, *chunks = NULL, *meta = NULL;
	struct older older = { 0 };
	if (read_replies(api, qb == 0 ? 2 : 1, sh, res))
		return;
	sess = sh[0];
	hist = sh[1];
	if (sess->type != REDIS_REPLY_ARRAY || (hist && hist->type != REDIS_REPLY_ARRAY)) {
		api_unavailable(res, "unexpected reply from redis");
		goto out;
	}
	const char *owner = api_hash_field(sess, "userId");
	if (db_enabled(&api->archive) && !owner)
		older_owner(api, sid, &older);  /* Redis may have lost what the archive keeps */
	if (check_reader(req, owner ? owner : older.owner, res))
		goto out;
	size_t start = 0, n = hist ? hist->elements : 0;
	int found = 1, archived_page = 0;
	if (qb == 1 && db_enabled(&api->archive))
		archived_page = history_archived_page(api, sid, khist, before, limit, &older);
	if (qb == 1 && !archived_page &&
	    history_page_before(api, khist, before, limit, &hist, &start, &n, &found, res))
		goto out;
	if (!archived_page && db_enabled(&api->archive) && (n < (size_t)limit || !found)) {
		older.in_redis = owner != NULL;
		if (history_older(api, sid, khist, qb ? before : NULL, found, hist, start, &n, limit,
				  &older, res))
			goto out;
	}

	/* the reply in progress, read after the history so that a reply that
	 * finishes in between shows up in the history rather than nowhere */
	const char *status = api_hash_field(sess, "status");
	const char *cur = api_hash_field(sess, "messageId");
	struct inprogress ip = { 0 };
	const char **texts = NULL;
	size_t *tlens = NULL;
	if (cur && status && (!strcmp(status, "queued") || !strcmp(status, "streaming")) && qb == 0) {
		char kchunks[KEY_MAX], kmeta[KEY_MAX];
		rs_append(c, "LRANGE %s 0 -1", key_chunks(kchunks, cur));
		rs_append(c, "HGETALL %s", key_meta(kmeta, cur));
		redisReply *cm[2];
		if (read_replies(api, 2, cm, res))
			goto out;
		chunks = cm[0];
		meta = cm[1];
		const char *mstatus = api_hash_field(meta, "status");
		if (chunks->type == REDIS_REPLY_ARRAY && mstatus &&
		    (!strcmp(mstatus, "queued") || !strcmp(mstatus, "streaming"))) {
			texts = xcalloc(chunks->elements + 1, sizeof *texts);
			tlens = xcalloc(chunks->elements + 1, sizeof *tlens);
			for (size_t i = 0; i < chunks->elements; i++) {
				texts[i] = chunks->element[i]->str;
				tlens[i] = chunks->element[i]->len;
			}
			const char *created = api_hash_field(meta, "created_at");
			ip.message_id = cur;
			ip.status = "streaming";
			ip.created_at = created ? atol(created) : 0;
			ip.chunks = texts;
			ip.chunk_lens = tlens;
			ip.nchunks = (long)chunks->elements;
		}
	}

	/* the archive's older messages, then Redis's */
	size_t total = older.items.n + n;
	const char **items = xcalloc(total + 1, sizeof *items);
	size_t *lens = xcalloc(total + 1, sizeof *lens);
	for (size_t i = 0; i < older.items.n; i++) {
		items[i] = older.items.items[i];
		lens[i] = older.items.lens[i];
	}
	for (size_t i = 0; i < n; i++) {
		items[older.items.n + i] = hist->element[start + i]->str;
		lens[older.items.n + i] = hist->element[start + i]->len;
	}
	res->status = 200;
	sb_addf(&res->body, "{\"session_id\":\"%s\",\"messages\":", sid);
	history_items(&res->body, items, lens, total, ip.message_id ? &ip : NULL, 0);
	if (older.partial)
		sb_adds(&res->body, ",\"archive\":\"unavailable\"");
	sb_addc(&res->body, '}');
	free(items);
	free(lens);
	free(texts);
	free(tlens);
out:
	db_items_release(&older.items);
	if (sess)
		freeReplyObject(sess);
	if (hist)
		freeReplyObject(hist);
	if (chunks)
		freeReplyObject(chunks);
	if (meta)
		freeReplyObject(meta);
}

static void handle_stream(struct api *api, const struct http_request *req, const char *mid,
			  struct http_response *res)
{
	long from;
	if (api_query_long(req, "from", 0, 0, 10000000, &from, res))
		return;
	struct rs *c = api_redis(api);
	if (!c) {
		api_unavailable(res, "redis is unreachable");
		return;
	}
	char kmeta[KEY_MAX], kchunks[KEY_MAX];
	/* one transaction, so that status and chunks are of the same instant */
	rs_append(c, "MULTI");
	rs_append(c, "HGETALL %s", key_meta(kmeta, mid));
	rs_append(c, "LRANGE %s %ld -1", key_chunks(kchunks, mid), from);
	rs_append(c, "LLEN %s", kchunks);
	rs_append(c, "EXEC");
	redisReply *rs[5], *r;
	if (read_replies(api, 5, rs, res))
		return;
	for (int i = 0; i < 4; i++)
		freeReplyObject(rs[i]);  /* +OK, +QUEUED, +QUEUED, +QUEUED */
	r = rs[4];
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		api_unavailable(res, "unexpected reply from redis");
		goto out;
	}
	redisReply *meta = r->element[0], *chunks = r->element[1];
	if (meta->type != REDIS_REPLY_ARRAY || meta->elements == 0) {
		api_error(res, 404, "not_found", "no such message, or its chunks have expired");
		goto out;
	}
	if (check_reader(req, api_hash_field(meta, "user_id"), res))
		goto out;
	const char *status = api_hash_field(meta, "status");
	/* the meta's count is written when the reply ends; while it streams,
	 * the list's length is the count */
	const char *final = api_hash_field(meta, "total_chunks");
	long total = final ? atol(final) : 0;
	if (r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer > total)
		total = (long)r->element[2]->integer;
	res->status = 200;
	sb_addf(&res->body, "{\"message_id\":\"%s\",\"status\":\"%s\",\"total_chunks\":%ld,\"chunks\":[",
		mid, status ? status : "unknown", total);
	for (size_t i = 0; chunks->type == REDIS_REPLY_ARRAY && i < chunks->elements; i++) {
		sb_addf(&res->body, "%s{\"index\":%ld,\"content\":", i ? "," : "", from + (long)i);
		sb_add_json_str(&res->body, chunks->element[i]->str, chunks->element[i]->len);
		sb_addc(&res->body, '}');
	}
	sb_adds(&res->body, "]}");
out:
	freeReplyObject(r);
}

static void handle_health(struct api *api, struct http_response *res)
{
	struct rs *c = api_redis(api);
	redisReply *r = c ? checked(api, rs_command(c, "PING")) : NULL;
	if (r && r->type == REDIS_REPLY_STATUS) {
		res->status = 200;
		sb_adds(&res->body, "{\"status\":\"ok\",\"redis\":\"ok\"}");
	} else {
		res->status = 503;
		sb_adds(&res->body, "{\"status\":\"unavailable\",\"redis\":\"down\","
			"\"error\":{\"code\":\"unavailable\",\"message\":\"redis is unreachable\"}}");
	}
	if (r)
		freeReplyObject(r);
}

/* A worker's heartbeat fields that /api/ai-health shows (HMGET order). */
enum { AH_SEEN, AH_ACTIVE, AH_BACKEND, AH_STATE, AH_ERR_CODE, AH_ERR, AH_ERR_URL, AH_ERR_MS, AH_N };

static const char *ah_field(const redisReply *h, int f)
{
	return h->type == REDIS_REPLY_ARRAY && h->elements == AH_N &&
	       h->element[f]->type == REDIS_REPLY_STRING ? h->element[f]->str : NULL;
}

static void json_str_field(struct strbuf *sb, const char *name, const char *value)
{
	sb_addf(sb, ",\"%s\":", name);
	sb_add_json_str(sb, value, strlen(value));
}

/* One worker: alive or not, and whether its AI model answered lately. A
 * worker that can serve is fresh and its backend not `down`. */
static int ai_node_json(struct strbuf *nodes, const char *id, const char *score,
			const redisReply *h, int64_t now, long stale_ms, long *healthy)
{
	const char *seen_s = ah_field(h, AH_SEEN), *active = ah_field(h, AH_ACTIVE);
	const char *state = ah_field(h, AH_STATE), *backend = ah_field(h, AH_BACKEND);
	long long seen = atoll(seen_s ? seen_s : score);
	const char *st = !seen_s ? "dead" : now - seen > stale_ms ? "stale" : "healthy";
	int fresh = !strcmp(st, "healthy");
	*healthy += fresh;
	sb_adds(nodes, "{\"id\":");
	sb_add_json_str(nodes, id, strlen(id));
	sb_addf(nodes, ",\"status\":\"%s\",\"last_seen_ms\":%lld,\"age_ms\":%lld,\"active_jobs\":%ld",
		st, seen, (long long)(now - seen), active ? atol(active) : 0);
	if (backend)
		json_str_field(nodes, "backend", backend);
	if (state)
		json_str_field(nodes, "backend_state", state);
	const char *code = ah_field(h, AH_ERR_CODE);
	if (code) {
		const char *msg = ah_field(h, AH_ERR), *url = ah_field(h, AH_ERR_URL);
		const char *at = ah_field(h, AH_ERR_MS);
		sb_adds(nodes, ",\"last_error\":{\"code\":");
		sb_add_json_str(nodes, code, strlen(code));
		json_str_field(nodes, "message", msg ? msg : "");
		json_str_field(nodes, "url", url ? url : "");
		sb_addf(nodes, ",\"at_ms\":%lld}", at ? atoll(at) : 0LL);
	}
	sb_addc(nodes, '}');
	return fresh && !(state && !strcmp(state, "down"));
}

static void handle_ai_health(struct api *api, struct http_response *res)
{
	struct rs *c = api_redis(api);
	if (!c) {
		api_unavailable(res, "redis is unreachable");
		return;
	}
	char knodes[KEY_MAX];
	redisReply *ids = checked(api, rs_command(c, "ZRANGE %s 0 -1 WITHSCORES", key_nodes_ai(knodes)));
	if (!ids || ids->type != REDIS_REPLY_ARRAY) {
		if (ids)
			freeReplyObject(ids);
		api_unavailable(res, "redis is unreachable");
		return;
	}
	size_t n = ids->elements / 2;
	for (size_t i = 0; i < n; i++) {
		char k[KEY_MAX];
		rs_append(c, "HMGET %s last_seen_ms active_jobs backend backend_state "
				   "last_error_code last_error last_error_url last_error_ms",
				   key_node_ai(k, ids->element[2 * i]->str));
	}
	struct strbuf nodes = STRBUF_INIT;
	long healthy = 0, serving = 0;
	int64_t now = now_ms();
	for (size_t i = 0; i < n; i++) {
		redisReply *h;
		if (read_replies(api, 1, &h, res)) {
			sb_release(&nodes);
			freeReplyObject(ids);
			return;
		}
		if (i)
			sb_addc(&nodes, ',');
		serving += ai_node_json(&nodes, ids->element[2 * i]->str, ids->element[2 * i + 1]->str, h,
					now, api->cfg.node_stale_ms, &healthy);
		freeReplyObject(h);
	}
	/* 503 whenever no worker can serve: none alive, or none whose AI
	 * model answers (then `degraded`: streamchat is up, its model is not) */
	const char *status = !healthy ? "unavailable" : serving < healthy ? "degraded" : "healthy";
	res->status = serving > 0 ? 200 : 503;
	sb_addf(&res->body, "{\"status\":\"%s\",\"total_nodes\":%zu,\"healthy_nodes\":%ld,"
		"\"serving_nodes\":%ld,\"nodes\":[", status, n, healthy, serving);
	sb_add(&res->body, nodes.buf ? nodes.buf : "", nodes.len);
	sb_adds(&res->body, "]}");
	sb_release(&nodes);
	freeReplyObject(ids);
}

/* With a secret configured, every route but the health checks needs a
 * valid token; the request then acts as the token's user. */
static int authenticate(struct api *api, enum route route, struct http_request *req,
			char user[ID_MAX + 1], struct http_response *res)
{
	if (!api->auth.enabled || route == ROUTE_NONE || route == ROUTE_HEALTH ||
	    route == ROUTE_AI_HEALTH || route == ROUTE_METRICS)
		return 0;
	enum jwt_result r = req->authorization && *req->authorization
				    ? auth_check(&api->auth, req->authorization, 1, user)
				    : JWT_MALFORMED;
	if (r != JWT_OK) {
		api_error(res, 401, "unauthorized", req->authorization && *req->authorization
			  ? jwt_result_text(r) : "a bearer token is required");
		snprintf(res->headers, sizeof res->headers,
			 "WWW-Authenticate: Bearer realm=\"streamchat\"%s\r\n",
			 req->authorization && *req->authorization ? ", error=\"invalid_token\"" : "");
		log_info("unauthorized", "path=%.100s reason=\"%s\"", req->path, jwt_result_text(r));
		return -1;
	}
	req->user = user;
	return 0;
}

enum route api_handle(struct api *api, const struct http_request *in, struct http_response *res)
{
	char id[ID_MAX + 1], user[ID_MAX + 1];
	struct api_error err;
	struct http_request rq = *in, *req = &rq;
	res->status = 500;
	res->headers[0] = '\0';
	res->openai_errors = strncmp(in->path, "/v1/", 4) == 0;
	rq.user = NULL;
	enum route route = route_match(req->path, req->method, id, &err);
	if (authenticate(api, route, req, user, res))
		return route;
	switch (route) {
	case ROUTE_CHAT: handle_chat(api, req, res); break;
	case ROUTE_HISTORY: handle_history(api, req, id, res); break;
	case ROUTE_STREAM: handle_stream(api, req, id, res); break;
	case ROUTE_HEALTH: handle_health(api, res); break;
	case ROUTE_AI_HEALTH: handle_ai_health(api, res); break;
	case ROUTE_CANCEL: handle_cancel(api, req, res); break;
	case ROUTE_METRICS: handle_metrics(api, res); break;
	case ROUTE_UI_CHAT: handle_ui_chat(api, req, res); break;
	case ROUTE_OPENAI_CHAT: handle_openai_chat(api, req, res); break;
	case ROUTE_OPENAI_MODELS: handle_openai_models(api, res); break;
	case ROUTE_SESSIONS: handle_sessions(api, req, res); break;
	case ROUTE_SESSION_DELETE: handle_session_delete(api, req, id, res); break;
	case ROUTE_COUNT: break;
	case ROUTE_NONE:
		api_error(res, err.status, err.code, err.message);
		if (err.status == 405)
			snprintf(res->headers, sizeof res->headers, "Allow: %s\r\n",
				 strstr(err.message, "POST") ? "POST"
				 : strstr(err.message, "DELETE") ? "DELETE" : "GET, HEAD");
		break;
	}
	return route;
}

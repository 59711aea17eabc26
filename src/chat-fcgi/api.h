/* The /api endpoints: each takes a parsed request, talks to Redis, and
 * fills a response. No FastCGI here, so the handlers read as the contract. */
#ifndef SC_API_H
#define SC_API_H

#include <hiredis.h>
#include <stddef.h>

#include "archive_db.h"
#include "auth.h"
#include "prom.h"
#include "redis_url.h"
#include "request.h"
#include "redis_sync.h"
#include "strbuf.h"

struct api_config {
	struct redis_cfg redis;
	size_t max_body;
	size_t max_message;
	long history_max;          /* messages kept per session */
	long jobs_maxlen;          /* approximate cap of the jobs stream */
	long node_stale_ms;        /* heartbeat age past which a node is unhealthy */
	int redis_timeout_ms;
	long cancel_ttl_s;
	long chat_per_min;         /* POST /api/chat per user per minute */
	long streams_per_user;     /* replies one user may have queued or streaming */
	long stream_stale_ms;      /* age past which such a reply no longer counts */
};

/* This process's request counts, written to Redis (node:api:{N}) after
 * each response has gone, so that /api/metrics can add up every process's. */
#define API_STATUSES 13
extern const int api_statuses[API_STATUSES - 1];   /* the last slot counts the others */
struct api_stats {
	uint64_t requests[ROUTE_COUNT][API_STATUSES];
	struct prom_hist latency[ROUTE_COUNT];
	long long registered_us;   /* last ZADD to nodes:api */
	int resumed;               /* the counts a predecessor left were read */
	/* what changed since the last write, so that only that is written */
	unsigned char dirty[ROUTE_COUNT];
	unsigned char dirty_status[ROUTE_COUNT][API_STATUSES];
	unsigned char dirty_bucket[ROUTE_COUNT][PROM_BUCKETS];
};

struct api {
	struct api_config cfg;
	struct auth auth;
	char node[128];
	struct api_stats stats;
	struct rs *redis;       /* NULL while Redis is unreachable */
	struct db archive;    /* PostgreSQL's older messages; disabled without DATABASE_URL */
	int unread_replies;        /* sent without waiting; read by api_redis */
	long long last_connect_us;
};

struct http_request {
	const char *method;
	const char *path;          /* without the query string */
	const char *query;         /* may be "" */
	const char *body;
	size_t body_len;
	const char *authorization; /* the Authorization header, or NULL */
	const char *user;          /* set by api_handle: the token's user, or NULL in
				      development mode (then ids are taken as given) */
	const char *session_header; /* X-Session-Id (the OpenAI front door's session), or NULL */
};

struct http_response {
	int status;
	struct strbuf body;
	char headers[512];         /* extra header lines, each ending in \r\n */
	const char *content_type;  /* NULL: application/json */
	int openai_errors;         /* errors in OpenAI's shape (the /v1/ routes) */
};

/* Answers req; returns the route it took, for the request counts. */
enum route api_handle(struct api *api, const struct http_request *req, struct http_response *res);
/* The Redis connection, or NULL while Redis is unreachable. */
struct rs *api_redis(struct api *api);
/* Closes the connection (after an error); the next api_redis reconnects. */
void api_drop_redis(struct api *api);

/* With a token, the user is the token's: a user_id in the request may only
 * repeat it. 0, or -1 with res filled. */
int take_user(const struct http_request *req, char user_id[ID_MAX + 1], struct http_response *res);
/* Enqueues a message whose user is settled: 0 with mid set (a new id when
 * it was ""), or -1 with res filled (403, 409, 429, 503 ...). */
int chat_enqueue(struct api *api, const struct chat_request *cr, char mid[33],
		 struct http_response *res);

/* ui_chat.c: POST /api/ui/chat, the AI SDK's DefaultChatTransport */
void handle_ui_chat(struct api *api, const struct http_request *req, struct http_response *res);
/* openai_api.c: POST /v1/chat/completions and GET /v1/models */
void handle_openai_chat(struct api *api, const struct http_request *req, struct http_response *res);
void handle_openai_models(struct api *api, struct http_response *res);
void openai_error(struct http_response *res, int status, const char *code, const char *message);
/* Where nginx fetches the reply's stream from a relay once chat-fcgi has
 * answered (X-Accel-Redirect): a relay's /stream/{mid}?format=...&session_id=,
 * the session's relay */
void stream_redirect(struct http_response *res, const char *mid, const char *session,
		     const char *format, const char *dev_user);

/* metrics.c */
void metrics_record(struct api *api, enum route route, int status, long long us);
/* Writes the counts of the routes served since the last write. */
void metrics_flush(struct api *api);
void handle_metrics(struct api *api, struct http_response *res);
void api_error(struct http_response *res, int status, const char *code, const char *message);
/* 503 with Retry-After. */
void api_unavailable(struct http_response *res, const char *why);
/* The user a GET or DELETE acts as: the token's, or in development mode
 * the query's user_id (then required). 0, or -1 with res filled. */
int api_reader(const struct http_request *req, char user[ID_MAX + 1], struct http_response *res);
const char *api_hash_field(redisReply *h, const char *name);
/* The query's integer name within [min, max], def when absent. 0, or -1
 * with res filled. */
int api_query_long(const struct http_request *req, const char *name, long def, long min,
		   long max, long *out, struct http_response *res);

/* sessions.c: GET /api/sessions and DELETE /api/sessions/{S} */
void handle_sessions(struct api *api, const struct http_request *req, struct http_response *res);
void handle_session_delete(struct api *api, const struct http_request *req, const char *sid,
			   struct http_response *res);

#endif

/* The OpenAI-compatible front door: POST /v1/chat/completions and GET
 * /v1/models, so that an OpenAI SDK with its baseURL at streamchat gets
 * replies from streamchat's workers, with their recovery.
 *
 * A completion is enqueued as POST /api/chat does, then handed over to a
 * relay (X-Accel-Redirect), which writes it as chat.completion.chunk
 * events (stream: true) or as one chat.completion (stream: false). The
 * session is the X-Session-Id header or the body's session_id, else a new
 * one, oa-{message id}; the response names the reply (X-Message-Id, and
 * each chunk's id, chatcmpl-{message id}) so that a cut stream can be
 * resumed at GET /v1/chat/completions/{id}/stream.
 * In development mode (no AUTH_SECRET) the user is the body's user field,
 * else "openai"; with a secret, the API key is the user's token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "front_request.h"
#include "keys.h"
#include "util.h"

#define OPENAI_DEV_USER "openai"

static const char *error_type(int status)
{
	switch (status) {
	case 400: case 405: case 409: case 413: return "invalid_request_error";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 429: return "rate_limit_error";
	default: return "server_error";
	}
}

void openai_error(struct http_response *res, int status, const char *code, const char *message)
{
	const char *type = error_type(status);
	sb_adds(&res->body, "{\"error\":{\"message\":");
	sb_add_json_str(&res->body, message, strlen(message));
	sb_adds(&res->body, ",\"type\":");
	sb_add_json_str(&res->body, type, strlen(type));
	sb_adds(&res->body, ",\"param\":null,\"code\":");
	sb_add_json_str(&res->body, code, strlen(code));
	sb_adds(&res->body, "}}");
}

/* The header's session wins over the body's; with neither, a new one
 * named after the reply, oa-{message id}, so that a client that reads only
 * X-Message-Id (or a chunk's id) can still name the session later. */
/* A reply id M and its session "oa-M" in one partition (a message's keys
 * live in its session's): the partition digit M carries is tried against
 * each value until it names the partition of "oa-M" itself. */
static int mint_own_session(char mid[33], char *session, size_t size)
{
	for (int tries = 0; tries < 64; tries++) {
		if (new_message_id(mid, 0))
			return -1;
		for (int p = 0; p < PARTITIONS; p++) {
			mid[12] = "0123456789abcdef"[p];
			snprintf(session, size, "oa-%s", mid);
			if (session_partition(session) == p)
				return 0;
		}
	}
	return -1;
}

static int pick_session(const struct http_request *req, struct chat_request *cr, char mid[33],
			struct http_response *res)
{
	const char *h = req->session_header;
	if (h && *h) {
		if (!valid_id(h, strlen(h))) {
			api_error(res, 400, "invalid_request",
				  "X-Session-Id must be 1-64 characters of [A-Za-z0-9_.:-]");
			return -1;
		}
		snprintf(cr->session_id, sizeof cr->session_id, "%s", h);
	}
	if (cr->session_id[0])
		return 0;
	if (mint_own_session(mid, cr->session_id, sizeof cr->session_id)) {
		api_error(res, 500, "internal", "no randomness for a message id");
		return -1;
	}
	return 0;
}

void handle_openai_chat(struct api *api, const struct http_request *req, struct http_response *res)
{
	struct openai_chat_request oc;
	struct api_error err;
	char mid[33] = "";
	if (parse_openai_chat_request(req->body, req->body_len, api->cfg.max_message, &oc, &err)) {
		api_error(res, err.status, err.code, err.message);
		return;
	}
	struct chat_request *cr = &oc.chat;
	/* OpenAI's user is any end-user label: with a token it is not ours to check */
	if (!req->user)
		snprintf(cr->user_id, sizeof cr->user_id, "%s", oc.user[0] ? oc.user : OPENAI_DEV_USER);
	if (!pick_session(req, cr, mid, res) && !take_user(req, cr->user_id, res) &&
	    !chat_enqueue(api, cr, mid, res))
		stream_redirect(res, mid, cr->session_id, oc.stream ? "openai" : "openai-json",
				req->user ? NULL : cr->user_id);
	chat_request_release(cr);
}

/* The models of the workers alive now (their heartbeats' model field),
 * each once, in OpenAI's list shape. */
void handle_openai_models(struct api *api, struct http_response *res)
{
	struct rs *c = api_redis(api);
	char knodes[KEY_MAX];
	redisReply *ids = c ? rs_command(c, "ZRANGE %s 0 -1", key_nodes_ai(knodes)) : NULL;
	if (!ids || ids->type != REDIS_REPLY_ARRAY) {
		if (ids)
			freeReplyObject(ids);
		else if (c)
			api_drop_redis(api);
		api_error(res, 503, "unavailable", "redis is unreachable");
		return;
	}
	struct strbuf seen = STRBUF_INIT;   /* "\n"-framed models listed so far */
	long long fresh = (long long)now_ms() - api->cfg.node_stale_ms;
	res->status = 200;
	sb_adds(&res->body, "{\"object\":\"list\",\"data\":[");
	int listed = 0;
	for (size_t i = 0; i < ids->elements; i++) {
		char k[KEY_MAX];
		redisReply *h = rs_command(c, "HMGET %s last_seen_ms model",
					     key_node_ai(k, ids->element[i]->str));
		if (!h) {
			api_drop_redis(api);
			break;
		}
		if (h->type == REDIS_REPLY_ARRAY && h->elements == 2 &&
		    h->element[0]->type == REDIS_REPLY_STRING && h->element[1]->type == REDIS_REPLY_STRING &&
		    atoll(h->element[0]->str) >= fresh) {
			const char *m = h->element[1]->str;
			char framed[MODEL_MAX + 8];
			snprintf(framed, sizeof framed, "\n%.*s\n", MODEL_MAX, m);
			if (!seen.buf || !strstr(seen.buf, framed)) {
				sb_adds(&seen, framed);
				sb_adds(&res->body, listed++ ? "," : "");
				sb_adds(&res->body, "{\"id\":");
				sb_add_json_str(&res->body, m, strlen(m));
				sb_adds(&res->body, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"streamchat\"}");
			}
		}
		freeReplyObject(h);
	}
	sb_adds(&res->body, "]}");
	sb_release(&seen);
	freeReplyObject(ids);
}

/* POST /api/ui/chat: the AI SDK's useChat with DefaultChatTransport.
 *
 * chat-fcgi enqueues the message as POST /api/chat does, then hands the
 * stream over: X-Accel-Redirect sends nginx to a relay, which writes the
 * reply as UI message stream parts. A FastCGI responder serves one
 * request at a time, so it never holds a stream itself; and the reply,
 * owned by a worker, goes on when the client aborts its fetch (only POST
 * /api/cancel stops it). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "front_request.h"

void stream_redirect(struct http_response *res, const char *mid, const char *session,
		     const char *format, const char *dev_user)
{
	res->status = 200;
	sb_reset(&res->body);
	/* nginx keeps none of these headers but the redirect: the relay's
	 * response names the message (X-Message-Id). In development mode the
	 * relay checks the owner against the user named here. session_id is
	 * what nginx hashes on to pick the relay: the one that holds the
	 * session's sockets already (and, to the relay, where the reply's text
	 * is once its chunks have expired). */
	snprintf(res->headers, sizeof res->headers,
		 "X-Accel-Redirect: /internal/stream/%s?format=%s&session_id=%s%s%s\r\n", mid, format,
		 session, dev_user ? "&user_id=" : "", dev_user ? dev_user : "");
}

void handle_ui_chat(struct api *api, const struct http_request *req, struct http_response *res)
{
	struct chat_request cr;
	struct api_error err;
	char mid[33] = "";
	if (parse_ui_chat_request(req->body, req->body_len, api->cfg.max_message, &cr, &err)) {
		api_error(res, err.status, err.code, err.message);
		return;
	}
	/* a transport adds the user to the body (body: { user_id }) or to the URL */
	if (!cr.user_id[0] && query_get(req->query, "user_id", cr.user_id, sizeof cr.user_id) == 1 &&
	    !valid_id(cr.user_id, strlen(cr.user_id))) {
		api_error(res, 400, "invalid_request", "user_id must be 1-64 characters of [A-Za-z0-9_.:-]");
		goto out;
	}
	if (!take_user(req, cr.user_id, res) && !chat_enqueue(api, &cr, mid, res))
		stream_redirect(res, mid, cr.session_id, "ui", req->user ? NULL : cr.user_id);
out:
	chat_request_release(&cr);
}

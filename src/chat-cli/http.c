#include "http.h"

#include <curl/curl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "xalloc.h"

static char bearer[JWT_MAX + 32];

void api_set_token(const char *token)
{
	snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", token);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	sb_add(ud, p, sz * n);
	return sz * n;
}

/* One request; the body read into resp. Returns the HTTP status, or 0 after
 * saying why on stderr. */
static long request(const char *url, const struct strbuf *body, int timeout_s, struct strbuf *resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	long status = 0;
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (bearer[0])
		h = curl_slist_append(h, bearer);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->buf);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fprintf(stderr, "chat-cli: %s %s: %s\n", body ? "POST" : "GET", url,
			curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

char *api_post_chat(const char *base, const char *session, const char *user, const char *message,
		    const char *model, int timeout_s)
{
	struct strbuf body = STRBUF_INIT, resp = STRBUF_INIT;
	char url[1024];
	char *mid = NULL;
	snprintf(url, sizeof url, "%s/api/chat", base);
	sb_adds(&body, "{\"session_id\":");
	sb_add_json_str(&body, session, strlen(session));
	if (user) {
		sb_adds(&body, ",\"user_id\":");
		sb_add_json_str(&body, user, strlen(user));
	}
	sb_adds(&body, ",\"message\":");
	sb_add_json_str(&body, message, strlen(message));
	if (model) {
		sb_adds(&body, ",\"model\":");
		sb_add_json_str(&body, model, strlen(model));
	}
	sb_addc(&body, '}');
	long status = request(url, &body, timeout_s, &resp);
	if (status == 202) {
		json_object *j = json_tokener_parse(resp.buf ? resp.buf : "");
		const char *m = j ? jstr(j, "message_id") : NULL;
		mid = m ? xstrdup(m) : NULL;
		json_object_put(j);
	} else if (status)
		fprintf(stderr, "chat-cli: POST %s: %ld %s\n", url, status, resp.buf ? resp.buf : "");
	sb_release(&body);
	sb_release(&resp);
	return mid;
}

int api_history_item(const char *base, const char *session, const char *user, const char *mid,
		     int timeout_s, struct strbuf *content, char *status, size_t statuslen)
{
	struct strbuf resp = STRBUF_INIT;
	char url[1024];
	int rc = -1;
	snprintf(url, sizeof url, "%s/api/history/%s%s%s", base, session, user ? "?user_id=" : "",
		 user ? user : "");
	long http = request(url, NULL, timeout_s, &resp);
	json_object *j = http == 200 ? json_tokener_parse(resp.buf ? resp.buf : "") : NULL, *msgs;
	if (http && http != 200)
		fprintf(stderr, "chat-cli: GET %s: %ld %s\n", url, http, resp.buf ? resp.buf : "");
	size_t n = j && json_object_object_get_ex(j, "messages", &msgs) ?
		   json_object_array_length(msgs) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		const char *id = jstr(m, "message_id"), *text = jstr(m, "content"), *st = jstr(m, "status");
		if (id && !strcmp(id, mid) && text && st) {
			sb_reset(content);
			sb_adds(content, text);
			snprintf(status, statuslen, "%s", st);
			rc = 0;
		}
	}
	if (http == 200 && rc)
		fprintf(stderr, "chat-cli: message %s is not in the history of %s\n", mid, session);
	json_object_put(j);
	sb_release(&resp);
	return rc;
}

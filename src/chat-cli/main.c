/* chat-cli: a terminal client of streamchat, and the tool the tests drive.
 *
 *   chat-cli --session S "message"      send, print the reply as it streams
 *   chat-cli --session S --watch        print the reply in progress (or the
 *                                       next one) until it ends
 *   --raw                               every frame received, one JSON line each
 *
 * It connects the WebSocket first and posts only after `welcome`, as the
 * contract asks, and checks that chunk indices arrive without a hole or a
 * repeat (exit 3 if not). Exit codes: 0 complete, 1 error, 2 usage,
 * 3 gap or duplicate, 4 cancelled, 5 error frame, 6 timeout, 7 closed. */
#include <curl/curl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "validate.h"
#include "wsclient.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

enum { EXIT_OK, EXIT_ERR, EXIT_USAGE, EXIT_GAP, EXIT_CANCELLED, EXIT_ERRFRAME, EXIT_TIMEOUT,
       EXIT_CLOSED };

struct opts {
	const char *url, *ws_url, *session, *user, *message, *model, *follow_mid;
	int raw, watch, timeout_s;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chat-cli [options] --session S \"message\"\n"
		"       chat-cli [options] --session S --watch\n"
		"  --url URL        the API base, through nginx (default http://127.0.0.1:8080)\n"
		"  --ws-url URL     the WebSocket base (default: --url with ws://, path /ws/chat)\n"
		"  --user U         user id (default: $USER or cli)\n"
		"  --model M        model to ask for\n"
		"  --raw            print every frame as one JSON line\n"
		"  --watch          do not send; follow the reply in progress or the next one\n"
		"  --message M      with --watch: follow reply M (it may have ended already)\n"
		"  --timeout SEC    give up after SEC seconds (default 60)\n");
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	sb_add(ud, p, sz * n);
	return sz * n;
}

/* POST /api/chat; returns the message id (malloc'd) or NULL. */
static char *post_chat(const struct opts *o)
{
	struct strbuf body = STRBUF_INIT, resp = STRBUF_INIT;
	char url[1024];
	char *mid = NULL;
	snprintf(url, sizeof url, "%s/api/chat", o->url);
	sb_adds(&body, "{\"session_id\":");
	sb_add_json_str(&body, o->session, strlen(o->session));
	sb_adds(&body, ",\"user_id\":");
	sb_add_json_str(&body, o->user, strlen(o->user));
	sb_adds(&body, ",\"message\":");
	sb_add_json_str(&body, o->message, strlen(o->message));
	if (o->model) {
		sb_adds(&body, ",\"model\":");
		sb_add_json_str(&body, o->model, strlen(o->model));
	}
	sb_addc(&body, '}');
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.buf);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)o->timeout_s);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		fprintf(stderr, "chat-cli: POST %s: %s\n", url, curl_easy_strerror(rc));
	else if (status != 202)
		fprintf(stderr, "chat-cli: POST %s: %ld %s\n", url, status, resp.buf ? resp.buf : "");
	else {
		json_object *j = json_tokener_parse(resp.buf ? resp.buf : ""), *v;
		if (j && json_object_object_get_ex(j, "message_id", &v))
			mid = strdup(json_object_get_string(v));
		json_object_put(j);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	sb_release(&body);
	sb_release(&resp);
	return mid;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static long jlong(json_object *o, const char *k, long def)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? (long)json_object_get_int64(v) : def;
}

struct follow {
	char mid[ID_MAX + 1];   /* the reply followed; empty until known */
	long next;              /* index expected next */
	struct strbuf text;
};

/* Handles one frame. Returns -1 to go on, or an exit code. */
static int on_frame(const struct opts *o, struct follow *f, const char *msg, size_t len)
{
	if (o->raw) {
		fwrite(msg, 1, len, stdout);
		putchar('\n');
		fflush(stdout);
	}
	json_object *j = json_tokener_parse(msg);
	if (!j) {
		fprintf(stderr, "chat-cli: server sent a frame that is not JSON\n");
		return EXIT_ERR;
	}
	int rc = -1;
	const char *type = jstr(j, "type"), *mid = jstr(j, "messageId");
	if (!type)
		goto out;
	if (!strcmp(type, "history") && o->watch) {
		json_object *msgs, *it = NULL;
		size_t n = json_object_object_get_ex(j, "messages", &msgs) ?
			   json_object_array_length(msgs) : 0;
		for (size_t i = n; i-- > 0 && !it;) {
			json_object *m = json_object_array_get_idx(msgs, i);
			const char *id = jstr(m, "message_id"), *st = jstr(m, "status");
			if (o->follow_mid ? id && !strcmp(id, o->follow_mid)
					  : i == n - 1 && st && !strcmp(st, "streaming"))
				it = m;
		}
		if (it) {
			const char *t = jstr(it, "content"), *st = jstr(it, "status");
			snprintf(f->mid, sizeof f->mid, "%s", jstr(it, "message_id"));
			sb_adds(&f->text, t ? t : "");
			if (!o->raw)
				fputs(t ? t : "", stdout);
			if (st && strcmp(st, "streaming") != 0) {
				/* it has ended: the history holds all of it */
				if (!o->raw)
					putchar('\n');
				rc = !strcmp(st, "complete") ? EXIT_OK : !strcmp(st, "cancelled")
					? EXIT_CANCELLED : EXIT_ERRFRAME;
			}
			f->next = jlong(it, "lastChunkIndex", -1) + 1;
			fflush(stdout);
		} else if (o->follow_mid)
			snprintf(f->mid, sizeof f->mid, "%s", o->follow_mid);
		goto out;
	}
	if (!mid)
		goto out;
	if (!f->mid[0] && o->watch && !strcmp(type, "chunk"))
		snprintf(f->mid, sizeof f->mid, "%s", mid);
	if (strcmp(mid, f->mid) != 0)
		goto out;
	if (!strcmp(type, "chunk")) {
		long idx = jlong(j, "index", -1);
		if (idx != f->next) {
			fprintf(stderr, "chat-cli: %s at index %ld, expected %ld\n",
				idx < f->next ? "duplicate" : "gap", idx, f->next);
			rc = EXIT_GAP;
			goto out;
		}
		f->next++;
		const char *t = jstr(j, "content");
		sb_adds(&f->text, t ? t : "");
		if (!o->raw) {
			fputs(t ? t : "", stdout);
			fflush(stdout);
		}
	} else if (!strcmp(type, "complete") || !strcmp(type, "cancelled")) {
		long total = jlong(j, "totalChunks", -1);
		if (total != f->next) {
			fprintf(stderr, "chat-cli: %s with totalChunks %ld after %ld chunks\n", type,
				total, f->next);
			rc = EXIT_GAP;
		} else
			rc = !strcmp(type, "complete") ? EXIT_OK : EXIT_CANCELLED;
		if (!o->raw)
			putchar('\n');
	} else if (!strcmp(type, "error")) {
		fprintf(stderr, "chat-cli: error %s: %s\n", jstr(j, "code"), jstr(j, "message"));
		rc = EXIT_ERRFRAME;
	}
out:
	json_object_put(j);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { "http://127.0.0.1:8080", NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 60 };
	o.user = env_str("USER", "cli");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		long v;
		if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("chat-cli %s\n", VERSION);
			return 0;
		} else if (!strcmp(a, "--url") && has)
			o.url = argv[++i];
		else if (!strcmp(a, "--ws-url") && has)
			o.ws_url = argv[++i];
		else if (!strcmp(a, "--session") && has)
			o.session = argv[++i];
		else if (!strcmp(a, "--user") && has)
			o.user = argv[++i];
		else if (!strcmp(a, "--message") && has)
			o.follow_mid = argv[++i];
		else if (!strcmp(a, "--model") && has)
			o.model = argv[++i];
		else if (!strcmp(a, "--timeout") && has && !parse_long(argv[i + 1], 1, 86400, &v)) {
			o.timeout_s = (int)v;
			i++;
		} else if (!strcmp(a, "--raw"))
			o.raw = 1;
		else if (!strcmp(a, "--watch"))
			o.watch = 1;
		else if (a[0] != '-' && !o.message)
			o.message = a;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!o.session || (!o.message && !o.watch) || (o.message && o.watch)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!valid_id(o.session, strlen(o.session)) || !valid_id(o.user, strlen(o.user))) {
		fprintf(stderr, "chat-cli: session and user ids are 1-64 of [A-Za-z0-9_.:-]\n");
		return EXIT_USAGE;
	}

	char host[256], path[1024], wspath[1400];
	int port;
	if (url_split(o.ws_url ? o.ws_url : o.url, host, sizeof host, &port, path, sizeof path)) {
		fprintf(stderr, "chat-cli: cannot use URL %s\n", o.ws_url ? o.ws_url : o.url);
		return EXIT_USAGE;
	}
	snprintf(wspath, sizeof wspath, "%s?session_id=%s&user_id=%s",
		 o.ws_url && strcmp(path, "/") ? path : "/ws/chat", o.session, o.user);

	struct wsclient ws;
	char err[256];
	if (ws_connect(&ws, host, port, wspath, 5000, err, sizeof err)) {
		fprintf(stderr, "chat-cli: %s\n", err);
		return EXIT_CLOSED;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct follow f = { "", 0, STRBUF_INIT };
	int64_t deadline = mono_us() + (int64_t)o.timeout_s * 1000000;
	int rc = -1, welcomed = 0;
	while (rc < 0) {
		int left = (int)((deadline - mono_us()) / 1000);
		if (left <= 0) {
			fprintf(stderr, "chat-cli: timed out after %d s\n", o.timeout_s);
			rc = EXIT_TIMEOUT;
			break;
		}
		int r = ws_recv(&ws, left);
		if (r < 0) {
			fprintf(stderr, "chat-cli: connection closed (%d %s)\n", ws.close_code,
				ws.close_reason);
			rc = EXIT_CLOSED;
			break;
		}
		if (r == 0)
			continue;
		rc = on_frame(&o, &f, ws.msg, ws.msglen);
		if (rc < 0 && !welcomed && strstr(ws.msg, "\"type\":\"history\"")) {
			welcomed = 1;
			if (o.message) {
				char *mid = post_chat(&o);
				if (!mid) {
					rc = EXIT_ERR;
					break;
				}
				snprintf(f.mid, sizeof f.mid, "%s", mid);
				free(mid);
			}
		}
	}
	ws_close(&ws);
	sb_release(&f.text);
	curl_global_cleanup();
	return rc;
}

/* chat-cli: a terminal client of streamchat, and the tool the tests drive.
 *
 *   chat-cli --session S "message"      send, print the reply as it streams
 *   chat-cli --session S --watch        print the reply in progress (or the
 *                                       next one) until it ends
 *   --raw                               every frame received, one JSON line each
 *
 * It connects the WebSocket first and posts only after the history frame, as
 * the contract asks. When the connection drops it reconnects by itself, with
 * backoff and jitter (at once after 1001), and resumes where it was: with
 * the messageId/lastChunkIndex pair on the URL (--resume url, the default)
 * or with a reconnect frame (--resume frame). It places chunks by index and
 * fails on a repeat or a hole (exit 3); with the URL way it also fails on a
 * chunk out of order, which the relay promises never to send.
 *
 * Exit codes: 0 complete, 1 error, 2 usage, 3 gap, repeat or disorder,
 * 4 cancelled, 5 error frame, 6 timeout, 7 closed for good. */
#include <curl/curl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "reply.h"
#include "strbuf.h"
#include "util.h"
#include "validate.h"
#include "wsclient.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

enum { EXIT_OK, EXIT_ERR, EXIT_USAGE, EXIT_GAP, EXIT_CANCELLED, EXIT_ERRFRAME, EXIT_TIMEOUT,
       EXIT_CLOSED };
/* session_loop's answers besides an exit code */
enum { GO_ON = -1, RECONNECT = -2, RECONNECT_NOW = -3 };

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000

struct opts {
	const char *url, *ws_url, *session, *user, *message, *model, *follow_mid;
	const char *token;   /* with a token the server knows the user: no user_id is sent */
	int raw, watch, timeout_s, stats, reconnect, resume_frame, rcvbuf, stall_s;
	int has_after;
	long after;          /* --after I: chunks 0..I of --message are held already */
	long drop_every;     /* drop the connection after every N chunk frames */
	long stall_after;    /* stop reading for stall_s after N frames */
};

struct client {
	const struct opts *o;
	char host[256], path[1024];
	int port;
	struct wsclient ws;
	int64_t deadline;
	struct reply r;          /* the reply followed; r.mid empty until known */
	int posted, stalled;
	int awaiting_recovery;   /* a resume was asked for, its recovery_status not seen */
	long reconnects, frames, conn_chunks;
	char nodes[256];         /* relays this client was served by */
};

static const struct knob knobs[] = {
	KNOB_TEXT("USER", "cli", NULL, "the user id when there is no --user"),
	KNOB_TEXT("CHAT_TOKEN", NULL, NULL, "the token when there is no --token"),
};
static const struct knob_table cli_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = { &cli_knobs, &auth_knobs, NULL };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chat-cli [options] --session S \"message\"\n"
		"       chat-cli [options] --session S --watch [--message M [--after I]]\n"
		"  --url URL        the API base, through nginx (default http://127.0.0.1:8080)\n"
		"  --ws-url URL     the WebSocket base (default: --url with ws://, path /ws/chat)\n"
		"  --user U         user id (default: $USER or cli)\n"
		"  --token T        an HS256 token for a server with AUTH_SECRET (or $CHAT_TOKEN)\n"
		"  --model M        model to ask for\n"
		"  --raw            print every frame as one JSON line\n"
		"  --watch          do not send; follow the reply in progress or the next one\n"
		"  --message M      with --watch: follow reply M (it may have ended already)\n"
		"  --after I        with --message: chunks 0..I are held already; resume after I\n"
		"  --resume url|frame  how to resume after a drop (default url)\n"
		"  --no-reconnect   exit 7 when the connection drops\n"
		"  --timeout SEC    give up after SEC seconds (default 60)\n"
		"  --stats          print chunks, reconnects, repeats and relays on stderr at the end\n"
		"for testing the server:\n"
		"  --drop-every N   close the connection after every N chunk frames, and resume\n"
		"  --stall-after N  stop reading for --stall SEC (default 5) after N frames\n"
		"  --rcvbuf BYTES   the socket's receive buffer\n"
		"       chat-cli token USER [--ttl SEC]\n"
		"  prints a token for USER signed with AUTH_SECRET or AUTH_SECRET_FILE's first line\n"
		"  (default ttl 3600; a negative ttl makes an expired one)\n\n");
	config_usage(f, all_knobs);
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

static int ms_left(const struct client *cl)
{
	int64_t us = cl->deadline - mono_us();
	return us > 0 ? (int)(us / 1000) + 1 : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Capped exponential backoff with jitter, so that the clients of a relay
 * that died do not all come back in the same millisecond. */
static long backoff_ms(int attempt)
{
	long d = BACKOFF_FIRST_MS << (attempt < 6 ? attempt : 6);
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return d / 2 + random() % (d / 2 + 1);
}

static int exit_for(const char *status)
{
	return !strcmp(status, "complete") ? EXIT_OK : !strcmp(status, "cancelled") ? EXIT_CANCELLED
										  : EXIT_ERRFRAME;
}

static void print_text(const struct client *cl, const char *s, size_t n)
{
	if (cl->o->raw || !n)
		return;
	fwrite(s, 1, n, stdout);
	fflush(stdout);
}

static int finish(struct client *cl)
{
	if (!cl->o->raw)
		putchar('\n');
	return exit_for(cl->r.status);
}

/* Chunks must come in index order on the first connection and after a
 * resume by URL; after a reconnect frame, live chunks the relay sent before
 * it read the frame may precede the replay. */
static int in_order_expected(const struct client *cl)
{
	return !cl->o->resume_frame || (cl->reconnects == 0 && !cl->o->has_after);
}

/* The relay no longer has the reply's chunks: the history has its text,
 * of which the client printed the first r.text.len bytes (or, after
 * --after, an unknown part: then nothing more is printed). */
static int finish_from_history(struct client *cl)
{
	struct strbuf content = STRBUF_INIT;
	char status[16];
	int rc = EXIT_ERR;
	if (api_history_item(cl->o->url, cl->o->session, cl->o->token ? NULL : cl->o->user, cl->r.mid, ms_left(cl) / 1000 + 1,
			     &content, status, sizeof status) != 0)
		goto out;
	size_t have = cl->r.text.len;
	int unknown = have == 0 && cl->r.next > 0;
	if (unknown)
		have = content.len;
	else if (content.len < have || (have && memcmp(content.buf, cl->r.text.buf, have) != 0)) {
		fprintf(stderr, "chat-cli: the history's text differs from the chunks received\n");
		rc = EXIT_GAP;
		goto out;
	}
	if (!strcmp(status, "streaming")) {
		fprintf(stderr, "chat-cli: message %s is neither streaming nor in the chunk cache\n",
			cl->r.mid);
	} else {
		if (content.len > have)
			print_text(cl, content.buf + have, content.len - have);
		snprintf(cl->r.status, sizeof cl->r.status, "%s", status);
		rc = finish(cl);
	}
out:
	sb_release(&content);
	return rc;
}

/* --watch: the history frame tells what to follow and how much of it. */
static int watch_from_history(struct client *cl, json_object *j)
{
	const struct opts *o = cl->o;
	json_object *msgs, *it = NULL;
	size_t n = json_object_object_get_ex(j, "messages", &msgs) ? json_object_array_length(msgs) : 0;
	for (size_t i = n; i-- > 0 && !it;) {
		json_object *m = json_object_array_get_idx(msgs, i);
		const char *id = jstr(m, "message_id"), *st = jstr(m, "status");
		if (o->follow_mid ? id && !strcmp(id, o->follow_mid)
				  : i == n - 1 && st && !strcmp(st, "streaming"))
			it = m;
	}
	if (!it) {
		if (o->follow_mid)
			reply_init(&cl->r, o->follow_mid);
		return GO_ON;
	}
	const char *t = jstr(it, "content"), *st = jstr(it, "status");
	reply_init(&cl->r, jstr(it, "message_id"));
	t = t ? t : "";
	print_text(cl, t, strlen(t));
	if (st && strcmp(st, "streaming") != 0) {
		/* it has ended: the history holds all of it */
		snprintf(cl->r.status, sizeof cl->r.status, "%s", st);
		return finish(cl);
	}
	reply_set_prefix(&cl->r, t, strlen(t), jlong(it, "lastChunkIndex", -1));
	return GO_ON;
}

static void note_node(struct client *cl, const char *node)
{
	size_t n = strlen(node);
	const char *p = cl->nodes;
	while ((p = strstr(p, node))) {
		if ((p == cl->nodes || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return;
		p += n;
	}
	size_t used = strlen(cl->nodes);
	snprintf(cl->nodes + used, sizeof cl->nodes - used, "%s%s", used ? "," : "", node);
}

static int on_chunk(struct client *cl, json_object *j)
{
	long idx = jlong(j, "index", -1);
	const char *t = jstr(j, "content");
	size_t tl = t ? strlen(t) : 0;
	if (in_order_expected(cl) && idx != cl->r.next) {
		fprintf(stderr, "chat-cli: %s at index %ld, expected %ld\n",
			idx < cl->r.next ? "repeat" : "chunk out of order", idx, cl->r.next);
		return EXIT_GAP;
	}
	struct strbuf out = STRBUF_INIT;
	int fresh = reply_add(&cl->r, idx, t ? t : "", tl, &out);
	print_text(cl, out.buf, out.len);
	sb_release(&out);
	if (!fresh) {
		fprintf(stderr, "chat-cli: repeat of chunk %ld\n", idx);
		return EXIT_GAP;
	}
	cl->conn_chunks++;
	return reply_done(&cl->r) ? finish(cl) : GO_ON;
}

/* An end frame, or a recovery_status after which nothing more of the reply
 * can come: the reply must be whole by now. */
static int check_whole(struct client *cl, const char *what)
{
	if (reply_done(&cl->r))
		return finish(cl);
	if (!cl->r.status[0] || cl->awaiting_recovery)
		return GO_ON;
	fprintf(stderr, "chat-cli: %s with totalChunks %ld after %ld chunks\n", what, cl->r.total,
		cl->r.next);
	return EXIT_GAP;
}

/* Handles one frame. Returns GO_ON or an exit code. */
static int on_frame(struct client *cl, const char *msg, size_t len, int *greeted)
{
	const struct opts *o = cl->o;
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
	int rc = GO_ON;
	const char *type = jstr(j, "type"), *mid = jstr(j, "messageId");
	if (!type)
		goto out;
	if (!strcmp(type, "welcome")) {
		const char *node = jstr(j, "nodeId");
		note_node(cl, node ? node : "?");
		goto out;
	}
	if (!strcmp(type, "history")) {
		*greeted = 1;
		if (o->watch && !cl->r.mid[0] && !o->has_after)
			rc = watch_from_history(cl, j);
		goto out;
	}
	if (!mid)
		goto out;
	if (!cl->r.mid[0] && o->watch && !o->follow_mid && !strcmp(type, "chunk"))
		reply_init(&cl->r, mid);  /* --watch with nothing streaming: the next reply */
	if (strcmp(mid, cl->r.mid) != 0)
		goto out;
	if (!strcmp(type, "chunk"))
		rc = on_chunk(cl, j);
	else if (!strcmp(type, "complete") || !strcmp(type, "cancelled")) {
		reply_end(&cl->r, type, jlong(j, "totalChunks", -1));
		rc = check_whole(cl, type);
	} else if (!strcmp(type, "error")) {
		const char *code = jstr(j, "code");
		fprintf(stderr, "chat-cli: error %s: %s\n", code, jstr(j, "message"));
		rc = EXIT_ERRFRAME;
	} else if (!strcmp(type, "recovery_status")) {
		cl->awaiting_recovery = 0;
		const char *st = jstr(j, "status");
		rc = st && !strcmp(st, "not_found") ? finish_from_history(cl)
						    : check_whole(cl, "recovery");
	}
out:
	json_object_put(j);
	return rc;
}

/* Where to resume, when the client holds part of a reply. */
static int resuming(const struct client *cl)
{
	return cl->r.mid[0] && (cl->reconnects > 0 || cl->o->has_after);
}

static int after_greeting(struct client *cl)
{
	const struct opts *o = cl->o;
	if (o->message && !cl->posted) {
		char *mid = api_post_chat(o->url, o->session, o->token ? NULL : o->user, o->message, o->model,
					  ms_left(cl) / 1000 + 1);
		if (!mid)
			return EXIT_ERR;
		cl->posted = 1;
		reply_init(&cl->r, mid);
		free(mid);
	} else if (resuming(cl) && o->resume_frame) {
		char frame[160];
		int n = snprintf(frame, sizeof frame,
				 "{\"type\":\"reconnect\",\"messageId\":\"%s\",\"lastChunkIndex\":%ld}",
				 cl->r.mid, reply_last(&cl->r));
		if (ws_send_text(&cl->ws, frame, (size_t)n))
			return RECONNECT;
		cl->awaiting_recovery = 1;
	}
	return GO_ON;
}

static int fatal_close(int code)
{
	return code == 1008 || code == 1009 || code == 4400 || code == 4401 || code == 4403;
}

/* One connection, until the reply ends or the connection does. */
static int session_loop(struct client *cl, int *attempt)
{
	const struct opts *o = cl->o;
	int greeted = 0;
	cl->conn_chunks = 0;
	for (;;) {
		int left = ms_left(cl);
		if (left <= 0) {
			fprintf(stderr, "chat-cli: timed out after %d s\n", o->timeout_s);
			return EXIT_TIMEOUT;
		}
		if (o->stall_after && cl->frames >= o->stall_after && !cl->stalled) {
			cl->stalled = 1;
			sleep_ms(o->stall_s * 1000L);
		}
		int r = ws_recv(&cl->ws, left);
		if (r == 0)
			continue;
		if (r < 0) {
			int code = cl->ws.close_code;
			int again = o->reconnect && !fatal_close(code);
			fprintf(stderr, "chat-cli: connection closed (%d %s)%s\n", code,
				cl->ws.close_reason, again ? ", reconnecting" : "");
			return !again ? EXIT_CLOSED : code == 1001 ? RECONNECT_NOW : RECONNECT;
		}
		cl->frames++;
		int was_greeted = greeted;
		int rc = on_frame(cl, cl->ws.msg, cl->ws.msglen, &greeted);
		if (rc == GO_ON && greeted && !was_greeted) {
			*attempt = 0;
			rc = after_greeting(cl);
		}
		if (rc != GO_ON)
			return rc;
		if (o->drop_every && cl->conn_chunks >= o->drop_every) {
			fprintf(stderr, "chat-cli: dropping the connection after %ld chunks, as asked\n",
				cl->conn_chunks);
			return RECONNECT_NOW;
		}
	}
}

static void ws_path(const struct client *cl, char *out, size_t outlen)
{
	const struct opts *o = cl->o;
	/* a token goes as a header (ws_connect), not in the URL that logs keep */
	int n = o->token ? snprintf(out, outlen, "%s?session_id=%s", cl->path, o->session)
			 : snprintf(out, outlen, "%s?session_id=%s&user_id=%s", cl->path, o->session,
				    o->user);
	if (resuming(cl) && !o->resume_frame && n > 0 && (size_t)n < outlen)
		snprintf(out + n, outlen - (size_t)n, "&messageId=%s&lastChunkIndex=%ld", cl->r.mid,
			 reply_last(&cl->r));
}

static int run(struct client *cl)
{
	const struct opts *o = cl->o;
	int attempt = 0;
	for (;;) {
		int left = ms_left(cl);
		if (left <= 0) {
			fprintf(stderr, "chat-cli: timed out after %d s\n", o->timeout_s);
			return EXIT_TIMEOUT;
		}
		char path[JWT_MAX + 1400], err[256];
		ws_path(cl, path, sizeof path);
		int rc;
		if (ws_connect(&cl->ws, cl->host, cl->port, path, o->token, left < 5000 ? left : 5000, o->rcvbuf, err,
			       sizeof err)) {
			fprintf(stderr, "chat-cli: %s\n", err);
			rc = RECONNECT;
			if (!o->reconnect)
				return EXIT_CLOSED;
		} else {
			rc = session_loop(cl, &attempt);
			ws_close(&cl->ws);
			if (rc >= 0)
				return rc;
			if (cl->r.mid[0])
				cl->reconnects++;
		}
		if (rc == RECONNECT)
			sleep_ms(backoff_ms(attempt++));
	}
}

/* chat-cli token USER [--ttl SEC] */
static int make_token(int argc, char **argv)
{
	long ttl = 3600;
	if (argc < 3 || !valid_id(argv[2], strlen(argv[2])) ||
	    (argc == 5 && (strcmp(argv[3], "--ttl") || parse_long(argv[4], -86400L * 365, 86400L * 365, &ttl))) ||
	    (argc != 3 && argc != 5)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct auth a;
	auth_load(&a);
	if (!a.enabled) {
		fprintf(stderr, "chat-cli: token: set AUTH_SECRET or AUTH_SECRET_FILE\n");
		return EXIT_USAGE;
	}
	struct strbuf sb = STRBUF_INIT;
	int64_t now = now_ms() / 1000;
	jwt_sign(&sb, argv[2], now, now + ttl, a.keys.key[0], a.keys.len[0]);
	printf("%s\n", sb.buf);
	sb_release(&sb);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("chat-cli");
	if (argc > 1 && !strcmp(argv[1], "token"))
		return make_token(argc, argv);
	struct opts o = { .url = "http://127.0.0.1:8080", .timeout_s = 60, .reconnect = 1,
			  .stall_s = 5 };
	o.user = config_text(&cli_knobs, "USER");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		long v = 0;
		int num = has && !parse_long(argv[i + 1], 0, 1L << 30, &v);
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
		else if (!strcmp(a, "--token") && has)
			o.token = argv[++i];
		else if (!strcmp(a, "--message") && has)
			o.follow_mid = argv[++i];
		else if (!strcmp(a, "--model") && has)
			o.model = argv[++i];
		else if (!strcmp(a, "--resume") && has && (!strcmp(argv[i + 1], "url") ||
							    !strcmp(argv[i + 1], "frame")))
			o.resume_frame = !strcmp(argv[++i], "frame");
		else if (!strcmp(a, "--timeout") && num && v >= 1 && v <= 86400)
			o.timeout_s = (int)v, i++;
		else if (!strcmp(a, "--after") && has && !parse_long(argv[i + 1], -1, 1L << 30, &v))
			o.after = v, o.has_after = 1, i++;
		else if (!strcmp(a, "--drop-every") && num && v >= 1)
			o.drop_every = v, i++;
		else if (!strcmp(a, "--stall-after") && num && v >= 1)
			o.stall_after = v, i++;
		else if (!strcmp(a, "--stall") && num && v <= 3600)
			o.stall_s = (int)v, i++;
		else if (!strcmp(a, "--rcvbuf") && num)
			o.rcvbuf = (int)v, i++;
		else if (!strcmp(a, "--raw"))
			o.raw = 1;
		else if (!strcmp(a, "--watch"))
			o.watch = 1;
		else if (!strcmp(a, "--stats"))
			o.stats = 1;
		else if (!strcmp(a, "--no-reconnect"))
			o.reconnect = 0;
		else if (a[0] != '-' && !o.message)
			o.message = a;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!o.session || (!o.message && !o.watch) || (o.message && o.watch) ||
	    (o.has_after && !o.follow_mid)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!valid_id(o.session, strlen(o.session)) || !valid_id(o.user, strlen(o.user)) ||
	    (o.follow_mid && !valid_message_id(o.follow_mid, strlen(o.follow_mid)))) {
		fprintf(stderr, "chat-cli: session and user ids are 1-64 of [A-Za-z0-9_.:-]\n");
		return EXIT_USAGE;
	}

	if (!o.token)
		o.token = config_text(&cli_knobs, "CHAT_TOKEN");
	if (o.token) {
		if (strlen(o.token) > JWT_MAX || strspn(o.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							"0123456789-_.") != strlen(o.token)) {
			fprintf(stderr, "chat-cli: --token: not a JWT\n");
			return EXIT_USAGE;
		}
		api_set_token(o.token);
	}
	struct client cl = { .o = &o };
	char path[1024];
	if (url_split(o.ws_url ? o.ws_url : o.url, cl.host, sizeof cl.host, &cl.port, path,
		      sizeof path)) {
		fprintf(stderr, "chat-cli: cannot use URL %s\n", o.ws_url ? o.ws_url : o.url);
		return EXIT_USAGE;
	}
	snprintf(cl.path, sizeof cl.path, "%s", o.ws_url && strcmp(path, "/") ? path : "/ws/chat");
	reply_init(&cl.r, o.has_after ? o.follow_mid : NULL);
	if (o.has_after)
		cl.r.next = o.after + 1;  /* the caller holds 0..after; only its text is unknown */
	srandom((unsigned)(mono_us() ^ getpid()));
	cl.deadline = mono_us() + (int64_t)o.timeout_s * 1000000;
	curl_global_init(CURL_GLOBAL_DEFAULT);

	int rc = run(&cl);

	if (o.stats)
		fprintf(stderr,
			"chat-cli: stats message=%s chunks=%ld reconnects=%ld out_of_order=%ld "
			"repeats=%ld nodes=%s exit=%d\n", cl.r.mid[0] ? cl.r.mid : "-", cl.r.next,
			cl.reconnects, cl.r.out_of_order, cl.r.duplicates, cl.nodes[0] ? cl.nodes : "-",
			rc);
	reply_free(&cl.r);
	curl_global_cleanup();
	return rc;
}

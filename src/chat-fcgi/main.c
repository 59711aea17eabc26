/* chat-fcgi: the /api HTTP API as a FastCGI responder behind nginx.
 *
 * It validates, authorises, enqueues and reads; it never streams, so each
 * request is a few Redis round trips on one blocking connection, and many
 * processes (supervisord's numprocs) serve in parallel. Run by supervisord
 * the listening socket is fd 0; --listen makes it open its own. libfcgi
 * speaks FastCGI; fcgi.c accepts each connection and hands it to libfcgi
 * only once its request is whole and within bounds. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "api.h"
#include "config.h"
#include "daemon.h"
#include "fcgi.h"
#include "keys.h"
#include "log.h"
#include "request.h"
#include "scripts.h"
#include "util.h"
#include "xalloc.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

/* SIGTERM and SIGINT are blocked except while waiting for a connection
 * (fcgi_gate.wait_mask), so a stop finishes the request being served, and
 * its metrics, and never lands between an accept and the response: a rolling
 * restart (chatctl restart chat-fcgi) loses no request. */
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void block_stop_signals(sigset_t *wait_mask)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;  /* no SA_RESTART: the wait ends with EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static const struct knob knobs[] = {
	KNOB_INT("MAX_BODY_BYTES", 65536, 64, 64L << 20,
		 "largest request body (a request must also fit in its "
		 "socket's buffer: see doc/security.md)"),
	KNOB_INT("MAX_MESSAGE_BYTES", 16384, 1, 1L << 20, "largest chat message"),
	KNOB_INT("HISTORY_MAX", 1000, 2, 1000000, "messages kept per session"),
	KNOB_INT("JOBS_MAXLEN", 100000, 100, 100000000, "each partition's job stream's cap (XADD MAXLEN ~)"),
	KNOB_INT("NODE_STALE_MS", 3000, 100, 3600000,
		 "a worker heartbeat older than this is not counted"),
	KNOB_INT("CANCEL_TTL_S", 300, 1, 86400, "how long a cancel mark waits for its worker"),
	KNOB_INT("REDIS_TIMEOUT_MS", 2000, 10, 60000,
		 "a Redis stall shorter than this delays a request; "
		 "a longer one answers 503"),
	KNOB_INT("CHAT_PER_MIN", 30, 1, 100000000, "POST /api/chat per user per minute (429 past it)"),
	KNOB_INT("STREAMS_PER_USER", 4, 1, 1000000,
		 "replies one user may have streaming at once (429)"),
	KNOB_INT("STREAM_STALE_MS", 3600000, 1000, 86400000,
		 "a reply posted longer ago than this no longer counts "
		 "against STREAMS_PER_USER"),
	KNOB_TEXT("DATABASE_URL", NULL, 0,
		  "the PostgreSQL archive (libpq conninfo or URI): older history "
		  "pages, GET /api/sessions; unset: Redis only"),
	KNOB_INT("DATABASE_TIMEOUT_MS", 2000, 100, 60000,
		 "a PostgreSQL query (or connect) longer than this answers 503"),
	KNOB_INT("FCGI_TIMEOUT_MS", 5000, 100, 600000,
		 "time a FastCGI peer has to send its whole request, and "
		 "to take the response; past it the connection is dropped"),
};
static const struct knob_table fcgi_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = {
	&fcgi_knobs, &auth_knobs, &redis_knobs, &daemon_knobs, &archive_knobs, &fault_knobs, NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chat-fcgi [--listen PATH|:PORT] [--help] [--version]\n"
		"FastCGI responder for /api. Without --listen the socket is fd 0 (supervisord\n"
		"fcgi-program, spawn-fcgi).\n\n");
	config_usage(f, all_knobs);
}

static void respond(struct fcgi_conn *c, FCGX_Request *rq, struct http_response *res,
		    int head_only)
{
	static const struct { int code; const char *text; } reasons[] = {
		{ 200, "OK" }, { 202, "Accepted" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 409, "Conflict" }, { 413, "Payload Too Large" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
	};
	const char *reason = "Unknown";
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].code == res->status)
			reason = reasons[i].text;
	/* nginx keeps Cache-Control across an X-Accel-Redirect: the relay that
	 * answers then says its own */
	const char *cache = strstr(res->headers, "X-Accel-Redirect:") ? "" : "Cache-Control: no-store\r\n";
	/* formatted here: FCGX_FPrintF knows no %zu */
	char head[1024];
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n",
			 res->status, reason, res->content_type ? res->content_type : "application/json",
			 res->body.len, cache, res->headers);
	fcgi_put(c, rq, head, (size_t)n);
	if (!head_only && res->body.len)
		fcgi_put(c, rq, res->body.buf, res->body.len);
}

/* The body is read only when the gate found it whole in the socket, as it
 * does for every CONTENT_LENGTH within MAX_BODY_BYTES. */
static void serve(struct api *api, struct fcgi_conn *c, FCGX_Request *rq)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", rq->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", rq->envp);
	long len = c->content_length;
	struct http_response res = { 0 };
	sb_init(&res.body, 256);
	char path[1024];
	const char *query = "";
	char *body = NULL;
	int64_t t0 = mono_us();
	enum route route = ROUTE_NONE;

	if (!method || !uri) {
		api_error(&res, 400, "invalid_request", "missing request line");
		goto send;
	}
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	if (plen >= sizeof path) {
		api_error(&res, 400, "invalid_request", "path too long");
		goto send;
	}
	memcpy(path, uri, plen);
	path[plen] = '\0';
	if (q)
		query = q + 1;
	res.openai_errors = strncmp(path, "/v1/", 4) == 0;
	if (len < 0) {
		api_error(&res, 400, "invalid_request", "bad Content-Length");
		goto send;
	}
	if ((size_t)len > api->cfg.max_body || !c->body_included) {
		char msg[80];
		snprintf(msg, sizeof msg, "request body is larger than %zu bytes", api->cfg.max_body);
		api_error(&res, 413, "too_large", msg);
		goto send;
	}
	body = xmalloc((size_t)len + 1);
	long got = 0;
	while (got < len) {
		int n = FCGX_GetStr(body + got, (int)(len - got), rq->in);
		if (n <= 0)
			break;
		got += n;
	}
	if (got != len) {
		api_error(&res, 400, "invalid_request", "request body shorter than Content-Length");
		goto send;
	}
	body[len] = '\0';
	struct http_request req = { method, path, query, body, (size_t)len,
				    FCGX_GetParam("HTTP_AUTHORIZATION", rq->envp), NULL,
				    FCGX_GetParam("HTTP_X_SESSION_ID", rq->envp) };
	route = api_handle(api, &req, &res);
send:
	respond(c, rq, &res, method && strcmp(method, "HEAD") == 0);
	log_msg(res.status >= 500 ? LOG_WARN : LOG_DEBUG, "request",
		"method=%s path=%.200s status=%d us=%lld", method ? method : "-",
		uri ? uri : "-", res.status, (long long)(mono_us() - t0));
	metrics_record(api, route, res.status, mono_us() - t0);
	sb_release(&res.body);
	free(body);
}

int main(int argc, char **argv)
{
	const char *listen_on = NULL;
	log_init("chat-fcgi");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("chat-fcgi %s\n", VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_on = argv[++i];
		} else {
			usage(stderr);
			return 100;
		}
	}

	struct api api = { 0 };
	char node[128];
	daemon_setup("api", node, sizeof node, &api.cfg.redis);
	snprintf(api.node, sizeof api.node, "%s", node);
	api.cfg.max_body = (size_t)config_int(&fcgi_knobs, "MAX_BODY_BYTES");
	api.cfg.max_message = (size_t)config_int(&fcgi_knobs, "MAX_MESSAGE_BYTES");
	api.cfg.history_max = config_int(&fcgi_knobs, "HISTORY_MAX");
	api.cfg.jobs_maxlen = config_int(&fcgi_knobs, "JOBS_MAXLEN");
	(void)archive_maxlen();  /* a bad ARCHIVE_MAXLEN stops it here */
	api.cfg.node_stale_ms = config_int(&fcgi_knobs, "NODE_STALE_MS");
	api.cfg.cancel_ttl_s = config_int(&fcgi_knobs, "CANCEL_TTL_S");
	api.cfg.redis_timeout_ms = (int)config_int(&fcgi_knobs, "REDIS_TIMEOUT_MS");
	api.cfg.chat_per_min = config_int(&fcgi_knobs, "CHAT_PER_MIN");
	api.cfg.streams_per_user = config_int(&fcgi_knobs, "STREAMS_PER_USER");
	api.cfg.stream_stale_ms = config_int(&fcgi_knobs, "STREAM_STALE_MS");
	int timeout_ms = (int)config_int(&fcgi_knobs, "FCGI_TIMEOUT_MS");
	auth_load(&api.auth);
	db_init(&api.archive, config_text(&fcgi_knobs, "DATABASE_URL"),
		     (int)config_int(&fcgi_knobs, "DATABASE_TIMEOUT_MS"));

	/* before our handlers: FCGX_Init installs its own for SIGTERM and SIGPIPE */
	if (FCGX_Init() != 0)
		die(111, "FCGX_Init failed");
	sigset_t wait_mask;
	block_stop_signals(&wait_mask);
	signal(SIGPIPE, SIG_IGN);

	int fd = 0;
	if (listen_on) {
		fd = FCGX_OpenSocket(listen_on, 128);
		if (fd < 0)
			die(111, "unable to listen on %s", listen_on);
	}
	struct fcgi_gate gate;
	size_t fits = fcgi_gate_init(&gate, fd, timeout_ms, api.cfg.max_body);
	gate.wait_mask = &wait_mask;
	/* the URL, not a host and port: under Sentinel or Cluster these name no
	 * node (they said 127.0.0.1:6379) */
	char redis_shown[1024];
	redis_url_masked(config_text(&redis_knobs, "REDIS_URL"), redis_shown, sizeof redis_shown);
	log_info("started", "version=%s redis=%s auth=%s archive=%s", VERSION, redis_shown,
		 auth_mode(&api.auth), db_enabled(&api.archive) ? "postgresql" : "none");
	if (!api.auth.enabled)
		log_warn("development mode: no AUTH_SECRET, so user ids are taken as given", NULL);
	if (fits)
		log_warn("the socket holds smaller requests than MAX_BODY_BYTES allows: larger ones are dropped",
			 "max_body=%zu request_fits=%zu", api.cfg.max_body, fits);
	FCGX_Request rq;
	FCGX_InitRequest(&rq, -1, 0);  /* -1: libfcgi never accepts by itself */
	struct fcgi_conn conn;
	while (!stopping) {
		if (fcgi_accept(&gate, &conn)) {
			if (errno == EINTR)
				continue;
			log_error("accept failed", "error=\"%s\"", strerror(errno));
			break;
		}
		const char *why = fcgi_check(&gate, &conn);
		if (why)
			log_info("connection dropped", "reason=\"%s\"", why);
		else if (fcgi_hand_over(&conn, &rq))
			log_warn("libfcgi refused a request that passed the checks", NULL);
		else {
			serve(&api, &conn, &rq);
			fcgi_finish(&conn, &rq);
			metrics_flush(&api);  /* the response has gone: this costs the client nothing */
		}
	}
	log_info("stopped", NULL);
	if (api.redis)
		rs_free(api.redis);
	db_close(&api.archive);
	return 0;
}

/* AI_BACKEND=openai: replies from an OpenAI-compatible server
 * (doc/ai-backends.md). A reply reads the session's history (the
 * conversation), then streams a request to the next endpoint (upstream.c);
 * tokens wait in a queue for their append. An endpoint that fails before
 * the first token is skipped for the next; a failure after it ends the
 * reply with `error`, keeping the partial text. Stopping the reply (a
 * cancel, a lost lease) closes the request's connection: that is how the
 * server learns of it.
 *
 * The queue is bounded: when it is full the request pauses, so a server
 * faster than Redis waits instead of filling memory. An HTTP reply cannot
 * be taken up again mid-way, on another worker or here: once its request
 * is sent it is pinned to this worker.
 *
 * Each endpoint is probed (GET /models) at start and every AI_PROBE_MS;
 * what the probes and the replies find goes into the heartbeat
 * (endpoints.c), so that a dead AI server shows in /api/ai-health before
 * anyone sends a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "endpoints.h"
#include "fifo.h"
#include "job.h"
#include "log.h"
#include "openai.h"
#include "strbuf.h"
#include "upstream.h"
#include "util.h"
#include "validate.h"
#include "worker.h"
#include "xalloc.h"

/* Tokens an AI server may have waiting for their append: past this its
 * request pauses, until the queue is down to TOKENS_RESUME. */
#define TOKENS_QUEUED_MAX 256
#define TOKENS_RESUME 64

static struct {
	char **base_urls;
	int nurls;
	unsigned next_url;        /* round robin over base_urls */
	const char *api_key, *model, *system_prompt;
	long timeout_ms;
	long context_items;       /* history items sent as the conversation */
	long probe_ms;            /* AI_PROBE_MS */
} cfg;

static uv_timer_t probe_timer;
static struct upstream **probes;  /* the probe of each endpoint in flight, if any */

struct openai_reply {
	struct upstream *up;      /* the request streaming, if any */
	int up_ended;             /* 1: the stream reached [DONE]; -1: it failed */
	int attempts;             /* endpoints tried */
	int endpoint;             /* the one asked now: an index of base_urls */
	int reached;              /* it sent a token */
	char *body;               /* the request, kept for the next endpoint */
	size_t body_len;
	struct fifo tokens;       /* strings waiting for their append */
	char *token;              /* the one being appended */
};

/* AI_BASE_URLS is a comma-separated list: each request goes to the next. */
static void configure(void)
{
	const char *list = config_text(&streamer_knobs, "AI_BASE_URLS");
	if (!list)
		list = config_text(&streamer_knobs, "AI_BASE_URL");
	char *urls = xstrdup(list ? list : "");
	for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		size_t n = strlen(u);
		while (n && u[n - 1] == '/')
			u[--n] = '\0';
		if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
			die(100, "AI_BASE_URLS: %s is not an http(s) URL", u);
		cfg.base_urls = xreallocarray(cfg.base_urls, (size_t)cfg.nurls + 1, sizeof *cfg.base_urls);
		cfg.base_urls[cfg.nurls++] = u;
	}
	if (!cfg.nurls)
		die(100, "AI_BACKEND=openai needs AI_BASE_URLS (e.g. http://127.0.0.1:8000/v1)");
	cfg.api_key = config_text(&streamer_knobs, "AI_API_KEY");
	cfg.model = config_text(&streamer_knobs, "AI_MODEL");
	cfg.system_prompt = config_text(&streamer_knobs, "AI_SYSTEM_PROMPT");
	cfg.timeout_ms = config_int(&streamer_knobs, "AI_TIMEOUT_MS");
	cfg.context_items = config_int(&streamer_knobs, "AI_CONTEXT_MESSAGES");
	cfg.probe_ms = config_int(&streamer_knobs, "AI_PROBE_MS");
}

static void probe_end(void *ud, int ok, const char *code, const char *msg)
{
	int i = (int)(intptr_t)ud;
	probes[i] = NULL;
	if (ok)
		endpoint_ok(i);
	else
		endpoint_failed(i, code, msg, 0);
}

static const struct upstream_cb probe_callbacks = { NULL, NULL, probe_end };

/* Each endpoint whose last probe has answered is asked again. A probe
 * never outlasts the interval, so the state is never older than that. */
static void probe_all(uv_timer_t *t)
{
	(void)t;
	long timeout = cfg.timeout_ms < cfg.probe_ms ? cfg.timeout_ms : cfg.probe_ms;
	for (int i = 0; i < cfg.nurls; i++)
		if (!probes[i])
			probes[i] = upstream_probe(cfg.base_urls[i], cfg.api_key, timeout, &probe_callbacks,
						   (void *)(intptr_t)i);
}

static int init(uv_loop_t *loop)
{
	if (upstream_init(loop))
		return -1;
	endpoints_init(cfg.base_urls, cfg.nurls);
	for (int i = 0; i < cfg.nurls; i++)
		log_info("AI endpoint", "endpoint=%s model=%s probe_ms=%ld", endpoint_shown(i), cfg.model,
			 cfg.probe_ms);
	probes = xcalloc((size_t)cfg.nurls, sizeof *probes);
	uv_timer_init(loop, &probe_timer);
	uv_timer_start(&probe_timer, probe_all, 0, (uint64_t)cfg.probe_ms);
	/* a worker stopping does not wait for the next probe */
	uv_unref((uv_handle_t *)&probe_timer);
	return 0;
}

static long history(void) { return cfg.context_items; }

static void open_reply(struct job *j)
{
	struct openai_reply *o = xcalloc(1, sizeof *o);
	j->src = o;
}

static void next_endpoint(struct job *j);

static const char *model_of(const struct job *j) { return j->model[0] ? j->model : cfg.model; }

/* No endpoint could start the reply: what its reader sees says that the
 * model is out of reach (not streamchat), and why in words, not curl's;
 * the endpoints' addresses stay in the log. An HTTP error says so already
 * ("the AI server answered 503: ...") and keeps the server's words whole. */
static void model_unavailable(struct job *j, const char *code, const char *msg)
{
	enum endpoint_error kind = endpoint_error_kind(code);
	if (kind == EP_HTTP_4XX || kind == EP_HTTP_5XX) {
		job_fail(j, code, msg);
		return;
	}
	struct strbuf why = STRBUF_INIT;
	char text[sizeof j->err_msg];
	sb_adds(&why, "the AI model is unavailable: ");
	sb_adds(&why, kind == EP_REFUSED ? "its server cannot be reached" : msg);
	/* cut between characters: msg may end with a server's own words */
	utf8_sanitize(text, sizeof text, why.buf, why.len);
	sb_release(&why);
	job_fail(j, code, text);
}

static void up_token(void *ud, const char *tok, size_t len)
{
	struct job *j = ud;
	struct openai_reply *o = j->src;
	char *t = xstrndup(tok, len);
	o->reached = 1;
	endpoint_ok(o->endpoint);
	fifo_push(&o->tokens, t);
	job_wake(j);
}

static void up_end(void *ud, int ok, const char *code, const char *msg)
{
	struct job *j = ud;
	struct openai_reply *o = j->src;
	o->up = NULL;
	if (ok)
		endpoint_ok(o->endpoint);
	else
		endpoint_failed(o->endpoint, code, msg, o->reached);
	if (ok || j->next_index > 0 || o->tokens.len > 0) {
		/* the tokens received stay: the reply ends after they are written */
		o->up_ended = ok ? 1 : -1;
		if (!ok) {
			snprintf(j->err_code, sizeof j->err_code, "%s", code);
			snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
		}
		job_wake(j);
		return;
	}
	log_warn("AI request failed", "message=%s endpoint=%s model=%s code=%s error=\"%s\" attempt=%d",
		 j->mid, endpoint_shown(o->endpoint), model_of(j), code, msg, o->attempts);
	if (o->attempts >= cfg.nurls) {
		model_unavailable(j, code, msg);
		return;
	}
	next_endpoint(j);
}

static int up_full(void *ud)
{
	const struct job *j = ud;
	const struct openai_reply *o = j->src;
	return o->tokens.len >= TOKENS_QUEUED_MAX;
}

static const struct upstream_cb up_callbacks = { up_token, up_full, up_end };

static void next_endpoint(struct job *j)
{
	struct openai_reply *o = j->src;
	o->endpoint = (int)(cfg.next_url++ % (unsigned)cfg.nurls);
	const char *url = cfg.base_urls[o->endpoint];
	o->attempts++;
	log_debug("AI request", "message=%s endpoint=%s attempt=%d", j->mid, endpoint_shown(o->endpoint),
		  o->attempts);
	o->up = upstream_start(url, cfg.api_key, o->body, o->body_len, cfg.timeout_ms,
			       j->w->cfg.max_tokens, &up_callbacks, j);
}

/* The conversation is read: the request goes to the first endpoint. */
static void start(struct job *j, const char *const *items, const size_t *lens, size_t n)
{
	struct openai_reply *o = j->src;
	struct strbuf body = STRBUF_INIT;
	openai_request_body(&body, model_of(j), cfg.system_prompt,
			    j->w->cfg.max_tokens, items, lens, n);
	o->body = body.buf;
	o->body_len = body.len;
	next_endpoint(j);
}

static enum token_next next(struct job *j)
{
	struct openai_reply *o = j->src;
	char *t = fifo_pop(&o->tokens);
	if (t) {
		free(o->token);
		o->token = t;
		j->tok = t;
		j->token_len = strlen(t);
		return TOKEN_READY;
	}
	if (o->up_ended > 0)
		return TOKEN_END;
	if (o->up_ended < 0)
		return TOKEN_FAILED;  /* up_end left the reason in j */
	return TOKEN_WAIT;            /* up_token wakes the job */
}

static void appended(struct job *j)
{
	struct openai_reply *o = j->src;
	job_later(j, 0);  /* first: tokens the resume delivers wait for it */
	if (o->tokens.len <= TOKENS_RESUME)
		upstream_resume(o->up);
}

/* A request not sent yet can be sent from anywhere; once sent, its answer
 * comes here or nowhere. */
static int pinned(const struct job *j)
{
	const struct openai_reply *o = j->src;
	return o->up || o->attempts;
}

static void stop(struct job *j)
{
	struct openai_reply *o = j->src;
	if (!o)
		return;
	upstream_abort(o->up);
	o->up = NULL;
}

static void close_reply(struct job *j)
{
	struct openai_reply *o = j->src;
	char *t;
	if (!o)
		return;
	while ((t = fifo_pop(&o->tokens)))
		free(t);
	fifo_release(&o->tokens);
	free(o->token);
	free(o->body);
	free(o);
}

const struct backend backend_openai = {
	.name = "openai",
	.resumes = 0,
	.configure = configure,
	.init = init,
	.history = history,
	.open = open_reply,
	.start = start,
	.next = next,
	.appended = appended,
	.pinned = pinned,
	.stop = stop,
	.close = close_reply,
	.heartbeat = endpoints_heartbeat,
};

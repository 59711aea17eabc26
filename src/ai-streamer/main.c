/* ai-streamer: takes reply jobs from the `jobs` stream and streams each
 * reply, token by token, into Redis through the append script.
 *
 *   ai-streamer                 the worker daemon
 *   ai-streamer --once PROMPT   one reply on stdout, as it is generated
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "config.h"
#include "daemon.h"
#include "generator.h"
#include "heartbeat.h"
#include "keys.h"
#include "log.h"
#include "pipe.h"
#include "scripts.h"
#include "util.h"
#include "worker.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

#define HEARTBEAT_MS 1000
#define HEARTBEAT_TTL_MS 5000
#define HANDOVER_WAIT_MS 2000  /* after DRAIN_MS, for the last hand-overs to be answered */

static const struct knob knobs[] = {
	KNOB_TEXT("AI_BACKEND", "builtin", NULL, "builtin (an offline generator) or openai"),
	KNOB_TEXT("AI_BASE_URLS", NULL, NULL,
		  "openai: comma-separated, e.g. http://127.0.0.1:8080/v1"),
	KNOB_TEXT("AI_BASE_URL", NULL, NULL, "read when AI_BASE_URLS is unset (its older name)"),
	KNOB_TEXT("AI_API_KEY", "", "unset", "sent as a bearer token"),
	KNOB_TEXT("AI_MODEL", "gpt-4o-mini", NULL, "a request's own model wins"),
	KNOB_TEXT("AI_SYSTEM_PROMPT", "", "unset", "the system message of each request"),
	KNOB_INT("AI_TIMEOUT_MS", 30000, 100, 3600000,
		 "longest wait for the first byte, or between two"),
	KNOB_INT("AI_PROBE_MS", 10000, 100, 3600000,
		 "openai: how often each endpoint is probed (GET /models), "
		 "from the start; /api/ai-health shows what was found"),
	KNOB_INT("AI_CONTEXT_MESSAGES", 20, 1, 1000, "history messages sent as the conversation"),
	KNOB_INT("AI_CONCURRENCY", 64, 1, 100000, "replies streamed at once by this process"),
	KNOB_INT("AI_MAX_TOKENS", 512, 1, 1000000,
		 "longest reply, in tokens (openai: sent as max_tokens, "
		 "and the stream is cut there whatever the server does)"),
	KNOB_TEXT("GENERATOR", "sentences", NULL,
		  "the built-in generator's text: sentences (readable, quoting "
		  "the prompt) or hostile (quotes, backslashes, non-ASCII: the tests')"),
	KNOB_INT("TOKEN_DELAY_MS", 20, 0, 60000,
		 "pause between tokens of the built-in generator "
		 "(0 for benchmarks)"),
	KNOB_INT("LEASE_MS", 10000, 100, 3600000,
		 "lease on a message, renewed every LEASE_MS/3 (at most "
		 "1 s, which is also how soon a cancel stops a silent "
		 "AI server)"),
	KNOB_INT("CHUNK_TTL_S", 300, 1, 30L * 86400, "how long the chunks of a finished reply are kept"),
	KNOB_INT("HISTORY_MAX", 1000, 2, 1000000, "messages kept per session"),
	KNOB_INT("DRAIN_MS", 5000, 0, 3600000,
		 "on SIGTERM, replies from an AI server get this long to "
		 "end here; the rest are handed to another worker at once"),
	KNOB_INT("APPEND_FLUSH_MS", 0, 0, 100,
		 "how long the tokens of all replies gather before they go to "
		 "Redis in one call (0: at each turn of the loop)"),
	KNOB_INT("CHUNK_ROLLUP_MS", 0, 0, 1000,
		 "tokens of one reply that come within this of each other go "
		 "out as one chunk (0: a chunk per token); the first never waits"),
	KNOB_TEXT("USER", "cli", NULL, "--pipe's user when there is no --user"),
};
const struct knob_table streamer_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = {
	&streamer_knobs, &redis_knobs, &daemon_knobs, &heartbeat_knobs, &archive_knobs, &fault_knobs, NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ai-streamer [--once PROMPT | --pipe --session S [--user U] PROMPT]\n"
		"                   [--help] [--version]\n"
		"Streams AI replies for the jobs in Redis (built-in offline generator).\n"
		"  --once PROMPT   print one reply to stdout as it streams, no Redis\n"
		"  --pipe          print the Redis commands of one whole exchange in session S\n"
		"                  (user U, default $USER) as RESP, for | redis-cli --pipe\n\n");
	config_usage(f, all_knobs);
}

/* The backends AI_BACKEND names (backend.h). */
static const struct backend *const backends[] = { &backend_builtin, &backend_openai };

static const struct backend *backend_named(const char *name)
{
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	die(100, "AI_BACKEND=%s: builtin or openai", name);
}

static void got_client_id(redisAsyncContext *ac, void *reply, void *priv)
{
	struct worker *w = priv;
	redisReply *r = reply;
	(void)ac;
	if (r && r->type == REDIS_REPLY_INTEGER)
		w->jobs_client_id = r->integer;
}

/* A cluster-enabled Redis refuses a call whose keys span slots: the
 * batched appends and renewals then go one call per partition. */
static void got_cluster_info(redisAsyncContext *ac, void *reply, void *priv)
{
	struct worker *w = priv;
	redisReply *r = reply;
	(void)ac;
	if (!r)
		return;  /* connection lost: asked again when it is back */
	w->cluster = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_enabled:1") != NULL;
	dispatch_connected(w);
}

static void jobs_ready(struct aredis *ar)
{
	struct worker *w = ar->data;
	char k[KEY_MAX];
	/* on a cluster: the id on the connection to jobs:ready's primary,
	 * where the blocking read waits */
	aredis_command_on(ar, key_jobs_ready(k), got_client_id, w, "CLIENT ID");
	/* jobs are taken once the answer is known, so no append goes before */
	aredis_command(ar, got_cluster_info, w, "INFO cluster");
}

static void heartbeat(uv_timer_t *t);

static void cmd_ready(struct aredis *ar)
{
	struct worker *w = ar->data;
	jobs_resume(w);
	/* counted as a live worker as soon as it can take jobs, not a tick later */
	if (!w->stopping)
		heartbeat(&w->heartbeat);
}

static void heartbeat(uv_timer_t *t)
{
	struct worker *w = t->data;
	if (!w->cmd.ready)
		return;
	daemon_heartbeat_file();
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_ai, key_nodes_ai, w->node, now_ms(), HEARTBEAT_TTL_MS);
	heartbeat_fields(&hb, "started_ms %lld active_jobs %ld concurrency %ld jobs_done %llu chunks %llu "
			 "failures %llu backend %s status %s", (long long)w->started_ms, w->nactive,
			 w->cfg.concurrency, (unsigned long long)w->jobs_done,
			 (unsigned long long)w->chunks, (unsigned long long)w->failures,
			 w->backend->name, w->stopping ? "draining" : "ok");
	w->backend->heartbeat(&hb);
	/* what GET /v1/models lists */
	const char *model[] = { "model", strcmp(w->backend->name, "builtin") ?
				config_text(&streamer_knobs, "AI_MODEL") : "builtin" };
	heartbeat_fields_argv(&hb, 2, model, NULL);
	/* the first-token histogram, bucket by bucket (not cumulative), for /api/metrics */
	const struct prom_hist *h = &w->first_token;
	heartbeat_fields(&hb, "ft_count %llu ft_sum %.6f ft_b0 %llu ft_b1 %llu ft_b2 %llu ft_b3 %llu "
			 "ft_b4 %llu ft_b5 %llu ft_b6 %llu ft_b7 %llu ft_b8 %llu ft_b9 %llu ft_b10 %llu "
			 "ft_b11 %llu", (unsigned long long)h->count, h->sum,
			 (unsigned long long)h->counts[0], (unsigned long long)h->counts[1],
			 (unsigned long long)h->counts[2], (unsigned long long)h->counts[3],
			 (unsigned long long)h->counts[4], (unsigned long long)h->counts[5],
			 (unsigned long long)h->counts[6], (unsigned long long)h->counts[7],
			 (unsigned long long)h->counts[8], (unsigned long long)h->counts[9],
			 (unsigned long long)h->counts[10], (unsigned long long)h->counts[11]);
	heartbeat_send(&hb, &w->cmd);
	heartbeat_release(&hb);
}

static void drain_timeout(uv_timer_t *t)
{
	struct worker *w = t->data;
	if (w->drain_over) {
		log_warn("hand-over timed out", "active=%ld", w->nactive);
		uv_stop(w->loop);
		return;
	}
	log_warn("drain timed out; handing the rest over", "active=%ld", w->nactive);
	w->drain_over = 1;
	jobs_hand_over(w);
	uv_timer_start(&w->drain, drain_timeout, HANDOVER_WAIT_MS, 0);
}

static void on_signal(uv_signal_t *s, int sig)
{
	struct worker *w = s->data;
	if (w->stopping)
		return;
	w->stopping = 1;
	log_info("stopping", "signal=%d active=%ld", sig, w->nactive);
	/* leave the heartbeat so ai-health stops counting this node at once,
	 * and do not come back to it while the replies are handed over */
	uv_timer_stop(&w->heartbeat);
	if (w->cmd.ready)
		heartbeat_leave(&w->cmd, key_node_ai, key_nodes_ai, w->node, NULL, NULL);
	/* a blocked read would be answered with the jobs we hand over */
	char kready[KEY_MAX];
	if (w->blocked && w->jobs_client_id && w->cmd.ready)
		aredis_command_on(&w->cmd, key_jobs_ready(kready), NULL, NULL, "CLIENT UNBLOCK %lld",
				  w->jobs_client_id);
	uv_timer_start(&w->drain, drain_timeout, (uint64_t)w->cfg.drain_ms, 0);
	jobs_hand_over(w);
	worker_want_jobs(w);
}

static int run_once(const char *prompt, long max_tokens, long delay_ms)
{
	struct generator g;
	char tok[TOKEN_MAX];
	size_t n;
	gen_init(&g, prompt, strlen(prompt), max_tokens);
	while ((n = gen_next(&g, tok)) > 0) {
		fwrite(tok, 1, n, stdout);
		fflush(stdout);
		if (delay_ms) {
			struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 111;
}

/* --pipe publishes as the scripts do on REDIS_URL's topology; it connects
 * to nothing, so only the URL's form matters. */
static const char *pipe_publish_command(void)
{
	const char *url = config_text(&redis_knobs, "REDIS_URL"), *err;
	struct redis_cfg cfg;
	if (redis_url_parse(url, &cfg, &err)) {
		char shown[1024];
		redis_url_masked(url, shown, sizeof shown);
		die(100, "REDIS_URL=%s: %s", shown, err);
	}
	return redis_publish_command(&cfg);
}

int main(int argc, char **argv)
{
	static struct worker w;
	const char *once = NULL, *prompt = NULL;
	struct pipe_job pj = { NULL, NULL, NULL, NULL, 0, 0, 0 };
	int pipe_mode = 0;
	pj.user = config_text(&streamer_knobs, "USER");
	log_init("ai-streamer");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("ai-streamer %s\n", VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--once") && i + 1 < argc) {
			once = argv[++i];
		} else if (!strcmp(argv[i], "--pipe")) {
			pipe_mode = 1;
		} else if (!strcmp(argv[i], "--session") && i + 1 < argc) {
			pj.session = argv[++i];
		} else if (!strcmp(argv[i], "--user") && i + 1 < argc) {
			pj.user = argv[++i];
		} else if (argv[i][0] != '-' && !prompt) {
			prompt = argv[i];
		} else {
			usage(stderr);
			return 100;
		}
	}
	w.backend = backend_named(config_text(&streamer_knobs, "AI_BACKEND"));
	w.backend->configure();
	w.cfg.concurrency = config_int(&streamer_knobs, "AI_CONCURRENCY");
	w.cfg.max_tokens = config_int(&streamer_knobs, "AI_MAX_TOKENS");
	w.cfg.token_delay_ms = config_int(&streamer_knobs, "TOKEN_DELAY_MS");
	w.cfg.lease_ms = config_int(&streamer_knobs, "LEASE_MS");
	w.cfg.chunk_ttl_s = config_int(&streamer_knobs, "CHUNK_TTL_S");
	w.cfg.history_max = config_int(&streamer_knobs, "HISTORY_MAX");
	(void)archive_maxlen();  /* a bad ARCHIVE_MAXLEN stops it here */
	w.cfg.drain_ms = config_int(&streamer_knobs, "DRAIN_MS");
	w.cfg.append_flush_ms = config_int(&streamer_knobs, "APPEND_FLUSH_MS");
	w.cfg.chunk_rollup_ms = config_int(&streamer_knobs, "CHUNK_ROLLUP_MS");
	if (gen_set_style(config_text(&streamer_knobs, "GENERATOR")))
		die(100, "GENERATOR must be sentences or hostile");
	if (once)
		return run_once(once, w.cfg.max_tokens, w.cfg.token_delay_ms);
	if (pipe_mode || prompt) {
		if (!pipe_mode || !prompt || !pj.session || !valid_id(pj.session, strlen(pj.session)) ||
		    !valid_id(pj.user, strlen(pj.user)) || !valid_utf8(prompt, strlen(prompt))) {
			usage(stderr);
			return 100;
		}
		keys_init(config_text(&redis_knobs, "KEY_PREFIX"));
		pj.publish = pipe_publish_command();
		pj.prompt = prompt;
		pj.max_tokens = w.cfg.max_tokens;
		pj.chunk_ttl_s = w.cfg.chunk_ttl_s;
		pj.history_max = w.cfg.history_max;
		return run_pipe(stdout, &pj) == 0 ? 0 : 111;
	}

	daemon_setup("ai", w.node, sizeof w.node, &w.cfg.redis);
	signal(SIGPIPE, SIG_IGN);

	w.loop = uv_default_loop();
	w.started_ms = now_ms();
	if (w.backend->init(w.loop))
		die(111, "AI_BACKEND=%s failed to start", w.backend->name);
	w.jobs.data = w.cmd.data = &w;
	w.jobs.on_ready = jobs_ready;
	w.cmd.on_ready = cmd_ready;
	/* a cluster's blocked read of jobs:ready is no lost node */
	w.jobs.timeout_ms = READ_BLOCK_MS + 5000;
	aredis_start(&w.jobs, w.loop, &w.cfg.redis, "jobs");
	aredis_start(&w.cmd, w.loop, &w.cfg.redis, "commands");
	appends_init(&w);
	dispatch_init(&w);
	uv_timer_init(w.loop, &w.heartbeat);
	w.heartbeat.data = &w;
	uv_timer_start(&w.heartbeat, heartbeat, 0, HEARTBEAT_MS);
	uv_timer_init(w.loop, &w.drain);
	w.drain.data = &w;
	uv_signal_init(w.loop, &w.sigterm);
	uv_signal_init(w.loop, &w.sigint);
	w.sigterm.data = w.sigint.data = &w;
	uv_signal_start(&w.sigterm, on_signal, SIGTERM);
	uv_signal_start(&w.sigint, on_signal, SIGINT);
	log_info("started", "version=%s backend=%s concurrency=%ld token_delay_ms=%ld", VERSION,
		 w.backend->name, w.cfg.concurrency, w.cfg.token_delay_ms);

	uv_run(w.loop, UV_RUN_DEFAULT);

	aredis_stop(&w.jobs);
	aredis_stop(&w.cmd);
	sb_release(&w.scratch);
	log_info("stopped", "jobs_done=%llu active=%ld", (unsigned long long)w.jobs_done, w.nactive);
	return 0;
}

/* GET /api/metrics: the API's requests by route and status with their
 * latency, summed over every chat-fcgi process (each flushes its counts to
 * node:api:{N}), and what the workers and recoverd put in their heartbeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "archive.h"
#include "heartbeat.h"
#include "keys.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define REGISTER_US 1000000
#define STATS_TTL_S (7 * 86400)   /* a stopped process's counts still count for a week */

const int api_statuses[API_STATUSES - 1] = { 200, 202, 400, 401, 403, 404, 405, 409, 413,
					      429, 500, 503 };
static const char *const route_names[ROUTE_COUNT] = {
	"unknown", "chat", "cancel", "history", "stream", "health", "ai_health", "metrics",
	"ui_chat", "openai_chat", "openai_models",
	"sessions", "session_delete",
};

void metrics_record(struct api *api, enum route route, int status, long long us)
{
	int s = 0;
	while (s < API_STATUSES - 1 && api_statuses[s] != status)
		s++;
	api->stats.requests[route][s]++;
	int b = prom_hist_observe(&api->stats.latency[route], (double)us / 1e6);
	api->stats.dirty_bucket[route][b] = 1;
	api->stats.dirty_status[route][s] = 1;
	api->stats.dirty[route] = 1;
}

/* Adds the counts of one node:api:{N} hash (HGETALL's reply) to sum. */
static void stats_add_hash(struct api_stats *sum, const redisReply *h)
{
	for (size_t f = 0; h && h->type == REDIS_REPLY_ARRAY && f + 1 < h->elements; f += 2) {
		const char *name = h->element[f]->str, *val = h->element[f + 1]->str;
		char route[32], rest[32];
		if (sscanf(name, "req:%31[^:]:%31s", route, rest) == 2) {
			for (int r = 0; r < ROUTE_COUNT; r++) {
				if (strcmp(route, route_names[r]))
					continue;
				int s = 0;
				while (s < API_STATUSES - 1 && atoi(rest) != api_statuses[s])
					s++;
				sum->requests[r][s] += strtoull(val, NULL, 10);
			}
		} else if (sscanf(name, "lat:%31[^:]:%31s", route, rest) == 2) {
			int b = atoi(rest);
			for (int r = 0; r < ROUTE_COUNT && b >= 0 && b < PROM_BUCKETS; r++)
				if (!strcmp(route, route_names[r]))
					sum->latency[r].counts[b] += strtoull(val, NULL, 10);
		} else if (sscanf(name, "latsum:%31s", route) == 1) {
			for (int r = 0; r < ROUTE_COUNT; r++)
				if (!strcmp(route, route_names[r]))
					sum->latency[r].sum += strtod(val, NULL);
		} else if (sscanf(name, "latcount:%31s", route) == 1) {
			for (int r = 0; r < ROUTE_COUNT; r++)
				if (!strcmp(route, route_names[r]))
					sum->latency[r].count += strtoull(val, NULL, 10);
		}
	}
}

/* A restarted process (the same NODE_ID: supervisord's chat-fcgi-N) goes on
 * from the counts its predecessor left in node:api:{N}, so requests_total
 * never goes down and a histogram's fields stay consistent, though each
 * write carries only what changed. Nothing is written before they are read:
 * counts from zero would overwrite a part of the old ones. */
static int stats_resume(struct api *api, struct rs *c)
{
	char k[KEY_MAX];
	redisReply *h = rs_command(c, "HGETALL %s", key_node_api(k, api->node));
	if (!h || h->type != REDIS_REPLY_ARRAY) {
		if (h)
			freeReplyObject(h);
		else
			api_drop_redis(api);
		return -1;
	}
	stats_add_hash(&api->stats, h);
	freeReplyObject(h);
	api->stats.resumed = 1;
	return 0;
}

static void add_field(const char **argv, size_t *argl, int *n, const char *f)
{
	argv[*n] = f;
	argl[*n] = strlen(f);
	(*n)++;
}

/* HSET node:api:{N} with the counts of the routes served since the last
 * write, as absolute values, after the response. */
void metrics_flush(struct api *api)
{
	long long now = mono_us();
	int any = 0;
	for (int r = 0; r < ROUTE_COUNT; r++)
		any |= api->stats.dirty[r];
	if (!any)
		return;
	struct rs *c = api_redis(api);
	if (!c || (!api->stats.resumed && stats_resume(api, c)))
		return;
	enum { MAXF = 2 * ROUTE_COUNT * (API_STATUSES + PROM_BUCKETS + 2) };
	static char text[MAXF][48];
	const char *argv[MAXF];
	size_t argl[MAXF];
	int n = 0, t = 0;
#define PAIR(...) do { \
		snprintf(text[t], sizeof text[t], __VA_ARGS__); add_field(argv, argl, &n, text[t++]); \
	} while (0)
	for (int r = 0; r < ROUTE_COUNT; r++) {
		if (!api->stats.dirty[r])
			continue;
		for (int s = 0; s < API_STATUSES; s++) {
			if (!api->stats.dirty_status[r][s])
				continue;
			if (s < API_STATUSES - 1)
				PAIR("req:%s:%d", route_names[r], api_statuses[s]);
			else
				PAIR("req:%s:other", route_names[r]);
			PAIR("%llu", (unsigned long long)api->stats.requests[r][s]);
		}
		const struct prom_hist *h = &api->stats.latency[r];
		if (!h->count)
			continue;
		for (int b = 0; b < PROM_BUCKETS; b++) {
			if (!api->stats.dirty_bucket[r][b])
				continue;
			PAIR("lat:%s:%d", route_names[r], b);
			PAIR("%llu", (unsigned long long)h->counts[b]);
		}
		PAIR("latsum:%s", route_names[r]);
		PAIR("%.6f", h->sum);
		PAIR("latcount:%s", route_names[r]);
		PAIR("%llu", (unsigned long long)h->count);
	}
#undef PAIR
	/* the node's TTL and its score in nodes:api only now and then: most
	 * writes carry just the counts that changed */
	int register_due = now - api->stats.registered_us >= REGISTER_US;
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_api, key_nodes_api, api->node, now_ms(),
			(long)STATS_TTL_S * 1000);
	heartbeat_fields_argv(&hb, n, argv, argl);
	int replies = heartbeat_append(&hb, c, !register_due);
	heartbeat_release(&hb);
	if (replies < 0)
		return;
	if (register_due)
		api->stats.registered_us = now;
	/* sent, not waited for: api_redis reads the replies before the next
	 * command, so the process is back in accept() at once */
	if (rs_flush(c) != REDIS_OK) {
		log_warn("metrics flush failed", "error=\"%s\"", rs_errstr(c));
		api_drop_redis(api);
		return;
	}
	api->unread_replies += replies;
	memset(api->stats.dirty, 0, sizeof api->stats.dirty);
	memset(api->stats.dirty_status, 0, sizeof api->stats.dirty_status);
	memset(api->stats.dirty_bucket, 0, sizeof api->stats.dirty_bucket);
}

static redisReply *command(struct rs *c, const char *fmt, const char *arg)
{
	redisReply *r = rs_command(c, fmt, arg);
	if (r && r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* The members of a nodes:* set and the hash of each, in pairs. */
static redisReply *members(struct rs *c, const char *set)
{
	redisReply *r = command(c, "ZRANGE %s 0 -1", set);
	if (r && r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		r = NULL;
	}
	return r;
}

/* The members of a nodes:* set and each one's hash, as heartbeats left them. */
struct node_hashes {
	redisReply *nodes;
	redisReply **h;              /* h[i] is the hash of nodes->element[i]; may be NULL */
	size_t n;
};

static void node_hashes_read(struct rs *c, struct node_hashes *nh, char *(*set_key)(char *),
			     char *(*node_key)(char *, const char *))
{
	char kz[KEY_MAX], k[KEY_MAX];
	nh->nodes = members(c, set_key(kz));
	nh->n = nh->nodes ? nh->nodes->elements : 0;
	nh->h = xcalloc(nh->n + 1, sizeof *nh->h);
	for (size_t i = 0; i < nh->n; i++)
		nh->h[i] = command(c, "HGETALL %s", node_key(k, nh->nodes->element[i]->str));
}

static void node_hashes_free(struct node_hashes *nh)
{
	for (size_t i = 0; i < nh->n; i++)
		if (nh->h[i])
			freeReplyObject(nh->h[i]);
	free(nh->h);
	if (nh->nodes)
		freeReplyObject(nh->nodes);
}

static const char *field(redisReply *h, const char *name)
{
	for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
		if (!strcmp(h->element[i]->str, name))
			return h->element[i + 1]->str;
	return NULL;
}

static double num(redisReply *h, const char *name)
{
	const char *v = field(h, name);
	return v ? strtod(v, NULL) : 0;
}

static void api_section(struct rs *c, struct strbuf *sb)
{
	struct api_stats sum = { 0 };
	char kz[KEY_MAX], k[KEY_MAX];
	redisReply *nodes = members(c, key_nodes_api(kz));
	for (size_t i = 0; nodes && i < nodes->elements; i++) {
		redisReply *h = command(c, "HGETALL %s", key_node_api(k, nodes->element[i]->str));
		stats_add_hash(&sum, h);
		if (h)
			freeReplyObject(h);
	}
	prom_head(sb, "streamchat_api_processes", "gauge", "chat-fcgi processes that have reported.");
	prom_sample(sb, "streamchat_api_processes", NULL, nodes ? (double)nodes->elements : 0);
	if (nodes)
		freeReplyObject(nodes);
	prom_head(sb, "streamchat_api_requests_total", "counter", "Requests by route and status.");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int s = 0; s < API_STATUSES; s++) {
			if (!sum.requests[r][s])
				continue;
			char labels[80];
			if (s < API_STATUSES - 1)
				snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route_names[r],
					 api_statuses[s]);
			else
				snprintf(labels, sizeof labels, "route=\"%s\",status=\"other\"", route_names[r]);
			prom_sample(sb, "streamchat_api_requests_total", labels, (double)sum.requests[r][s]);
		}
	prom_head(sb, "streamchat_api_request_duration_seconds", "histogram",
		  "Time chat-fcgi spent on a request, by route.");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		if (!sum.latency[r].count)
			continue;
		char labels[40];
		snprintf(labels, sizeof labels, "route=\"%s\"", route_names[r]);
		prom_hist_write(sb, "streamchat_api_request_duration_seconds", labels, &sum.latency[r]);
	}
}

/* A worker's errors from its AI server (errors_<kind> of its heartbeat),
 * probes and replies alike: a dead backend counts before anyone chats. */
static void upstream_errors(struct strbuf *sb, const struct node_hashes *nh)
{
	static const char *const kinds[] = { "refused", "http_4xx", "http_5xx", "timeout", "other" };
	prom_head(sb, "streamchat_worker_upstream_errors_total", "counter",
		  "Errors of the AI server (probes and replies), by kind.");
	for (size_t i = 0; i < nh->n; i++)
		for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
			char f[32], labels[240];
			snprintf(f, sizeof f, "errors_%s", kinds[k]);
			if (!field(nh->h[i], f))
				continue;
			snprintf(labels, sizeof labels, "node=\"%s\",code=\"%s\"",
				 nh->nodes->element[i]->str, kinds[k]);
			prom_sample(sb, "streamchat_worker_upstream_errors_total", labels, num(nh->h[i], f));
		}
}

static void worker_section(struct rs *c, struct strbuf *sb, long stale_ms)
{
	static const struct { const char *name, *field, *type, *help; } gauges[] = {
		{ "streamchat_worker_up", NULL, "gauge", "1 if the worker's heartbeat is fresh." },
		{ "streamchat_worker_active_jobs", "active_jobs", "gauge", "Replies streaming now." },
		{ "streamchat_worker_jobs_total", "jobs_done", "counter", "Replies finished." },
		{ "streamchat_worker_chunks_total", "chunks", "counter", "Chunks written." },
		{ "streamchat_worker_failures_total", "failures", "counter",
		  "Replies or appends that failed." },
	};
	struct node_hashes nh;
	node_hashes_read(c, &nh, key_nodes_ai, key_node_ai);
	redisReply *nodes = nh.nodes, **h = nh.h;
	size_t n = nh.n;
	long long now = now_ms();
	for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
		prom_head(sb, gauges[g].name, gauges[g].type, gauges[g].help);
		for (size_t i = 0; i < n; i++) {
			char labels[200];
			snprintf(labels, sizeof labels, "node=\"%s\"", nodes->element[i]->str);
			double v = gauges[g].field ? num(h[i], gauges[g].field)
						   : (field(h[i], "last_seen_ms") &&
						      now - (long long)num(h[i], "last_seen_ms") <= stale_ms);
			prom_sample(sb, gauges[g].name, labels, v);
		}
	}
	upstream_errors(sb, &nh);
	prom_head(sb, "streamchat_worker_first_token_seconds", "histogram",
		  "From taking a job to writing its first chunk (the backend's latency to first token).");
	for (size_t i = 0; i < n; i++) {
		if (!field(h[i], "ft_count"))
			continue;
		struct prom_hist ft = { { 0 }, 0, 0 };
		for (int b = 0; b < PROM_BUCKETS; b++) {
			char f[16];
			snprintf(f, sizeof f, "ft_b%d", b);
			ft.counts[b] = (uint64_t)num(h[i], f);
		}
		ft.count = (uint64_t)num(h[i], "ft_count");
		ft.sum = num(h[i], "ft_sum");
		char labels[200];
		snprintf(labels, sizeof labels, "node=\"%s\"", nodes->element[i]->str);
		prom_hist_write(sb, "streamchat_worker_first_token_seconds", labels, &ft);
	}
	node_hashes_free(&nh);
}

static void recoverd_section(struct rs *c, struct strbuf *sb)
{
	static const struct { const char *name, *field, *help; } counters[] = {
		{ "streamchat_recoverd_reclaimed_total", "reclaimed",
		  "Jobs claimed from dead or stalled workers." },
		{ "streamchat_recoverd_requeued_total", "requeued",
		  "Claimed jobs put back to resume where they stopped." },
		{ "streamchat_recoverd_ended_acked_total", "ended_acked",
		  "Claimed jobs whose reply had already ended." },
	};
	struct node_hashes nh;
	node_hashes_read(c, &nh, key_nodes_recoverd, key_node_recoverd);
	redisReply *nodes = nh.nodes, **h = nh.h;
	size_t n = nh.n;
	for (size_t g = 0; g < sizeof counters / sizeof counters[0]; g++) {
		prom_head(sb, counters[g].name, "counter", counters[g].help);
		for (size_t i = 0; i < n; i++) {
			if (!h[i] || !field(h[i], "id"))
				continue;
			char labels[200];
			snprintf(labels, sizeof labels, "node=\"%s\"", nodes->element[i]->str);
			prom_sample(sb, counters[g].name, labels, num(h[i], counters[g].field));
		}
	}
	node_hashes_free(&nh);
}

/* Partition p's archive stream: its length, and its group's pending count
 * and lag added to pending[0], lag[0]; lag[1] is set when Redis told one. */
static void archive_stream(struct rs *c, int p, double *backlog, double *pending,
			   double lag[2])
{
	char k[KEY_MAX];
	redisReply *len = command(c, "XLEN %s", key_archive(k, p));
	if (len && len->type == REDIS_REPLY_INTEGER)
		*backlog += (double)len->integer;
	if (len)
		freeReplyObject(len);
	redisReply *groups = command(c, "XINFO GROUPS %s", k);
	for (size_t i = 0; groups && groups->type == REDIS_REPLY_ARRAY && i < groups->elements; i++) {
		redisReply *g = groups->element[i];
		const char *name = field(g, "name");
		if (!name || strcmp(name, ARCHIVE_GROUP) != 0)
			continue;
		for (size_t j = 0; g->type == REDIS_REPLY_ARRAY && j + 1 < g->elements; j += 2) {
			const redisReply *f = g->element[j], *v = g->element[j + 1];
			if (v->type != REDIS_REPLY_INTEGER)
				continue;  /* lag is nil when Redis cannot tell */
			if (!strcmp(f->str, "pending"))
				*pending += (double)v->integer;
			else if (!strcmp(f->str, "lag")) {
				lag[0] += (double)v->integer;
				lag[1] = 1;
			}
		}
	}
	if (groups)
		freeReplyObject(groups);
}

/* The archive streams' backlog, their group's pending count and lag (the
 * sums over the partitions), and each archiver's heartbeat
 * (doc/operating.md, "The archive"). */
static void archive_section(struct rs *c, struct strbuf *sb, long stale_ms)
{
	double backlog = 0, pending = 0, lag[2] = { 0, 0 };
	for (int p = 0; p < PARTITIONS; p++)
		archive_stream(c, p, &backlog, &pending, lag);
	prom_head(sb, "streamchat_archive_backlog", "gauge",
		  "Finished messages in the archive streams not yet stored in PostgreSQL.");
	prom_sample(sb, "streamchat_archive_backlog", NULL, backlog);
	prom_head(sb, "streamchat_archive_cap", "gauge",
		  "ARCHIVE_MAXLEN: past this backlog in one partition's stream the oldest "
		  "messages are lost to the archive.");
	prom_sample(sb, "streamchat_archive_cap", NULL, strtod(archive_maxlen(), NULL));
	prom_head(sb, "streamchat_archive_pending", "gauge",
		  "Archive entries read by an archiver and not yet acknowledged.");
	prom_sample(sb, "streamchat_archive_pending", NULL, pending);
	if (lag[1]) {
		prom_head(sb, "streamchat_archive_lag", "gauge", "Archive entries no archiver has read yet.");
		prom_sample(sb, "streamchat_archive_lag", NULL, lag[0]);
	}
	static const struct { const char *name, *field, *type, *help; } gauges[] = {
		{ "streamchat_archiver_up", NULL, "gauge", "1 if the archiver's heartbeat is fresh." },
		{ "streamchat_archiver_pg_up", "pg_up", "gauge",
		  "1 if the archiver has a PostgreSQL connection." },
		{ "streamchat_archiver_stored_total", "stored", "counter", "Messages stored." },
		{ "streamchat_archiver_duplicates_total", "duplicates", "counter",
		  "Messages not stored again: already stored, or of a deleted session." },
		{ "streamchat_archiver_unusable_total", "unusable", "counter",
		  "Entries let go unstored: malformed, trimmed, or refused." },
	};
	struct node_hashes nh;
	node_hashes_read(c, &nh, key_nodes_archiver, key_node_archiver);
	long long now = now_ms();
	for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
		prom_head(sb, gauges[g].name, gauges[g].type, gauges[g].help);
		for (size_t i = 0; i < nh.n; i++) {
			char labels[200];
			snprintf(labels, sizeof labels, "node=\"%s\"", nh.nodes->element[i]->str);
			double v = gauges[g].field ? num(nh.h[i], gauges[g].field)
						   : (field(nh.h[i], "last_seen_ms") &&
						      now - (long long)num(nh.h[i], "last_seen_ms") <= stale_ms);
			prom_sample(sb, gauges[g].name, labels, v);
		}
	}
	node_hashes_free(&nh);
}

void handle_metrics(struct api *api, struct http_response *res)
{
	struct rs *c = api_redis(api);
	if (!c) {
		api_error(res, 503, "unavailable", "redis is unreachable");
		return;
	}
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	api_section(c, &res->body);
	worker_section(c, &res->body, api->cfg.node_stale_ms);
	recoverd_section(c, &res->body);
	archive_section(c, &res->body, api->cfg.node_stale_ms);
}

/* How the bench's sockets spread over the relays, as the relays report it:
 * each live relay's heartbeat (node:ws:{N} connections, up to a second
 * old) and the sessions it holds now (HLEN sessions:node:{N}). Through
 * nginx this is what the balancer did; straight to the relays, what
 * --relay asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keys.h"
#include "redis_sync.h"
#include "redis_url.h"

static long reply_long(const redisReply *r)
{
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		return (long)r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtol(r->str, NULL, 10);
	return -1;
}

/* One relay's figures; 0 when it has no heartbeat (stopped, or gone). */
static int read_relay(redisContext *c, const char *node, struct relay_count *rc)
{
	char k[KEY_MAX];
	redisReply *conns = redisCommand(c, "HGET %s connections", key_node_ws(k, node));
	redisReply *held = redisCommand(c, "HLEN %s", key_sessions_node(k, node));
	int ok = conns && conns->type == REDIS_REPLY_STRING;
	if (ok) {
		snprintf(rc->node, sizeof rc->node, "%s", node);
		rc->connections = reply_long(conns);
		rc->sessions = reply_long(held);
	}
	freeReplyObject(conns);
	freeReplyObject(held);
	return ok;
}

int spread_read(const char *redis_url, struct relay_spread *sp)
{
	struct redis_cfg cfg;
	const char *err;
	char ebuf[200], k[KEY_MAX];
	sp->n = 0;
	if (!redis_url || redis_url_parse(redis_url, &cfg, &err))
		return -1;
	redisContext *c = rs_connect_single(&cfg, 2000, ebuf, sizeof ebuf);
	if (!c)
		return -1;
	redisReply *ids = redisCommand(c, "ZRANGE %s 0 -1", key_nodes_ws(k));
	for (size_t i = 0; ids && ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++)
		if (sp->n < SPREAD_MAX && ids->element[i]->type == REDIS_REPLY_STRING &&
		    read_relay(c, ids->element[i]->str, &sp->r[sp->n]))
			sp->n++;
	freeReplyObject(ids);
	redisFree(c);
	return 0;
}

/* The busiest relay's sockets over the mean: 1.00 is an even spread,
 * n (of n relays) all on one. */
static double spread_skew(const struct relay_spread *sp)
{
	long sum = 0, max = 0;
	for (int i = 0; i < sp->n; i++) {
		sum += sp->r[i].connections;
		if (sp->r[i].connections > max)
			max = sp->r[i].connections;
	}
	return sum > 0 ? (double)max * sp->n / (double)sum : 0;
}

void spread_print(const struct relay_spread *sp)
{
	if (!sp->n)
		return;
	printf("sockets per relay  ");
	for (int i = 0; i < sp->n; i++)
		printf(" %s %ld (%ld sessions)%s", sp->r[i].node, sp->r[i].connections, sp->r[i].sessions,
		       i + 1 < sp->n ? "," : "");
	printf("; busiest / mean %.2f\n", spread_skew(sp));
}

void spread_json(const struct relay_spread *sp)
{
	if (!sp->n)
		return;
	printf(",\"relays\":[");
	for (int i = 0; i < sp->n; i++)
		printf("%s{\"node\":\"%s\",\"connections\":%ld,\"sessions\":%ld}", i ? "," : "",
		       sp->r[i].node, sp->r[i].connections, sp->r[i].sessions);
	printf("],\"relay_skew\":%.2f", spread_skew(sp));
}

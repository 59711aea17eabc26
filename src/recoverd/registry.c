/* Keeping the session registry true when a relay dies without leaving it
 * (kill -9, a dead host): each session its hash sessions:node:{N} names
 * leaves (sessions_leave.lua on the session's slot: a session no other
 * relay holds loses its unused claim), then those entries go. The entries
 * are removed one by one rather than the whole hash, so a relay that was
 * only frozen and registers sessions again meanwhile keeps them (and its
 * heartbeat's check registers again whatever it finds missing). */
#include "keys.h"
#include "log.h"
#include "recoverd.h"
#include "redis_sync.h"

#include <string.h>

/* One session leaves relay n's registry: 1 if no relay holds it now, 0 if
 * another does, -1 on a Redis failure. */
static int leave_session(struct rs *c, const char *n, const char *sid)
{
	char krelays[KEY_MAX], ksess[KEY_MAX], knode[KEY_MAX];
	const char *keys[2] = { key_session_relays(krelays, sid), key_session(ksess, sid) };
	const char *args[1] = { n };
	redisReply *r = rs_eval(c, SCRIPT_SESSIONS_LEAVE, 2, keys, 1, args, NULL);
	if (!r)
		return -1;
	int last = r->type == REDIS_REPLY_STRING && strcmp(r->str, "last") == 0;
	if (r->type == REDIS_REPLY_ERROR)
		log_warn("registry cleanup failed", "relay=%s session=%s error=\"%s\"", n, sid, r->str);
	freeReplyObject(r);
	r = rs_command(c, "HDEL %s %s", key_sessions_node(knode, n), sid);
	if (!r)
		return -1;
	freeReplyObject(r);
	return last;
}

/* Every session of relay n leaves; how many no relay holds now, or -1. */
static long forget_relay(struct rs *c, const char *n)
{
	char knode[KEY_MAX];
	redisReply *held = rs_command(c, "HKEYS %s", key_sessions_node(knode, n));
	if (!held)
		return -1;
	long gone = 0;
	for (size_t i = 0; held->type == REDIS_REPLY_ARRAY && i < held->elements; i++) {
		int last = leave_session(c, n, held->element[i]->str);
		if (last < 0) {
			freeReplyObject(held);
			return -1;
		}
		gone += last;
	}
	int any = held->type == REDIS_REPLY_ARRAY && held->elements > 0;
	freeReplyObject(held);
	if (any)
		log_info("forgot the sessions of a silent relay", "relay=%s sessions_gone=%ld", n, gone);
	return gone;
}

int forget_dead_relays(struct rs *c, long long now, long dead_ms)
{
	char kz[KEY_MAX];
	redisReply *dead = rs_command(c, "ZRANGEBYSCORE %s -inf %lld", key_nodes_ws(kz), now - dead_ms);
	if (!dead)
		return -1;
	int rc = 0;
	for (size_t i = 0; dead->type == REDIS_REPLY_ARRAY && i < dead->elements && rc == 0; i++)
		if (forget_relay(c, dead->element[i]->str) < 0)
			rc = -1;
	freeReplyObject(dead);
	return rc;
}

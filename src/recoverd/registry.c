/* Keeping the session registry true when a relay dies without leaving it
 * (kill -9, a dead host): its sessions go, unless another relay holds them.
 * A relay that was only frozen registers them again itself. */
#include "keys.h"
#include "log.h"
#include "recoverd.h"
#include "redis_sync.h"

int forget_dead_relays(redisContext *c, long long now, long dead_ms)
{
	char kz[KEY_MAX], knode[KEY_MAX], kactive[KEY_MAX];
	redisReply *dead = redisCommand(c, "ZRANGEBYSCORE %s -inf %lld", key_nodes_ws(kz), now - dead_ms);
	if (!dead)
		return -1;
	for (size_t i = 0; dead->type == REDIS_REPLY_ARRAY && i < dead->elements; i++) {
		const char *n = dead->element[i]->str;
		redisReply *e = redisCommand(c, "EXISTS %s", key_sessions_node(knode, n));
		if (!e)
			goto fail;
		long long held = e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
		freeReplyObject(e);
		if (!held)
			continue;
		const char *keys[3] = { knode, key_sessions_active(kactive), kz };
		const char *args[2] = { n, keys_prefix() };
		redisReply *r = rs_eval(c, SCRIPT_SESSIONS_LEAVE, 3, keys, 2, args, NULL);
		if (!r)
			goto fail;
		if (r->type == REDIS_REPLY_INTEGER)
			log_info("forgot the sessions of a silent relay", "relay=%s sessions_gone=%lld", n,
				 r->integer);
		else if (r->type == REDIS_REPLY_ERROR)
			log_warn("registry cleanup failed", "relay=%s error=\"%s\"", n, r->str);
		freeReplyObject(r);
	}
	freeReplyObject(dead);
	return 0;
fail:
	freeReplyObject(dead);
	return -1;
}


/* The heartbeat over an asynchronous connection (heartbeat.h), apart from
 * heartbeat.c so that the blocking programs do not link libuv. */
#include "heartbeat.h"

#include "aredis.h"

int heartbeat_send(const struct heartbeat *hb, struct aredis *ar)
{
	struct strbuf hset = STRBUF_INIT;
	int rc = -1;
	if (heartbeat_hset(hb, &hset) == 0 &&
	    aredis_formatted(ar, NULL, NULL, hset.buf, hset.len) == 0 &&
	    aredis_command(ar, NULL, NULL, "PEXPIRE %s %ld", hb->key, hb->ttl_ms) == 0 &&
	    aredis_command(ar, NULL, NULL, "ZADD %s %lld %s", hb->set, hb->now_ms, hb->node) == 0)
		rc = 0;
	sb_release(&hset);
	return rc;
}

int heartbeat_leave(struct aredis *ar, char *(*node_key)(char *, const char *),
		    char *(*set_key)(char *), const char *node, redisCallbackFn *done, void *priv)
{
	char k[KEY_MAX], kz[KEY_MAX];
	if (aredis_command(ar, NULL, NULL, "DEL %s", node_key(k, node)) != 0)
		return -1;
	return aredis_command(ar, done, priv, "ZREM %s %s", set_key(kz), node);
}

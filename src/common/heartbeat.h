/* A node's heartbeat, written the same way by every program: its hash
 * node:<kind>:{N} (`id`, `last_seen_ms` and the program's own fields) with
 * a TTL, and its score (`last_seen_ms`) in the sorted set nodes:<kind>,
 * which outlives the hash so that a silent node is still known
 * (doc/redis.md). Over an asynchronous connection (libuv) or a blocking
 * one; a node that stops leaves both at once.
 *
 *   struct heartbeat hb;
 *   heartbeat_begin(&hb, key_node_ai, key_nodes_ai, node, now_ms(), 5000);
 *   heartbeat_fields(&hb, "active_jobs %ld status %s", n, status);
 *   heartbeat_send(&hb, ar);
 *   heartbeat_release(&hb);
 */
#ifndef SC_HEARTBEAT_H
#define SC_HEARTBEAT_H

#include <async.h>
#include <hiredis.h>

#include "keys.h"
#include "strbuf.h"

struct aredis;
struct rs;

struct heartbeat {
	char key[KEY_MAX];        /* node:<kind>:{N} */
	char set[KEY_MAX];        /* nodes:<kind> */
	const char *node;
	long long now_ms;         /* last_seen_ms, and the score in the set */
	long ttl_ms;              /* of the hash */
	struct strbuf fields;     /* the HSET's names and values, as RESP bulk strings */
	int nfields;              /* names and values in fields */
	int bad;                  /* a format hiredis could not use */
};

/* Starts a heartbeat of node at now_ms: node_key and set_key are the
 * key functions of its kind (keys.h); the fields `id` and `last_seen_ms`
 * are written. */
void heartbeat_begin(struct heartbeat *hb, char *(*node_key)(char *, const char *),
		     char *(*set_key)(char *), const char *node, long long now_ms, long ttl_ms);
/* More fields, "name value name value ..." in hiredis's format: %s is one
 * value whatever it holds, %b takes a pointer and a length, the rest are
 * printf's (%lld, %.6f, ...). */
void heartbeat_fields(struct heartbeat *hb, const char *fmt, ...);
/* The same from argc strings (names and values), lens their lengths. */
void heartbeat_fields_argv(struct heartbeat *hb, int argc, const char *const *argv,
			   const size_t *lens);
void heartbeat_release(struct heartbeat *hb);

/* The HSET of the hash, as RESP: -1 if a format was bad. */
int heartbeat_hset(const struct heartbeat *hb, struct strbuf *out);

/* HSET, PEXPIRE and ZADD sent, their replies not waited for: 0, or -1
 * when ar cannot take them (disconnected) or a format was bad. */
int heartbeat_send(const struct heartbeat *hb, struct aredis *ar);
/* The same appended to c's output: HSET, and PEXPIRE and ZADD unless
 * fields_only (a node that registers less often than it writes). Returns
 * how many replies c owes, or -1. */
int heartbeat_append(const struct heartbeat *hb, struct rs *c, int fields_only);
/* Appended, sent and every reply read: 0, or -1 when the connection
 * failed (or a format was bad). */
int heartbeat_write(const struct heartbeat *hb, struct rs *c);

/* A node that stops leaves at once rather than when its hash expires and
 * the set is trimmed: DEL of the hash, ZREM from the set; done (may be
 * NULL) gets the ZREM's reply. -1 when ar cannot take them. */
int heartbeat_leave(struct aredis *ar, char *(*node_key)(char *, const char *),
		    char *(*set_key)(char *), const char *node, redisCallbackFn *done, void *priv);

#endif

/* The session registry in Redis, kept so that every script names keys of
 * one hash slot (Redis Cluster):
 *   sessions:node:{N}      hash, this relay's sessions -> their users
 *                          (the relay's slot);
 *   sessions:relays:{S}    set, the relays holding session S (S's slot).
 *
 * A session joins when its first socket on this relay arrives and leaves
 * after its last one. Join writes the node's hash first, then the session's
 * set (sessions_join.lua); leave runs sessions_leave.lua first, then removes
 * the node's entry. Either way a relay killed between the two steps leaves
 * an entry in its own hash, which recoverd walks for a dead relay (and this
 * relay walks when it reconnects), and leaving twice changes nothing.
 * Whenever the command connection comes up (start, Redis restart) this
 * relay leaves what its hash names that it no longer holds and joins its
 * sessions again, so entries left by a kill -9 or lost with the last second
 * of AOF are put right. */
#include <stdlib.h>

#include "keys.h"
#include "log.h"
#include "relay.h"
#include "xalloc.h"

static void logged(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	(void)ac;
	(void)priv;
	if (r && r->type == REDIS_REPLY_ERROR)
		log_warn("registry update failed", "error=\"%s\"", r->str);
}

void registry_join(const char *sid, const char *uid)
{
	char knode[KEY_MAX], krelays[KEY_MAX], ksess[KEY_MAX], ttl[24];
	if (!relay.cmd.ready)
		return;  /* sessions_rejoin runs once the connection is back */
	aredis_command(&relay.cmd, logged, NULL, "HSET %s %s %s", key_sessions_node(knode, relay.node),
		       sid, uid);
	snprintf(ttl, sizeof ttl, "%ld", relay.cfg.claim_ttl_ms);
	const char *keys[2] = { key_session_relays(krelays, sid), key_session(ksess, sid) };
	const char *args[3] = { relay.node, uid, ttl };
	aredis_eval(&relay.cmd, logged, NULL, SCRIPT_SESSIONS_JOIN, 2, keys, 3, args, NULL);
}

void registry_leave(const char *sid)
{
	char knode[KEY_MAX], krelays[KEY_MAX], ksess[KEY_MAX];
	if (!relay.cmd.ready)
		return;  /* the walk at reconnection leaves it */
	const char *keys[2] = { key_session_relays(krelays, sid), key_session(ksess, sid) };
	const char *args[1] = { relay.node };
	aredis_eval(&relay.cmd, logged, NULL, SCRIPT_SESSIONS_LEAVE, 2, keys, 1, args, NULL);
	aredis_command(&relay.cmd, logged, NULL, "HDEL %s %s", key_sessions_node(knode, relay.node), sid);
}

struct walk {
	int keep_held;            /* sessions this relay holds stay (and join again) */
	redisCallbackFn *done;
};

/* The node's hash as it was when read: leave each session not kept. */
static void walked(redisAsyncContext *ac, void *reply, void *priv)
{
	struct walk *w = priv;
	redisReply *r = reply;
	char knode[KEY_MAX];
	(void)ac;
	key_sessions_node(knode, relay.node);
	if (!r) {  /* the connection went: the walk runs again when it is back */
		free(w);
		return;
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const char *sid = r->element[i]->str;
		if (!w->keep_held || !session_registered(sid))
			registry_leave(sid);
	}
	if (r->type == REDIS_REPLY_ERROR)
		log_warn("registry read failed", "error=\"%s\"", r->str);
	if (w->keep_held)
		sessions_rejoin();
	else
		aredis_command(&relay.cmd, NULL, NULL, "DEL %s", knode);
	/* the last command of the walk answers done, after everything above
	 * (on a cluster: after everything sent to the node's hash's primary) */
	aredis_command_on(&relay.cmd, knode, w->done ? w->done : logged, NULL, "PING");
	free(w);
}

static void walk(int keep_held, redisCallbackFn *done)
{
	char knode[KEY_MAX];
	if (!relay.cmd.ready)
		return;
	struct walk *w = xcalloc(1, sizeof *w);
	w->keep_held = keep_held;
	w->done = done;
	if (aredis_command(&relay.cmd, walked, w, "HKEYS %s", key_sessions_node(knode, relay.node)))
		free(w);
}

void registry_refresh(void) { walk(1, NULL); }

void registry_forget_node(redisCallbackFn *done) { walk(0, done); }

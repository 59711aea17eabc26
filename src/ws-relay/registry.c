/* The session registry in Redis: sessions:active maps
 * each connected session to its user, sessions:user:{U} lists a user's
 * connected sessions, sessions:node:{N} the sessions this relay holds.
 *
 * A session joins when its first socket on this relay arrives and leaves
 * after its last one; sessions_leave.lua drops it from the active and user
 * entries only when no other relay holds it. Whenever the command
 * connection comes up (start, Redis restart) this relay forgets what the
 * registry says about it and joins its sessions again, so entries left by a
 * kill -9 or lost with the last second of AOF are put right. */
#include "keys.h"
#include "log.h"
#include "relay.h"

static void leave_done(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	(void)ac;
	(void)priv;
	if (r && r->type == REDIS_REPLY_ERROR)
		log_warn("registry update failed", "error=\"%s\"", r->str);
}

void registry_join(const char *sid, const char *uid)
{
	char k[KEY_MAX];
	redisAsyncContext *ac = relay.cmd.ready ? relay.cmd.ac : NULL;
	if (!ac)
		return;  /* sessions_rejoin runs once the connection is back */
	redisAsyncCommand(ac, NULL, NULL, "HSET %s %s %s", key_sessions_active(k), sid, uid);
	redisAsyncCommand(ac, NULL, NULL, "SADD %s %s", key_sessions_user(k, uid), sid);
	redisAsyncCommand(ac, NULL, NULL, "SADD %s %s", key_sessions_node(k, relay.node), sid);
}

/* sid NULL: every session of this node. */
static void leave(const char *sid, redisCallbackFn *cb)
{
	char knode[KEY_MAX], kactive[KEY_MAX], knodes[KEY_MAX];
	const char *keys[3] = { key_sessions_node(knode, relay.node), key_sessions_active(kactive),
				key_nodes_ws(knodes) };
	const char *args[3] = { relay.node, keys_prefix(), sid };
	aredis_eval(&relay.cmd, cb, NULL, SCRIPT_SESSIONS_LEAVE, 3, keys, sid ? 3 : 2, args, NULL);
}

void registry_leave(const char *sid) { leave(sid, leave_done); }

void registry_forget_node(redisCallbackFn *done) { leave(NULL, done ? done : leave_done); }

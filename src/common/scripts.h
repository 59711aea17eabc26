/* The Lua scripts of share/lua, read once at startup and called by SHA.
 * Each connection loads them (SCRIPT LOAD) right after it connects, so an
 * EVALSHA never meets an empty script cache, even after a Redis restart. */
#ifndef SC_SCRIPTS_H
#define SC_SCRIPTS_H

#include <stddef.h>

struct strbuf;

enum script_id { SCRIPT_ENQUEUE, SCRIPT_START, SCRIPT_APPEND, SCRIPT_FINISH, SCRIPT_RENEW,
		 SCRIPT_SESSIONS_LEAVE, SCRIPT_CANCEL, SCRIPT_REQUEUE, SCRIPT_CLAIM,
		 SCRIPT_ORPHAN, SCRIPT_RELEASE, SCRIPT_ADMIT,
		 /* the relay's registry and claims (reg16) */
		 SCRIPT_SESSIONS_JOIN, SCRIPT_RATELIMIT,
		 SCRIPT_COUNT };

struct script {
	const char *name;
	char *body;
	size_t len;
	char sha[41];
};

/* Reads every script from dir; dies if one is missing. publish is the
 * command that publishes a session's frames (redis_publish_command():
 * PUBLISH, or SPUBLISH on a Cluster): it replaces the PUBLISH of the
 * scripts' text, so that a script's SHA is that of the text it runs. */
void scripts_load(const char *dir, const char *publish);
const struct script *script_get(enum script_id id);

/* Fills argv/argl (3 + nkeys + nargs entries) for EVALSHA of script id.
 * nkbuf (16 bytes) holds the key count's text. */
void script_argv(enum script_id id, int nkeys, const char *const *keys, int nargs,
		 const char *const *args, const size_t *lens, const char **argv, size_t *argl,
		 char *nkbuf);

/* Appends the EVALSHA of script id to out as one RESP command, what
 * hiredis would format from script_argv, for redisAsyncFormattedCommand:
 * the appends of a worker send one per batch of tokens. */
void script_resp(struct strbuf *out, enum script_id id, int nkeys, const char *const *keys,
		 int nargs, const char *const *args, const size_t *lens);

/* The directory of shared files: configured (SHARE_DIR), or when it is NULL
 * ../share beside the binary. */
const char *share_dir(const char *configured);

#endif

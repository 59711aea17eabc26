/* Commands as the cluster clients need them: a RESP-formatted command (what
 * hiredis's redisFormatCommand makes, what a buffer of pipelined commands
 * holds one after another) read back into argv, so that each can be routed
 * by its own key; and which commands may be sent again after a connection
 * broke with the command possibly run (RC_IDEMPOTENT, redis_cluster.h). */
#ifndef SC_REDIS_CMD_H
#define SC_REDIS_CMD_H

#include <stddef.h>

struct redis_argv {
	int argc;
	const char **argv;        /* into the parsed buffer, not NUL-terminated */
	size_t *lens;
	int cap;
};

/* Reads the command at buf (len bytes): the bytes it takes, 0 when buf
 * holds less than one whole command, -1 when it is no RESP array of bulk
 * strings. a's arrays grow as needed; a is left empty on -1 and 0. */
long redis_argv_parse(const char *buf, size_t len, struct redis_argv *a);
void redis_argv_free(struct redis_argv *a);

/* RC_IDEMPOTENT when running the command twice does what running it once
 * does (reads, deletes, sets to a value, and the scripts that are fenced
 * against a second run: append.lua by the index it expects, renew.lua),
 * else 0. */
int redis_cmd_flags(int argc, const char *const *argv, const size_t *lens);

/* Whether argv[0] is word (case-insensitive). */
int redis_cmd_is(int argc, const char *const *argv, const size_t *lens, const char *word);

#endif

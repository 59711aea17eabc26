/* The dispatch stream jobs:ready (doc/redis.md, "Two steps"): each job put
 * on partition p's stream (enqueue.lua, requeue.lua, orphan.lua,
 * release.lua) is followed by one entry {p p} here, a separate command
 * after the script. Workers block on this one key (Redis hands each entry
 * to one waiting worker, oldest waiter first) and then read one job of p;
 * a ready entry that never came (its writer died between the two steps,
 * or the stream was trimmed) leaves a job that the workers' sweep finds. */
#ifndef SC_READY_H
#define SC_READY_H

#include "keys.h"

/* entries kept (MAXLEN ~): far more than jobs waiting at once */
#define READY_MAXLEN 10000
#define READY_ARGC 8

/* XADD jobs:ready MAXLEN ~ READY_MAXLEN * p <partition> in argv (the
 * struct holds its strings) */
struct ready_cmd {
	char key[KEY_MAX], num[12], maxlen[24];
	const char *argv[READY_ARGC];
};
void ready_cmd(struct ready_cmd *c, int partition);
/* Announces a job of partition p on a blocking connection: 0, or -1 with
 * a warning logged (the sweep still finds the job). */
struct rs;
int ready_announce(struct rs *c, int partition);
/* The partition an entry's fields name, or -1. */
int ready_partition(const char *value, size_t len);

#endif

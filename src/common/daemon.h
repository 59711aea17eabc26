/* What every daemon of the suite does first: log level, node id, key
 * prefix, scripts and REDIS_URL, from the environment (redis_knobs and
 * daemon_knobs of config.h), dying with a clear message on a bad value. */
#ifndef SC_DAEMON_H
#define SC_DAEMON_H

#include <stddef.h>

#include "redis_url.h"

/* kind prefixes the default node id (kind-hostname-pid). */
void daemon_setup(const char *kind, char *node, size_t nodelen, struct redis_cfg *redis);

/* Touches HEARTBEAT_FILE, if set, after a heartbeat has reached Redis: a
 * container healthcheck of a program with no HTTP port tests its age
 * (heartbeat.c; heartbeat_knobs of config.h). */
void daemon_heartbeat_file(void);

#endif

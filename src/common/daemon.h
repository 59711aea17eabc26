/* What every daemon of the suite does first: log level, node id, key
 * prefix, scripts and REDIS_URL, from the environment (redis_knobs and
 * daemon_knobs of config.h), dying with a clear message on a bad value. */
#ifndef SC_DAEMON_H
#define SC_DAEMON_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "redis_url.h"

/* kind prefixes the default node id (kind-hostname-pid). */
void daemon_setup(const char *kind, char *node, size_t nodelen, struct redis_cfg *redis);

/* Touches HEARTBEAT_FILE, if set, after a heartbeat has reached Redis: a
 * container healthcheck of a program with no HTTP port tests its age
 * (heartbeat.c; heartbeat_knobs of config.h). */
void daemon_heartbeat_file(void);

/* A command line of --help (usage on stdout) or --version only: either
 * ends the program with 0, anything else with usage on stderr and 100
 * (daemon_loop.c). */
void daemon_args(int argc, char **argv, const char *name, const char *version,
		 void (*usage)(FILE *f));
/* Set by SIGTERM or SIGINT once daemon_trap_stop() has run. */
extern volatile sig_atomic_t daemon_stopping;
void daemon_trap_stop(void);
/* Sleeps ms, less if a stop signal comes. */
void daemon_nap(long ms);

#endif

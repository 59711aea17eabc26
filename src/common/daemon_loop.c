/* What the daemons that work in passes (recoverd, archiver) share around
 * their loop: a command line of --help and --version only, and a stop on
 * SIGTERM or SIGINT that also cuts a nap between passes short. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

volatile sig_atomic_t daemon_stopping;

void daemon_args(int argc, char **argv, const char *name, const char *version,
		 void (*usage)(FILE *f))
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", name, version);
			exit(0);
		}
		usage(stderr);
		exit(100);
	}
}

static void on_term(int sig)
{
	(void)sig;
	daemon_stopping = 1;
}

void daemon_trap_stop(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

void daemon_nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (!daemon_stopping && nanosleep(&ts, &ts) != 0)
		;
}

#ifndef SC_PIPE_H
#define SC_PIPE_H

#include <stdio.h>

#include "generator.h"

struct pipe_job {
	const char *session, *user, *prompt;
	const char *publish;          /* PUBLISH, or SPUBLISH for a Cluster (redis_publish_command) */
	long max_tokens, chunk_ttl_s, history_max;
};

/* Writes the RESP commands of one whole reply to out: 0, or -1. */
int run_pipe(FILE *out, const struct pipe_job *pj);

#endif

/* Where a worker's replies come from (AI_BACKEND). job.c runs a reply's
 * life in Redis the same way whatever the backend: the lease, the fenced
 * appends, their renewal, the finish and the hand-over on SIGTERM. A
 * backend only produces the reply's tokens, and says what it can and
 * cannot do. Each is one table of functions in its own file:
 *
 *   backend_builtin.c   the offline generator (generator.c)
 *   backend_openai.c    an OpenAI-compatible server (openai.c, upstream.c)
 *
 * A new backend is one more file with one more table, named in main.c. */
#ifndef SC_BACKEND_H
#define SC_BACKEND_H

#include <stddef.h>
#include <uv.h>

struct heartbeat;
struct job;
struct worker;

enum token_next {
	TOKEN_READY,   /* j->tok and j->token_len hold the next token */
	TOKEN_WAIT,    /* none yet: the backend calls job_wake when one comes */
	TOKEN_END,     /* the reply is complete */
	TOKEN_FAILED,  /* the reply ends with an error: j->err_code, j->err_msg */
};

struct backend {
	const char *name;    /* AI_BACKEND's value, and the heartbeat's `backend` */
	/* Whether a reply whose worker died mid-way can go on from its next
	 * chunk. If not, it ends `error` (interrupted) with what was written.
	 * If so, start is given the chunks written so far. */
	int resumes;
	/* Reads the backend's settings from the environment; dies with a clear
	 * message on a bad one. Called once, before anything else runs. */
	void (*configure)(void);
	/* Starts what the backend needs on the worker's loop: 0, or -1. */
	int (*init)(uv_loop_t *loop);
	/* How many of the newest items of the session's history a reply is
	 * sent with (0: none, only the prompt). They are read, under the
	 * lease, before start. */
	long (*history)(void);
	/* Sets up j->src for a new reply: j's prompt and model are known. */
	void (*open)(struct job *j);
	/* The lease is held and j->next_index chunks are written: the first
	 * token is on its way (job_later, or job_wake when it comes). history
	 * holds the items asked for, oldest first (a resumed reply of a
	 * backend that resumes: the chunks written). */
	void (*start)(struct job *j, const char *const *history, const size_t *lens, size_t n);
	/* The next token, once the one before is taken: TOKEN_WAIT when none
	 * is there yet (CHUNK_ROLLUP_MS gathers the tokens that are). */
	enum token_next (*next)(struct job *j);
	/* j's token is written: when to take the next (job_later, job_wake). */
	void (*appended)(struct job *j);
	/* Whether the reply is bound to this worker now: an AI server's answer
	 * under way cannot move mid-way, so a stopping worker keeps it until
	 * DRAIN_MS has passed rather than hand it over. */
	int (*pinned)(const struct job *j);
	/* No more tokens: the reply is cancelled, finished, handed over, or its
	 * lease is lost. Called again, or before open, it does nothing. */
	void (*stop)(struct job *j);
	/* Frees j->src (which may be NULL: a malformed job is never opened). */
	void (*close)(struct job *j);
	/* Adds to the worker's heartbeat whether its AI model can be reached
	 * (backend_state and what goes with it, doc/redis.md). */
	void (*heartbeat)(struct heartbeat *hb);
};

extern const struct backend backend_builtin, backend_openai;

#endif

/* One reply in a worker (job.c), as its backend (backend.h) sees it: the
 * job's identity, where the reply stands, and the calls a backend makes
 * when its tokens come. */
#ifndef SC_JOB_H
#define SC_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "strbuf.h"
#include "validate.h"

enum job_state { JOB_STARTING, JOB_LOADING, JOB_STREAMING, JOB_FINISHING,
		 JOB_ACKING, JOB_RELEASING };

struct job {
	struct worker *w;
	struct job *prev, *next;
	enum job_state state;
	char entry_id[64];
	int partition;              /* of the job stream the entry came from */
	char mid[ID_MAX + 1], sid[ID_MAX + 1], uid[ID_MAX + 1];
	char owner[160];
	/* the message's keys and the session's channel, named once */
	char kmeta[KEY_MAX], klock[KEY_MAX], kcancel[KEY_MAX], kchunks[KEY_MAX], kchan[KEY_MAX];
	char *prompt;
	size_t prompt_len;
	char model[160];               /* the message's own model, or "" */
	long next_index;               /* index of the next chunk to append */
	const char *tok;               /* the token being appended, token_len bytes, */
	size_t token_len;              /* the backend's until its next `next` (0: none) */
	int64_t chunk_mono_ms;         /* monotonic ms when its chunk's first token came (the frame's ts) */
	struct strbuf roll;            /* CHUNK_ROLLUP_MS: the tokens of the chunk gathering */
	int rolling;                   /* it holds a token or more */
	int roll_waits;                /* and may wait for more: tokens come fast */
	int64_t roll_start_us;         /* when its first token came */
	int64_t last_token_us;         /* when the reply's last token came (0: none yet) */
	const char *end_status;        /* complete, cancelled, error */
	char err_code[32], err_msg[200];
	void *src;                     /* the backend's own state for this reply */
	uv_timer_t timer;
	int waiting;                   /* a command is in flight */
	int64_t taken_us;              /* when this worker took the job */
	int first_written;             /* its first chunk is written (first-token latency) */
	int cancelled;                 /* the lease renewal found the lock marked */
	int resent;                    /* REDIS_WAIT_REPLICAS: its held chunk's WAIT was lost,
					* the append goes again */
};

/* For backends. The job takes its next step in ms (0: at the loop's next
 * turn, after what runs now). */
void job_later(struct job *j, long ms);
/* A token, or the end, came for a streaming reply that may be waiting. */
void job_wake(struct job *j);
/* The reply ends with an `error` frame: code and message. */
void job_fail(struct job *j, const char *code, const char *msg);

#endif

/* One ai-streamer process: a libuv loop that streams up to `concurrency`
 * replies at once, interleaved, each at its own pace, from one backend
 * (backend.h). Two Redis connections: `jobs` blocks in XREADGROUP on
 * jobs:ready (dispatch.c), `cmd` carries every write. */
#ifndef SC_WORKER_H
#define SC_WORKER_H

#include <stdint.h>
#include <uv.h>

#include "aredis.h"
#include "backend.h"
#include "config.h"
#include "prom.h"
#include "redis_url.h"
#include "strbuf.h"
#include "validate.h"

/* ai-streamer's knobs (main.c), read by the backends too */
extern const struct knob_table streamer_knobs;

/* how long the jobs connection's read of jobs:ready blocks */
#define READ_BLOCK_MS 2000

struct worker_config {
	struct redis_cfg redis;
	long concurrency;
	long token_delay_ms;
	long max_tokens;
	long lease_ms;
	long chunk_ttl_s;
	long history_max;
	long drain_ms;
	long append_flush_ms;
	long chunk_rollup_ms;
};

struct job;

/* Appends due at the same moment that go to Redis in one call at most */
#define APPEND_BATCH 256

struct worker {
	uv_loop_t *loop;
	struct worker_config cfg;
	const struct backend *backend; /* AI_BACKEND */
	char node[128];
	struct aredis jobs;         /* XREADGROUP ... BLOCK of jobs:ready, then the takes */
	struct aredis cmd;          /* scripts, XACK, heartbeat, the sweep */
	int reading;                /* XREADGROUPs in flight */
	int blocked;                /* one of them is the blocking read of jobs:ready */
	long promised;              /* jobs the partition reads in flight may bring */
	int sweeping, sweep_at;     /* the sweep's read in flight, its next partition */
	int cluster;                /* cluster_enabled: one append.lua or renew.lua call
				     * per partition (their keys in one slot) */
	uv_timer_t sweep;
	long long jobs_client_id;   /* the jobs connection's CLIENT ID, to unblock it */
	int stopping;               /* SIGTERM: no more jobs, replies handed over */
	int drain_over;             /* DRAIN_MS passed: AI server replies go too */
	struct job *active;         /* doubly linked */
	long nactive;
	uint64_t jobs_done, chunks, failures;
	struct prom_hist first_token; /* from taking a job to its first chunk written */
	int64_t started_ms;
	struct strbuf scratch;      /* frames being built; reused for every command */
	struct job *batch[APPEND_BATCH]; /* jobs whose append waits for the next flush */
	int nbatch;
	uv_prepare_t before_poll;   /* flush the appends timers made due */
	uv_check_t after_poll;      /* and those that I/O callbacks made due */
	uv_timer_t flush;           /* APPEND_FLUSH_MS: the end of a batch's window */
	uv_timer_t renew;           /* extends the leases of the active jobs */
	uv_timer_t heartbeat;
	uv_timer_t drain;
	uv_signal_t sigterm, sigint;
};

/* Takes one entry of the jobs stream: fields are name/value pairs. */
void job_begin(struct worker *w, int partition, const char *entry_id, char **fields, size_t *lens,
	       size_t n);
/* Called when Redis comes back, for jobs whose last command got no reply. */
void jobs_resume(struct worker *w);
/* Starts the flushing of batched appends and the renewal of leases. */
void appends_init(struct worker *w);
/* Asks for more jobs if there is room (dispatch.c). */
void worker_want_jobs(struct worker *w);
/* The jobs connection is (again) up: the groups made, the first read. */
void dispatch_connected(struct worker *w);
/* Starts the sweep's timer. */
void dispatch_init(struct worker *w);
/* A stopping worker: hands over the replies that may go now (release.lua). */
void jobs_hand_over(struct worker *w);

#endif

/* The life of one reply in a worker (doc/protocol.md, "The life of a reply"):
 *
 *   start.lua   take the lease; learn how many chunks exist (resume point)
 *   append.lua  once per token: fenced by the lease, refused after cancel,
 *               only at the expected index; publishes the chunk frame
 *   renew.lua   every LEASE_MS/3, for all of the worker's leases at once
 *   finish.lua  history, final status, end frame, chunk TTL, lease released
 *   XACK        the job is done
 *
 * The tokens come from the worker's backend (backend.h: the built-in
 * generator, or an AI server). A backend that sends the conversation has
 * the session's history read first (LRANGE), under the lease. Stopping the
 * backend (a cancel, a lost lease, the end) closes an AI server's request.
 *
 * A cancel marks the lock; the next append is refused, and the lease
 * renewal, at least every second, reports it too: a reply waiting on a
 * silent server ends at once rather than when the server times out.
 *
 * A stopping worker (SIGTERM) takes no more jobs and hands its replies over
 * (release.lua): the lease dropped and the job requeued at the next chunk,
 * for another worker to take at once. A reply its backend pinned here (an
 * AI server's, once sent, cannot move mid-way) has DRAIN_MS to end here
 * first.
 *
 * One command per job is in flight at a time, so a job's chunks are
 * written in order, while many jobs interleave on the connection. The
 * appends that fall due in one turn of the loop go out as one append.lua
 * call. A command whose reply is lost (Redis went away) is sent again after
 * a pause; the index check of append.lua tells whether the lost one was
 * applied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "backend.h"
#include "fault.h"
#include "fence.h"
#include "frame.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "ready.h"
#include "rollup.h"
#include "strbuf.h"
#include "util.h"
#include "worker.h"
#include "xalloc.h"

#define RETRY_MS 200
#define RENEW_MAX_MS 1000

static void step(struct job *j);
static void flush_appends(struct worker *w);
static void batch_add(struct worker *w, struct job *j);
static int hand_over_now(const struct job *j);

static void job_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	j->w->backend->close(j);
	sb_release(&j->roll);
	free(j->prompt);
	free(j);
}

static void job_end(struct job *j)
{
	struct worker *w = j->w;
	if (j->prev)
		j->prev->next = j->next;
	else
		w->active = j->next;
	if (j->next)
		j->next->prev = j->prev;
	w->nactive--;
	w->backend->stop(j);
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, job_closed);
	worker_want_jobs(w);
}

static void timer_cb(uv_timer_t *t) { step(t->data); }

void job_later(struct job *j, long ms)
{
	/* from now, not from when this turn of the loop began: a timer must
	 * not fire before the token it waits for is due (a busy turn lasts
	 * milliseconds) */
	uv_update_time(j->w->loop);
	uv_timer_start(&j->timer, timer_cb, (uint64_t)ms, 0);
}

/* The reply was lost with the connection: try the same step again. */
static int lost(struct job *j, redisReply *r)
{
	j->waiting = 0;
	if (r)
		return 0;
	job_later(j, RETRY_MS);
	return 1;
}

static void acked(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	(void)ac;
	if (lost(j, reply))
		return;
	j->w->jobs_done++;
	log_info("job done", "message=%s session=%s job=%s status=%s chunks=%ld", j->mid, j->sid,
		 j->entry_id, j->end_status ? j->end_status : "skipped", j->next_index);
	job_end(j);
}

static void ack(struct job *j)
{
	j->state = JOB_ACKING;
	step(j);
}

static void end_waited(redisAsyncContext *ac, void *reply, void *priv);

/* Fenced: the WAIT for the end finish.lua wrote, on the connection that ran
 * it. With that connection going, finish.lua again (answered "lease" if it
 * ran, and the relays' resync sends its end frame). */
static void end_fence(struct job *j, redisAsyncContext *ran)
{
	if (fence_wait(j->w, ran, end_waited, j) == 0)
		j->waiting = 1;
	else
		job_later(j, RETRY_MS);
}

static void finished(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	redisReply *r = reply;
	if (lost(j, r))
		return;
	if (r->type == REDIS_REPLY_INTEGER) {
		fault_point("ai-streamer:after-finish", j->sid);
		if (fence_on(j->w))
			end_fence(j, ac);
		else
			ack(j);
		return;
	}
	/* lease lost: another worker owns the message now; the job is theirs */
	j->w->failures++;
	log_warn("finish refused", "message=%s reason=\"%s\"", j->mid,
		 r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR ? r->str : "?");
	job_end(j);
}

/* The end (or error) frame of the reply. */
static void end_frame(const struct job *j, struct strbuf *frame)
{
	if (!strcmp(j->end_status, "error"))
		frame_error(frame, j->sid, j->mid, j->err_code, j->err_msg);
	else
		frame_end(frame, j->end_status, j->sid, j->mid, j->next_index);
}

/* The answer to the WAIT after a fenced finish.lua: the end frame goes out
 * once the replicas have the reply's end, and then the job is acknowledged. */
static void end_waited(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	redisReply *r = reply;
	struct worker *w = j->w;
	j->waiting = 0;
	if (!r || r->type == REDIS_REPLY_ERROR) {
		/* a new primary may lack the end: finish.lua again (answered "lease"
		 * if it has it, and the relays' resync sends its end frame) */
		job_later(j, RETRY_MS);
		return;
	}
	if (!fence_held(w, r, "end")) {
		end_fence(j, ac);
		return;
	}
	sb_reset(&w->scratch);
	end_frame(j, &w->scratch);
	fence_publish(w, j->kchan, w->scratch.buf, w->scratch.len);
	ack(j);
}

static void finish(struct job *j, const char *status)
{
	j->w->backend->stop(j);
	j->state = JOB_FINISHING;
	j->end_status = status;
	step(j);
}

void job_fail(struct job *j, const char *code, const char *msg)
{
	if (code != j->err_code) {
		snprintf(j->err_code, sizeof j->err_code, "%s", code);
		snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
	}
	j->w->failures++;  /* a reply that failed, whoever's fault */
	log_warn("reply ended with an error", "message=%s code=%s error=\"%s\" chunks=%ld", j->mid,
		 code, msg, j->next_index);
	finish(j, "error");
}

/* Something arrived for a streaming job that was waiting for it. */
void job_wake(struct job *j)
{
	if (j->state == JOB_STREAMING && !j->waiting && !uv_is_active((uv_handle_t *)&j->timer))
		step(j);
}

/* The lease is held and the backend has what it needs: the tokens flow,
 * unless a stopping worker hands the reply over before anything is sent. */
static void stream(struct job *j, const char *const *items, const size_t *lens, size_t n)
{
	j->state = JOB_STREAMING;
	if (hand_over_now(j))
		step(j);
	else
		j->w->backend->start(j, items, lens, n);
}

/* Reply to LRANGE of the session's history (the conversation to send), or
 * of a resumed reply's chunks (where it stands). */
static void loaded(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	redisReply *r = reply;
	(void)ac;
	if (lost(j, r))
		return;
	if (j->cancelled) {
		finish(j, "cancelled");
		return;
	}
	size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
	const char **items = xmalloc((n + 1) * sizeof *items);
	size_t *lens = xmalloc((n + 1) * sizeof *lens);
	for (size_t i = 0; i < n; i++) {
		items[i] = r->element[i]->str ? r->element[i]->str : "";
		lens[i] = r->element[i]->len;
	}
	stream(j, items, lens, n);
	free(items);
	free(lens);
}

/* What an append.lua answer means for the job. */
enum append_outcome { APPEND_LOST, APPEND_WRITTEN, APPEND_REFUSED };

/* Reads one job's answer; a lost or refused append is dealt with here. */
static enum append_outcome append_answer(struct job *j, redisReply *r)
{
	if (lost(j, r))
		return APPEND_LOST;
	if (r->type == REDIS_REPLY_INTEGER ||
	    (r->type == REDIS_REPLY_STRING && !strncmp(r->str, "index:", 6) &&
	     atol(r->str + 6) == j->next_index + 1))
		/* written (the second case: by our own earlier try whose reply was lost) */
		return APPEND_WRITTEN;
	const char *why = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR ? r->str : "?";
	if (!strcmp(why, "cancelled")) {
		finish(j, "cancelled");
		return APPEND_REFUSED;
	}
	j->w->failures++;
	log_warn("append refused", "message=%s index=%ld reason=\"%s\"", j->mid, j->next_index, why);
	job_end(j);
	return APPEND_REFUSED;
}

/* The chunk is written (and, fenced, on enough replicas and published): the
 * backend gives the next. */
static void chunk_done(struct job *j)
{
	j->waiting = 0;
	j->next_index++;
	chunk_written(j);
	j->w->chunks++;
	if (!j->first_written) {
		j->first_written = 1;
		prom_hist_observe(&j->w->first_token, (double)(mono_us() - j->taken_us) / 1e6);
	}
	j->w->backend->appended(j);
}

static void appended(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	(void)ac;
	if (append_answer(j, reply) == APPEND_WRITTEN)
		chunk_done(j);
}

static void started(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	redisReply *r = reply;
	(void)ac;
	if (lost(j, r))
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		log_error("start failed", "message=%s error=\"%s\"", j->mid,
			  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		j->w->failures++;
		job_later(j, RETRY_MS * 5);
		return;
	}
	const char *st = r->element[0]->str;
	long written = (long)r->element[1]->integer;
	if (!strcmp(st, "ok") || !strcmp(st, "cancelled")) {
		const struct backend *b = j->w->backend;
		j->next_index = written;
		log_info("job started", "message=%s session=%s job=%s resume_from=%ld", j->mid, j->sid,
			 j->entry_id, written);
		if (!strcmp(st, "cancelled"))
			finish(j, "cancelled");
		else if (written > 0 && !b->resumes)
			/* e.g. an HTTP reply cannot be taken up again mid-way: keep what was written */
			job_fail(j, "interrupted", "the worker streaming this reply stopped; it ends here");
		else if (b->history() > 0 || (written > 0 && b->resumes)) {
			j->state = JOB_LOADING;
			step(j);
		} else
			stream(j, NULL, NULL, 0);
	} else if (!strcmp(st, "locked")) {
		/* another worker holds it; if that one dies, recoverd re-queues it */
		log_info("job skipped", "message=%s reason=locked", j->mid);
		job_end(j);
	} else {
		log_info("job skipped", "message=%s reason=%s", j->mid, st);
		j->end_status = NULL;
		ack(j);
	}
}

/* --- handing replies over when stopping */

/* Whether a stopping worker hands this reply over now. The built-in
 * generator goes on anywhere from the next chunk, and a request not sent yet
 * can be sent from anywhere; an AI server's reply cannot move mid-way (its
 * backend pins it), so it waits for the end of DRAIN_MS. Not while a read
 * of jobs is in flight: it could bring the requeued job straight back to
 * this worker. */
static int hand_over_now(const struct job *j)
{
	const struct worker *w = j->w;
	if (!w->stopping || w->reading || j->cancelled ||
	    (j->state != JOB_LOADING && j->state != JOB_STREAMING))
		return 0;
	return w->drain_over || j->state == JOB_LOADING || !w->backend->pinned(j);
}

/* release.lua put the job back on its partition's stream: announced on
 * jobs:ready like any new job (doc/redis.md, "Two steps") */
static void announce_released(const struct job *j)
{
	struct ready_cmd rc;
	ready_cmd(&rc, j->partition);
	aredis_command_argv(&j->w->cmd, NULL, NULL, READY_ARGC, rc.argv, NULL);
}

static void released(redisAsyncContext *ac, void *reply, void *priv)
{
	struct job *j = priv;
	redisReply *r = reply;
	(void)ac;
	if (lost(j, r))
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		log_info("job handed over", "message=%s session=%s job=%s outcome=%s resume_from=%lld",
			 j->mid, j->sid, j->entry_id, r->element[0]->str, r->element[1]->integer);
		if (!strcmp(r->element[0]->str, "released"))
			announce_released(j);
	} else  /* the lease runs out and recoverd requeues it */
		log_warn("hand-over failed", "message=%s error=\"%s\"", j->mid,
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	job_end(j);
}

void jobs_hand_over(struct worker *w)
{
	for (struct job *j = w->active, *next; j; j = next) {
		next = j->next;
		if (!j->waiting && hand_over_now(j)) {
			uv_timer_stop(&j->timer);
			step(j);
		}
	}
}

/* renew.lua found the lock marked: a reply waiting on a silent AI server
 * would learn it only at its next append, or its timeout. */
static void cancel_noticed(struct job *j)
{
	if (j->cancelled || (j->state != JOB_LOADING && j->state != JOB_STREAMING))
		return;
	j->cancelled = 1;
	j->w->backend->stop(j);
	log_info("cancel noticed", "message=%s chunks=%ld", j->mid, j->next_index);
	if (!j->waiting) {
		uv_timer_stop(&j->timer);
		finish(j, "cancelled");
	}
	/* else the reply to the command in flight goes on to finish */
}

/* --- appends, batched */

struct batch {
	struct worker *w;
	int n;
	struct job *jobs[APPEND_BATCH];
	/* REDIS_WAIT_REPLICAS: the frames, published once the WAIT holds */
	int fenced;                    /* a WAIT follows the call's answer */
	char held[APPEND_BATCH];       /* this job's chunk is written, its frame held */
	struct strbuf frames;
	size_t frame_off[APPEND_BATCH], frame_len[APPEND_BATCH];
};

static void batch_free(struct batch *b)
{
	sb_release(&b->frames);
	free(b);
}

/* One job's answer of a call's: no reply (lost) or an error for the whole
 * call is the same for each. */
static redisReply *answer_of(redisReply *r, int i)
{
	static redisReply missing = { .type = REDIS_REPLY_ERROR, .str = "no reply" };
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return r;
	return (size_t)i < r->elements ? r->element[i] : &missing;
}

static void batch_lost(struct batch *b);
static void batch_waited(redisAsyncContext *ac, void *reply, void *priv);

static void batch_appended(redisAsyncContext *ac, void *reply, void *priv)
{
	struct batch *b = priv;
	int held = 0;
	for (int i = 0; i < b->n; i++) {
		if (!b->fenced) {
			appended(ac, answer_of(reply, i), b->jobs[i]);
			continue;
		}
		struct job *j = b->jobs[i];
		redisReply *one = answer_of(reply, i);
		if (append_answer(j, one) == APPEND_WRITTEN) {
			b->held[i] = 1;
			held = 1;
			j->waiting = 1;  /* until the WAIT answers */
			if (j->resent)  /* a new primary lacked it, or has it */
				log_info("held chunk appended again", "message=%s index=%ld outcome=%s",
					 j->mid, j->next_index,
					 one->type == REDIS_REPLY_INTEGER ? "written" : "found");
			j->resent = 0;
		}
	}
	if (!b->fenced || !held)
		batch_free(b);
	else if (fence_wait(b->w, ac, batch_waited, b))
		batch_lost(b);  /* its connection is going: as if lost */
}

/* The held chunks go again (a retry finds them written, or writes them on a
 * primary that lacks them) and wait again. */
static void batch_lost(struct batch *b)
{
	for (int i = 0; i < b->n; i++)
		if (b->held[i]) {
			b->jobs[i]->waiting = 0;
			b->jobs[i]->resent = 1;
			job_later(b->jobs[i], RETRY_MS);
		}
	batch_free(b);
}

/* The answer to the WAIT after a fenced append.lua call. Short of the
 * replicas asked for: nothing is published, it waits again, the frames
 * held (a primary that died now takes back nothing a client saw). */
static void batch_waited(redisAsyncContext *ac, void *reply, void *priv)
{
	struct batch *b = priv;
	struct worker *w = b->w;
	if (!reply || ((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
		if (reply)
			log_warn("WAIT failed", "error=\"%s\"", ((redisReply *)reply)->str);
		batch_lost(b);  /* again after a pause */
		return;
	}
	if (!fence_held(w, reply, "chunks")) {
		if (fence_wait(w, ac, batch_waited, b))
			batch_lost(b);
		return;
	}
	for (int i = 0; i < b->n; i++)
		if (b->held[i]) {
			struct job *j = b->jobs[i];
			fence_publish(w, j->kchan, b->frames.buf + b->frame_off[i],
				      b->frame_len[i]);
			chunk_done(j);
		}
	batch_free(b);
}

/* Sends the appends of jobs[0..n) as one append.lua call (fenced: with no
 * publish, and a WAIT after it). */
static void append_call(struct worker *w, struct job *const *jobs, int n)
{
	struct batch *b = xcalloc(1, sizeof *b);
	b->w = w;
	b->n = n;
	b->fenced = fence_on(w);
	memcpy(b->jobs, jobs, (size_t)n * sizeof *b->jobs);

	/* every frame and index into one buffer first: it may move while it grows */
	struct strbuf *buf = &w->scratch;
	size_t off[APPEND_BATCH], ioff[APPEND_BATCH], iend[APPEND_BATCH];
	/* the clocks once a call: a frame's ts is its chunk's first token */
	int64_t wall = now_ms(), mono = mono_us() / 1000;
	sb_reset(buf);
	for (int i = 0; i < n; i++) {
		struct job *j = b->jobs[i];
		ioff[i] = buf->len;
		sb_add_int(buf, j->next_index);
		iend[i] = buf->len;
		off[i] = buf->len;
		frame_chunk(buf, j->sid, j->mid, j->next_index, j->tok, j->token_len,
			    wall - (mono - j->chunk_mono_ms));
	}
	const char *keys[2 * APPEND_BATCH], *args[5 * APPEND_BATCH];
	size_t lens[5 * APPEND_BATCH];
	for (int i = 0; i < n; i++) {
		struct job *j = b->jobs[i];
		const char **a = args + 5 * i;
		size_t *l = lens + 5 * i;
		keys[2 * i] = j->kchunks, keys[2 * i + 1] = j->klock;
		a[0] = j->owner, l[0] = strlen(j->owner);
		a[1] = buf->buf + ioff[i], l[1] = iend[i] - ioff[i];
		a[2] = j->tok, l[2] = j->token_len;
		a[3] = b->fenced ? "" : j->kchan, l[3] = strlen(a[3]);
		a[4] = buf->buf + off[i];
		l[4] = (i + 1 < n ? ioff[i + 1] : buf->len) - off[i];
		if (b->fenced) {
			b->frame_off[i] = b->frames.len;
			b->frame_len[i] = l[4];
			sb_add(&b->frames, a[4], l[4]);
		}
	}
	if (aredis_eval(&w->cmd, batch_appended, b, SCRIPT_APPEND, 2 * n, keys, 5 * n, args, lens) == 0)
		return;
	/* Redis is away: each tries again when it is back */
	for (int i = 0; i < n; i++) {
		b->jobs[i]->waiting = 0;
		job_later(b->jobs[i], RETRY_MS);
	}
	batch_free(b);
}

/* Sends the appends waiting in w->batch: one call, or on a cluster-enabled
 * Redis one call per partition present (each call's keys in one slot). */
static void flush_appends(struct worker *w)
{
	int n = w->nbatch;
	if (!n)
		return;
	w->nbatch = 0;
	uv_timer_stop(&w->flush);
	if (!w->cluster) {
		append_call(w, w->batch, n);
		return;
	}
	struct job *part[APPEND_BATCH];
	for (int p = 0; p < PARTITIONS; p++) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (w->batch[i]->partition == p)
				part[k++] = w->batch[i];
		if (k)
			append_call(w, part, k);
	}
}

enum { RENEW_MAX = 256 };

/* The owners of one renew.lua call, to find their jobs when the answer comes
 * (a job may have ended meanwhile). */
struct renewal {
	struct worker *w;
	int n;
	char owners[RENEW_MAX][sizeof ((struct job *)0)->owner];
};

static void renewed(redisAsyncContext *ac, void *reply, void *priv)
{
	struct renewal *rn = priv;
	redisReply *r = reply;
	(void)ac;
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && i < (size_t)rn->n; i++) {
		if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer != 2)
			continue;
		for (struct job *j = rn->w->active; j; j = j->next)
			if (!strcmp(j->owner, rn->owners[i])) {
				cancel_noticed(j);
				break;
			}
	}
	free(rn);
}

static void renew_send(struct worker *w, struct renewal *rn, const char **keys, const char **args)
{
	if (aredis_eval(&w->cmd, renewed, rn, SCRIPT_RENEW, rn->n, keys, rn->n + 1, args, NULL))
		free(rn);
}

/* The leases of every job that holds one, extended in one call: appends do
 * not renew them, so that they cost Redis three calls a token. */
static void renew_partition(struct worker *w, int p, const char **keys, const char **args);

static void renew_leases(uv_timer_t *t)
{
	struct worker *w = t->data;
	const char *keys[RENEW_MAX], *args[RENEW_MAX + 1];
	char slease[24];
	snprintf(slease, sizeof slease, "%ld", w->cfg.lease_ms);
	args[0] = slease;
	/* one call, or on a cluster-enabled Redis one per partition (p >= 0) */
	for (int p = w->cluster ? 0 : -1; p < (w->cluster ? PARTITIONS : 0); p++)
		renew_partition(w, p, keys, args);
}

/* The leases of partition p's jobs (every job's for p < 0). */
static void renew_partition(struct worker *w, int p, const char **keys, const char **args)
{
	struct renewal *rn = NULL;
	for (struct job *j = w->active; j; j = j->next) {
		if (j->state != JOB_LOADING && j->state != JOB_STREAMING && j->state != JOB_FINISHING &&
		    j->state != JOB_RELEASING)
			continue;
		if (p >= 0 && j->partition != p)
			continue;
		if (!rn) {
			rn = xcalloc(1, sizeof *rn);
			rn->w = w;
		}
		int i = rn->n++;
		snprintf(rn->owners[i], sizeof rn->owners[i], "%s", j->owner);
		keys[i] = j->klock;
		args[i + 1] = rn->owners[i];
		if (rn->n == RENEW_MAX) {
			renew_send(w, rn, keys, args);
			rn = NULL;
		}
	}
	if (rn)
		renew_send(w, rn, keys, args);
}

static void flush_before_poll(uv_prepare_t *h) { flush_appends(h->data); }
static void flush_after_poll(uv_check_t *h) { flush_appends(h->data); }
static void flush_window_over(uv_timer_t *t) { flush_appends(t->data); }

/* A job's token joins the next append.lua call. With APPEND_FLUSH_MS the
 * call waits that long for the tokens of other replies (a bigger batch is
 * fewer calls, reads and writes for every process on the way), unless it
 * holds the first chunk of a reply, which goes at the next turn of the loop
 * (the time to the first token); without it, at the end of this turn. */
static void batch_add(struct worker *w, struct job *j)
{
	w->batch[w->nbatch++] = j;
	if (w->nbatch == APPEND_BATCH)
		flush_appends(w);
	else if (w->cfg.append_flush_ms > 0 && !j->first_written)
		uv_timer_start(&w->flush, flush_window_over, 0, 0);
	else if (w->nbatch == 1 && w->cfg.append_flush_ms > 0)
		uv_timer_start(&w->flush, flush_window_over, (uint64_t)w->cfg.append_flush_ms, 0);
}

void appends_init(struct worker *w)
{
	uv_prepare_init(w->loop, &w->before_poll);
	uv_check_init(w->loop, &w->after_poll);
	uv_timer_init(w->loop, &w->flush);
	w->before_poll.data = w->after_poll.data = w->flush.data = w;
	if (w->cfg.append_flush_ms == 0) {
		uv_prepare_start(&w->before_poll, flush_before_poll);
		uv_check_start(&w->after_poll, flush_after_poll);
	}
	/* they must not keep a stopping worker's loop alive */
	uv_unref((uv_handle_t *)&w->before_poll);
	uv_unref((uv_handle_t *)&w->after_poll);
	uv_timer_init(w->loop, &w->renew);
	w->renew.data = w;
	/* a third of the lease, and at least every second: how soon a cancel
	 * reaches a reply that appends nothing */
	long ms = w->cfg.lease_ms / 3 < RENEW_MAX_MS ? w->cfg.lease_ms / 3 : RENEW_MAX_MS;
	uint64_t every = (uint64_t)(ms > 0 ? ms : 1);
	uv_timer_start(&w->renew, renew_leases, every, every);
	uv_unref((uv_handle_t *)&w->renew);
}

/* A streaming job's step: its next token into the batch of appends. */
static void stream_step(struct job *j)
{
	struct worker *w = j->w;
	if (j->cancelled) {
		finish(j, "cancelled");
		return;
	}
	if (!j->token_len) {
		switch (chunk_next(j)) {
		case TOKEN_READY:
			j->chunk_mono_ms = chunk_born_mono_ms(j);
			break;
		case TOKEN_WAIT:
			return;  /* the backend wakes the job when one comes */
		case TOKEN_END:
			finish(j, "complete");
			return;
		case TOKEN_FAILED:
			job_fail(j, j->err_code, j->err_msg);
			return;
		}
	}
	j->waiting = 1;
	batch_add(w, j);
}

/* Sends the command of the job's current state. */
static void step(struct job *j)
{
	struct worker *w = j->w;
	const char *kmeta = j->kmeta, *klock = j->klock, *kcancel = j->kcancel,
		   *kchunks = j->kchunks, *kchan = j->kchan;
	char snow[24], slease[24];
	struct strbuf *frame = &w->scratch;
	int rc = -1;
	if (j->waiting)
		return;
	if (hand_over_now(j)) {
		w->backend->stop(j);
		j->state = JOB_RELEASING;
	}
	if (j->state == JOB_STREAMING) {
		stream_step(j);  /* once per token: nothing else of the rest */
		return;
	}
	snprintf(snow, sizeof snow, "%lld", (long long)now_ms());
	snprintf(slease, sizeof slease, "%ld", w->cfg.lease_ms);
	sb_reset(frame);  /* hiredis copies a command's arguments as it is sent */

	switch (j->state) {
	case JOB_STARTING: {
		const char *keys[] = { kmeta, klock, kcancel, kchunks };
		const char *args[] = { j->owner, slease, snow };
		rc = aredis_eval(&w->cmd, started, j, SCRIPT_START, 4, keys, 3, args, NULL);
		break;
	}
	case JOB_LOADING: {
		/* a resumed reply: the chunks written; else the session's history */
		char khist[KEY_MAX];
		int chunks = j->next_index > 0 && w->backend->resumes;
		rc = aredis_command(&w->cmd, loaded, j, "LRANGE %s %ld -1",
				    chunks ? kchunks : key_history(khist, j->sid),
				    chunks ? 0 : -w->backend->history());
		break;
	}
	case JOB_STREAMING:
		break;  /* stream_step */
	case JOB_FINISHING: {
		char khist[KEY_MAX], ksess[KEY_MAX], karchive[KEY_MAX], sttl[24], shist[24],
			stotal[24];
		end_frame(j, frame);
		snprintf(sttl, sizeof sttl, "%ld", w->cfg.chunk_ttl_s);
		snprintf(shist, sizeof shist, "%ld", w->cfg.history_max);
		snprintf(stotal, sizeof stotal, "%ld", j->next_index);
		const char *keys[] = { kchunks, kmeta, klock, kcancel, key_history(khist, j->sid),
				       key_session(ksess, j->sid), key_archive(karchive, j->partition) };
		/* fenced: the end frame goes once the replicas have the end */
		const char *args[] = { j->owner, j->end_status, fence_on(w) ? "" : kchan, frame->buf,
				       sttl, snow, shist, j->mid, stotal, archive_maxlen() };
		rc = aredis_eval(&w->cmd, finished, j, SCRIPT_FINISH, 7, keys, 10, args, NULL);
		break;
	}
	case JOB_ACKING: {
		/* finish.lua's second step, on the user's slot (doc/redis.md, "Two
		 * steps"): the reply leaves the user's replies in flight. A ZREM
		 * lost here is made up for by chat-fcgi's cleanup. */
		char kjobs[KEY_MAX], kstreams[KEY_MAX];
		if (j->end_status)
			aredis_command(&w->cmd, NULL, NULL, "ZREM %s %s",
				       key_streams_user(kstreams, j->uid), j->mid);
		rc = aredis_command(&w->cmd, acked, j, "XACK %s %s %s", key_jobs(kjobs, j->partition),
				    JOBS_GROUP, j->entry_id);
		break;
	}
	case JOB_RELEASING: {
		char kjobs[KEY_MAX];
		const char *keys[] = { key_jobs(kjobs, j->partition), kmeta, klock, kchunks };
		const char *args[] = { JOBS_GROUP, j->entry_id, j->owner, j->mid, j->sid, j->uid,
				       j->model, j->prompt };
		size_t lens[] = { strlen(JOBS_GROUP), strlen(j->entry_id), strlen(j->owner),
				  strlen(j->mid), strlen(j->sid), strlen(j->uid), strlen(j->model),
				  j->prompt_len };
		rc = aredis_eval(&w->cmd, released, j, SCRIPT_RELEASE, 4, keys, 8, args, lens);
		break;
	}
	}
	if (rc == 0)
		j->waiting = 1;
	else
		job_later(j, RETRY_MS);  /* Redis is away: try again when it is back */
}

static const char *field(char **fields, size_t *lens, size_t n, const char *name, size_t *len)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		if (!strcmp(fields[i], name)) {
			*len = lens[i + 1];
			return fields[i + 1];
		}
	return NULL;
}

void job_begin(struct worker *w, int partition, const char *entry_id, char **fields, size_t *lens,
	       size_t n)
{
	size_t ml = 0, sl = 0, ul = 0, pl = 0;
	const char *mid = field(fields, lens, n, "message_id", &ml);
	const char *sid = field(fields, lens, n, "session_id", &sl);
	const char *uid = field(fields, lens, n, "user_id", &ul);
	const char *prompt = field(fields, lens, n, "prompt", &pl);
	size_t model_len = 0;
	const char *model = field(fields, lens, n, "model", &model_len);
	struct job *j = xcalloc(1, sizeof *j);
	j->w = w;
	snprintf(j->entry_id, sizeof j->entry_id, "%s", entry_id);
	j->partition = partition;
	uv_timer_init(w->loop, &j->timer);
	j->timer.data = j;
	j->next = w->active;
	if (w->active)
		w->active->prev = j;
	w->active = j;
	w->nactive++;

	if (!mid || !valid_message_id(mid, ml) || !sid || !valid_id(sid, sl) || !uid ||
	    !valid_id(uid, ul) || !prompt || !valid_utf8(prompt, pl)) {
		/* a malformed entry can never succeed: acknowledge it so it is not retried */
		log_warn("bad job entry dropped", "entry=%s", entry_id);
		w->failures++;
		ack(j);
		return;
	}
	memcpy(j->mid, mid, ml + 1);
	memcpy(j->sid, sid, sl + 1);
	memcpy(j->uid, uid, ul + 1);
	key_meta(j->kmeta, j->mid);
	key_lock(j->klock, j->mid);
	key_cancel(j->kcancel, j->mid);
	key_chunks(j->kchunks, j->mid);
	key_channel(j->kchan, j->sid);
	j->prompt = xmalloc(pl + 1);
	memcpy(j->prompt, prompt, pl);
	j->prompt[pl] = '\0';
	j->prompt_len = pl;
	if (model && model_len < sizeof j->model)
		memcpy(j->model, model, model_len + 1);
	char rnd[17];
	random_hex(rnd, 8);
	snprintf(j->owner, sizeof j->owner, "%s:%s", w->node, rnd);
	w->backend->open(j);
	j->taken_us = mono_us();
	j->state = JOB_STARTING;
	step(j);
}

void jobs_resume(struct worker *w)
{
	for (struct job *j = w->active; j; j = j->next)
		if (!j->waiting && !uv_is_active((uv_handle_t *)&j->timer))
			step(j);
}

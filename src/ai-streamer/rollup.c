/* The gathering of a reply's tokens into chunks (CHUNK_ROLLUP_MS).
 *
 * Without a window each token is a chunk. With one, a chunk takes every
 * token there is when it is made (those that queued while the chunk before
 * was being written), and then waits for more, at most the window from its
 * first token, but only when tokens come fast: two at once, or one within
 * the window of the token before. A slow model's token goes at once (at
 * 20 ms a token and a window of a few ms, nothing ever waits), and so does
 * the first chunk of a reply (the time to the first token). Chunk indexes
 * stay contiguous: a chunk is one append, whatever it holds. */
#include "rollup.h"

#include "job.h"
#include "strbuf.h"
#include "util.h"
#include "worker.h"

/* a chunk stops gathering past this many bytes */
#define ROLLUP_MAX_BYTES 1024

static int window_open(const struct job *j, int64_t now)
{
	long ms = j->w->cfg.chunk_rollup_ms;
	return j->roll.len < ROLLUP_MAX_BYTES && now < j->roll_start_us + ms * 1000;
}

/* Waits for more tokens until the window closes: the job's timer is set to
 * the window's end unless the backend set it to wake the job sooner. */
static enum token_next hold(struct job *j, int64_t now)
{
	long ms = (long)((j->roll_start_us + j->w->cfg.chunk_rollup_ms * 1000 - now + 999) / 1000);
	if (!uv_is_active((uv_handle_t *)&j->timer) || (long)uv_timer_get_due_in(&j->timer) > ms)
		job_later(j, ms);
	return TOKEN_WAIT;
}

static enum token_next gathered(struct job *j)
{
	j->tok = j->roll.buf;
	j->token_len = j->roll.len;
	return TOKEN_READY;
}

enum token_next chunk_next(struct job *j)
{
	struct worker *w = j->w;
	long window_us = w->cfg.chunk_rollup_ms * 1000;
	if (window_us <= 0)
		return w->backend->next(j);
	for (;;) {
		enum token_next r = w->backend->next(j);
		int64_t now = mono_us();
		if (r != TOKEN_READY) {
			if (!j->rolling)
				return r;
			/* the end or a failure comes after what was gathered */
			return r == TOKEN_WAIT && j->roll_waits && window_open(j, now) ? hold(j, now)
										  : gathered(j);
		}
		if (!j->rolling) {
			j->rolling = 1;
			j->roll_start_us = now;
			/* the first chunk of a reply never waits; a later one when its
			 * token came soon after the one before */
			j->roll_waits = j->first_written && j->last_token_us &&
					now - j->last_token_us <= window_us;
		} else {
			j->roll_waits = j->first_written;  /* two at once: they come fast */
		}
		j->last_token_us = now;
		sb_add(&j->roll, j->tok, j->token_len);
		j->token_len = 0;  /* taken: the chunk is j->roll until it goes */
		if (!window_open(j, now))
			return gathered(j);
	}
}

int64_t chunk_born_mono_ms(const struct job *j)
{
	return j->rolling ? j->roll_start_us / 1000 : (int64_t)uv_now(j->w->loop);
}

void chunk_written(struct job *j)
{
	sb_reset(&j->roll);
	j->rolling = j->roll_waits = 0;
	j->token_len = 0;
}

/* AI_BACKEND=builtin: the offline generator (generator.c). Its replies are
 * deterministic for a prompt, so a reply can go on from any chunk on any
 * worker: after its worker died, and whenever a stopping worker hands it
 * over. It keeps a steady pace, TOKEN_DELAY_MS a token: a token is there
 * (next) once it is due. */
#include <stdlib.h>

#include "backend.h"
#include "generator.h"
#include "heartbeat.h"
#include "job.h"
#include "log.h"
#include "util.h"
#include "worker.h"
#include "xalloc.h"

struct builtin_reply {
	struct generator gen;
	char token[TOKEN_MAX];   /* the token being appended */
	int64_t due_us;          /* when the next token is due */
};

static void configure(void) {}
static int init(uv_loop_t *loop) { (void)loop; return 0; }
static long history(void) { return 0; }

static void open_reply(struct job *j)
{
	struct builtin_reply *b = xcalloc(1, sizeof *b);
	gen_init(&b->gen, j->prompt, j->prompt_len, j->w->cfg.max_tokens);
	j->src = b;
}

/* How long until the next token is due, in ms (0: now). A timer fires
 * up to a ms before the due time in microseconds: that counts as due. */
static long due_in_ms(const struct builtin_reply *b)
{
	int64_t wait = b->due_us - mono_us();
	return wait <= 1000 ? 0 : (long)((wait + 999) / 1000);
}

/* A resumed reply goes on with the token after the last one written: the
 * chunks written so far (several tokens each with CHUNK_ROLLUP_MS) say how
 * far that is. */
static void start(struct job *j, const char *const *items, const size_t *lens, size_t n)
{
	struct builtin_reply *b = j->src;
	size_t bytes = 0;
	(void)items;
	for (size_t i = 0; i < n; i++)
		bytes += lens[i];
	if (gen_skip_bytes(&b->gen, bytes))
		log_warn("resumed reply does not match the generator's", "message=%s bytes=%zu", j->mid,
			 bytes);
	b->due_us = mono_us() + (j->next_index ? 0 : j->w->cfg.token_delay_ms * 1000);
	job_later(j, due_in_ms(b));
}

/* A token is due every TOKEN_DELAY_MS after the one before, as a model
 * does, however long its append took. One that fell behind does not catch
 * up in a burst of chunks: at most CHUNK_ROLLUP_MS worth of tokens, which
 * then go in one chunk. */
static enum token_next next(struct job *j)
{
	struct builtin_reply *b = j->src;
	long wait = due_in_ms(b);
	if (wait > 0) {
		job_later(j, wait);
		return TOKEN_WAIT;
	}
	j->token_len = gen_next(&b->gen, b->token);
	j->tok = b->token;
	int64_t behind_max = mono_us() - j->w->cfg.chunk_rollup_ms * 1000;
	b->due_us += j->w->cfg.token_delay_ms * 1000;
	if (b->due_us < behind_max)
		b->due_us = behind_max;
	return j->token_len > 0 ? TOKEN_READY : TOKEN_END;
}

static void appended(struct job *j) { job_later(j, due_in_ms(j->src)); }

/* nothing is under way that another worker could not take up */
static int pinned(const struct job *j) { (void)j; return 0; }

static void stop(struct job *j) { (void)j; }

static void close_reply(struct job *j) { free(j->src); }

/* the generator is in the process: always there */
static void heartbeat(struct heartbeat *hb) { heartbeat_fields(hb, "backend_state up"); }

const struct backend backend_builtin = {
	.name = "builtin",
	.resumes = 1,
	.configure = configure,
	.init = init,
	.history = history,
	.open = open_reply,
	.start = start,
	.next = next,
	.appended = appended,
	.pinned = pinned,
	.stop = stop,
	.close = close_reply,
	.heartbeat = heartbeat,
};

/* AI_BACKEND=builtin: the offline generator (generator.c). Its replies are
 * deterministic for a prompt, so a reply can go on from any chunk on any
 * worker: after its worker died, and whenever a stopping worker hands it
 * over. It keeps a steady pace, TOKEN_DELAY_MS a token. */
#include <stdlib.h>

#include "backend.h"
#include "generator.h"
#include "heartbeat.h"
#include "job.h"
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

/* A token is due every TOKEN_DELAY_MS after the one before, as a model
 * does, however long its append took; one that fell behind does not catch
 * up in a burst. */
static void pace(struct job *j, long delay_ms)
{
	struct builtin_reply *b = j->src;
	int64_t now = mono_us();
	b->due_us += delay_ms * 1000;
	if (b->due_us < now)
		b->due_us = now;
	job_later(j, (long)((b->due_us - now + 999) / 1000));
}

static void start(struct job *j, const char *const *items, const size_t *lens, size_t n)
{
	struct builtin_reply *b = j->src;
	(void)items, (void)lens, (void)n;
	/* a resumed reply goes on with the token after the last one written */
	gen_skip(&b->gen, j->next_index);
	b->due_us = mono_us();
	pace(j, j->next_index ? 0 : j->w->cfg.token_delay_ms);
}

static enum token_next next(struct job *j)
{
	struct builtin_reply *b = j->src;
	j->token_len = gen_next(&b->gen, b->token);
	j->tok = b->token;
	return j->token_len > 0 ? TOKEN_READY : TOKEN_END;
}

static void appended(struct job *j) { pace(j, j->w->cfg.token_delay_ms); }

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

/* The built-in offline generator: a deterministic stream of tokens for a
 * prompt, so tests know what to expect, a resumed reply continues exactly
 * where the dead worker stopped, and the suite runs with no model at all.
 * Its replies are longer for longer prompts (8 tokens plus 2 per word of
 * the prompt, capped), and mix in quotes, backslashes and non-ASCII text
 * to exercise every escaping path from Redis to the browser. */
#ifndef SC_GENERATOR_H
#define SC_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_MAX 64

struct generator {
	uint64_t state;
	long total;      /* tokens in the whole reply */
	long pos;        /* tokens produced so far */
	int sentence_start;
};

void gen_init(struct generator *g, const char *prompt, size_t len, long max_tokens);
/* Writes the next token (NUL-terminated, valid UTF-8) into tok and returns
 * its length, or returns 0 at the end of the reply. */
size_t gen_next(struct generator *g, char tok[TOKEN_MAX]);
/* Skips n tokens, as if they had been produced. */
void gen_skip(struct generator *g, long n);

#endif

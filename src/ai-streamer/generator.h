/* The built-in offline generator: a deterministic stream of tokens for a
 * prompt, so tests know what to expect, a resumed reply continues exactly
 * where the dead worker stopped, and the suite runs with no model at all.
 * Its replies are longer for longer prompts (8 tokens plus 2 per word of
 * the prompt, capped), in one of two styles (GENERATOR):
 *   sentences  readable English that starts by quoting the first words of
 *              the prompt, for a person trying the page (the default);
 *   hostile    words mixing quotes, backslashes, markup and non-ASCII text,
 *              to exercise every escaping path from Redis to the browser
 *              (the test suite's). */
#ifndef SC_GENERATOR_H
#define SC_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_MAX 64
#define GEN_ECHO_WORDS 4     /* prompt words quoted at the start of a sentences reply */
#define GEN_ECHO_BYTES 40    /* longest quoted word, in bytes */

enum gen_style { GEN_SENTENCES, GEN_HOSTILE };

struct generator {
	uint64_t state;
	long total;      /* tokens in the whole reply */
	long pos;        /* tokens produced so far */
	int sentence_start;
	enum gen_style style;
	/* sentences: the opening that quotes the prompt, then canned sentences */
	char echo[GEN_ECHO_WORDS + 2][TOKEN_MAX];
	int nechoes;
	long sentence, word;     /* the sentence being written and its next word */
	long previous;           /* the sentence before, not said twice in a row */
};

/* The style of every generator started after this call. Returns -1 for an
 * unknown name. */
int gen_set_style(const char *name);

void gen_init(struct generator *g, const char *prompt, size_t len, long max_tokens);
/* Writes the next token (NUL-terminated, valid UTF-8 for a valid UTF-8
 * prompt) into tok and returns its length, or returns 0 at the end. */
size_t gen_next(struct generator *g, char tok[TOKEN_MAX]);
/* Skips n tokens, as if they had been produced. */
void gen_skip(struct generator *g, long n);
/* Skips the tokens that make up the first n bytes of the reply (a resumed
 * reply whose chunks may each hold several tokens: CHUNK_ROLLUP_MS).
 * Returns 0, or -1 when n does not end between two tokens. */
int gen_skip_bytes(struct generator *g, size_t n);

#endif

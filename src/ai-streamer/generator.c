#include "generator.h"

#include <stdio.h>
#include <string.h>

static const char *const words[] = {
	"the", "stream", "reply", "token", "relay", "worker", "session", "message", "chunk",
	"never", "lost", "order", "index", "redis", "socket", "history", "client", "server",
	"fast", "small", "simple", "careful", "exactly", "once", "again", "every", "node",
	"café", "naïve", "über", "日本語", "привет", "emoji🙂", "\"quoted\"", "back\\slash",
	"<b>bold</b>", "tab\there", "and", "or", "with", "from", "into", "while", "because",
};
#define NWORDS (sizeof words / sizeof words[0])

static uint64_t next_rand(struct generator *g)
{
	/* xorshift64*: tiny, fast, and the same on every machine */
	uint64_t x = g->state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g->state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void gen_init(struct generator *g, const char *prompt, size_t len, long max_tokens)
{
	uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a */
	long nwords = 0;
	int in_word = 0;
	for (size_t i = 0; i < len; i++) {
		h = (h ^ (unsigned char)prompt[i]) * 0x100000001b3ULL;
		int space = prompt[i] == ' ' || prompt[i] == '\n' || prompt[i] == '\t';
		if (!space && !in_word)
			nwords++;
		in_word = !space;
	}
	g->state = h ? h : 1;
	g->total = 8 + 2 * nwords;
	if (max_tokens > 0 && g->total > max_tokens)
		g->total = max_tokens;
	g->pos = 0;
	g->sentence_start = 1;
}

size_t gen_next(struct generator *g, char tok[TOKEN_MAX])
{
	if (g->pos >= g->total)
		return 0;
	uint64_t r = next_rand(g);
	const char *w = words[r % NWORDS];
	int last = g->pos + 1 == g->total;
	int stop = last || (r >> 20) % 9 == 0;
	int para = !last && stop && (r >> 32) % 4 == 0;
	char first[8] = "";
	const char *rest = w;
	if (g->sentence_start && w[0] >= 'a' && w[0] <= 'z') {
		first[0] = (char)(w[0] - 'a' + 'A');
		first[1] = '\0';
		rest = w + 1;
	}
	int n = snprintf(tok, TOKEN_MAX, "%s%s%s%s%s", g->pos == 0 || g->sentence_start ? "" : " ",
			 first, rest, stop ? "." : "", para ? "\n\n" : stop ? " " : "");
	if (last && n > 0 && tok[n - 1] == ' ')
		tok[--n] = '\0';
	g->sentence_start = stop;
	g->pos++;
	return (size_t)n;
}

void gen_skip(struct generator *g, long n)
{
	char tok[TOKEN_MAX];
	while (n-- > 0 && gen_next(g, tok))
		;
}

#include "generator.h"

#include <stdio.h>
#include <string.h>

static enum gen_style default_style = GEN_SENTENCES;

int gen_set_style(const char *name)
{
	if (!strcmp(name, "sentences"))
		default_style = GEN_SENTENCES;
	else if (!strcmp(name, "hostile"))
		default_style = GEN_HOSTILE;
	else
		return -1;
	return 0;
}

static const char *const words[] = {
	"the", "stream", "reply", "token", "relay", "worker", "session", "message", "chunk",
	"never", "lost", "order", "index", "redis", "socket", "history", "client", "server",
	"fast", "small", "simple", "careful", "exactly", "once", "again", "every", "node",
	"café", "naïve", "über", "日本語", "привет", "emoji🙂", "\"quoted\"", "back\\slash",
	"<b>bold</b>", "tab\there", "and", "or", "with", "from", "into", "while", "because",
};
#define NWORDS (sizeof words / sizeof words[0])

/* Plain sentences, one word per token; what the built-in generator says
 * about itself, so nobody takes it for a model. */
static const char *const sentences[] = {
	"This reply comes from the built-in generator, not from a model.",
	"It writes plain sentences so that the page reads naturally.",
	"Every chunk arrives once and in order.",
	"Reload the page and the reply goes on where it was.",
	"You can stop it at any time, from any tab.",
	"If a worker dies, another one carries on from the next chunk.",
	"Set AI_BACKEND to openai to talk to a real model.",
	"The history keeps every message of the session.",
	"A longer question gets a longer answer.",
	"Nothing you write here leaves this machine.",
	"That is all for now.",
	"Ask me more.",
	"Thanks!",
	"Bye.",
};
#define NSENTENCES (sizeof sentences / sizeof sentences[0])

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

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t';
}

/* Length of s[0..n) cut to at most max bytes without splitting a UTF-8
 * character. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* The opening of a sentences reply: You wrote “first words of the prompt…”.
 * One token per word, each short enough for TOKEN_MAX. */
static void make_echo(struct generator *g, const char *prompt, size_t len)
{
	const char *w[GEN_ECHO_WORDS];
	size_t wl[GEN_ECHO_WORDS];
	int n = 0, more = 0;
	for (size_t i = 0; i < len;) {
		while (i < len && (unsigned char)prompt[i] <= ' ')
			i++;
		size_t s = i;
		while (i < len && (unsigned char)prompt[i] > ' ')
			i++;
		if (i == s)
			break;
		if (n == GEN_ECHO_WORDS) {
			more = 1;
			break;
		}
		w[n] = prompt + s;
		wl[n++] = utf8_cut(prompt + s, i - s, GEN_ECHO_BYTES);
	}
	g->nechoes = 0;
	if (n == 0)
		return;
	snprintf(g->echo[g->nechoes++], TOKEN_MAX, "You");
	snprintf(g->echo[g->nechoes++], TOKEN_MAX, " wrote");
	for (int k = 0; k < n; k++)
		snprintf(g->echo[g->nechoes++], TOKEN_MAX, " %s%.*s%s", k == 0 ? "\u201c" : "",
			 (int)wl[k], w[k], k < n - 1 ? "" : more ? "\u2026\u201d." : "\u201d.");
}

void gen_init(struct generator *g, const char *prompt, size_t len, long max_tokens)
{
	uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a */
	long nwords = 0;
	int in_word = 0;
	for (size_t i = 0; i < len; i++) {
		h = (h ^ (unsigned char)prompt[i]) * 0x100000001b3ULL;
		int space = is_space(prompt[i]);
		if (!space && !in_word)
			nwords++;
		in_word = !space;
	}
	memset(g, 0, sizeof *g);
	g->state = h ? h : 1;
	g->total = 8 + 2 * nwords;
	if (max_tokens > 0 && g->total > max_tokens)
		g->total = max_tokens;
	g->sentence_start = 1;
	g->style = default_style;
	g->sentence = g->previous = -1;
	if (g->style == GEN_SENTENCES)
		make_echo(g, prompt, len);
}

static size_t next_hostile(struct generator *g, char tok[TOKEN_MAX])
{
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
	return (size_t)n;
}

static long count_words(const char *s)
{
	long n = 1;
	while ((s = strchr(s, ' ')) != NULL)
		s++, n++;
	return n;
}

/* The next word of the sentence being written, after a space, or after a
 * paragraph break now and then when a sentence begins. */
static size_t next_sentence_word(struct generator *g, char tok[TOKEN_MAX])
{
	const char *sep = g->pos == 0 ? "" : " ";
	if (g->sentence < 0) {
		uint64_t r = next_rand(g);
		g->sentence = (long)(r % NSENTENCES);
		/* not the one just said, and one that ends before the reply does */
		for (size_t k = 0; k < NSENTENCES && (g->sentence == g->previous ||
		     count_words(sentences[g->sentence]) > g->total - g->pos); k++)
			g->sentence = (g->sentence + 1) % (long)NSENTENCES;
		g->word = 0;
		if (g->pos > 0 && (r >> 32) % 4 == 0)
			sep = "\n\n";
	}
	const char *s = sentences[g->sentence];
	for (long k = 0; k < g->word; k++)
		s = strchr(s, ' ') + 1;
	const char *end = strchr(s, ' ');
	size_t wl = end ? (size_t)(end - s) : strlen(s);
	g->word++;
	if (!end) {
		g->previous = g->sentence;
		g->sentence = -1;
	}
	int last = g->pos + 1 == g->total;
	int ends = wl > 0 && strchr(".!?", s[wl - 1]);
	return (size_t)snprintf(tok, TOKEN_MAX, "%s%.*s%s", sep, (int)wl, s,
				last && !ends ? "." : "");
}

size_t gen_next(struct generator *g, char tok[TOKEN_MAX])
{
	if (g->pos >= g->total)
		return 0;
	size_t n;
	if (g->style == GEN_HOSTILE)
		n = next_hostile(g, tok);
	else if (g->pos < g->nechoes)
		n = (size_t)snprintf(tok, TOKEN_MAX, "%s", g->echo[g->pos]);
	else
		n = next_sentence_word(g, tok);
	g->pos++;
	return n;
}

void gen_skip(struct generator *g, long n)
{
	char tok[TOKEN_MAX];
	while (n-- > 0 && gen_next(g, tok))
		;
}

int gen_skip_bytes(struct generator *g, size_t n)
{
	char tok[TOKEN_MAX];
	while (n > 0) {
		size_t len = gen_next(g, tok);
		if (!len || len > n)
			return -1;
		n -= len;
	}
	return 0;
}

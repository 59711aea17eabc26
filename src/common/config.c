#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const struct knob redis[] = {
	KNOB_TEXT("REDIS_URL", "redis://127.0.0.1:6379/0", NULL,
		  "redis://[[user]:password@]host:port/db, unix:/path, or "
		  "redis+sentinel://[[user]:password@]h1:p1,h2:p2/MASTERNAME"),
	KNOB_TEXT("KEY_PREFIX", "", NULL,
		  "precedes every Redis key and channel; the same for "
		  "every program of a stack"),
};
const struct knob_table redis_knobs = KNOB_TABLE(redis);

static const struct knob daemon[] = {
	KNOB_TEXT("NODE_ID", NULL, "kind-hostname-pid",
		  "unique per process (kind: api, ws, ai, rec or arc); names "
		  "its heartbeat, its registry entries and its consumer"),
	KNOB_TEXT("LOG_LEVEL", "info", NULL, "debug, info, warn or error"),
	KNOB_TEXT("SHARE_DIR", NULL, "BINDIR/../share", "where lua/ is found"),
};
const struct knob_table daemon_knobs = KNOB_TABLE(daemon);

static const struct knob auth[] = {
	KNOB_TEXT("AUTH_SECRET", NULL, NULL,
		  "the HS256 secret tokens are signed and checked with; "
		  "unset, and no AUTH_SECRET_FILE: development mode, user "
		  "ids taken as given"),
	KNOB_TEXT("AUTH_SECRET_FILE", NULL, NULL,
		  "one secret per line (the first signs, all verify)"),
	KNOB_INT("AUTH_LEEWAY_S", 30, 0, 3600, "clock skew allowed on a token's exp and nbf"),
};
const struct knob_table auth_knobs = KNOB_TABLE(auth);

static const struct knob heartbeat[] = {
	KNOB_TEXT("HEARTBEAT_FILE", NULL, NULL,
		  "touched after each heartbeat reaches Redis (for a "
		  "container healthcheck)"),
};
const struct knob_table heartbeat_knobs = KNOB_TABLE(heartbeat);

static const struct knob fault[] = {
	KNOB_TEXT("FAULT_POINT", NULL, NULL,
		  "tests only: the name of a point between two Redis steps where "
		  "the process exits at once (doc/testing.md)"),
};
const struct knob_table fault_knobs = KNOB_TABLE(fault);

static const struct knob *find(const struct knob_table *t, const char *name, enum knob_kind kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->knobs[i].name, name) && t->knobs[i].kind == kind)
			return &t->knobs[i];
	fprintf(stderr, "bug: %s is not a knob of its table: it would be missing from --help\n", name);
	abort();
}

long config_int(const struct knob_table *t, const char *name)
{
	const struct knob *k = find(t, name, KNOB_INT);
	return env_long(k->name, k->def, k->min, k->max);
}

const char *config_text(const struct knob_table *t, const char *name)
{
	const struct knob *k = find(t, name, KNOB_TEXT);
	return env_str(k->name, k->text);
}

static const char *shown_default(const struct knob *k, char *buf, size_t len)
{
	if (k->shown)
		return k->shown;
	if (k->kind == KNOB_INT) {
		snprintf(buf, len, "%ld", k->def);
		return buf;
	}
	if (!k->text)
		return "unset";
	return *k->text ? k->text : "empty";
}

#define NAME_WIDTH 20
#define DEFAULT_WIDTH 9
#define HELP_COLUMN (2 + NAME_WIDTH + 1 + DEFAULT_WIDTH + 1)
#define LINE_WIDTH 80

/* The help from column HELP_COLUMN, wrapped between words; the first line
 * goes on from column from. */
static void print_help(FILE *f, const char *help, int from)
{
	int col = from;
	for (const char *w = help; *w;) {
		size_t n = strcspn(w, " ");
		if (col > HELP_COLUMN && col + 1 + (int)n > LINE_WIDTH) {
			fprintf(f, "\n%*s", HELP_COLUMN, "");
			col = HELP_COLUMN;
		} else if (col > HELP_COLUMN) {
			fputc(' ', f);
			col++;
		} else {
			fprintf(f, "%*s", HELP_COLUMN - col, "");
			col = HELP_COLUMN;
		}
		fprintf(f, "%.*s", (int)n, w);
		col += (int)n;
		w += n;
		w += strspn(w, " ");
	}
	fputc('\n', f);
}

static void print_knob(FILE *f, const struct knob *k)
{
	char buf[32];
	const char *def = shown_default(k, buf, sizeof buf);
	int col = fprintf(f, "  %-*s %s", NAME_WIDTH, k->name, def);
	if (col >= HELP_COLUMN) {  /* a long default: the help starts on the next line */
		fputc('\n', f);
		col = 0;
	}
	print_help(f, k->help, col);
}

void config_usage(FILE *f, const struct knob_table *const *tables)
{
	fprintf(f, "environment (default):\n");
	for (; *tables; tables++)
		for (size_t i = 0; i < (*tables)->n; i++)
			print_knob(f, &(*tables)->knobs[i]);
}

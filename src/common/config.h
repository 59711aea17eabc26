/* Configuration knobs. Each program lists its environment variables in
 * tables of knobs; it reads them through those tables and prints --help's
 * environment section from them, so a knob cannot be read without being
 * shown with its default. doc/configuration.md holds the same tables for
 * people (t/18-config.bats compares the two, and the sources with --help). */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum knob_kind { KNOB_INT, KNOB_TEXT };

struct knob {
	const char *name;
	enum knob_kind kind;
	long def, min, max;  /* KNOB_INT: the default and the bounds */
	const char *text;    /* KNOB_TEXT: the value when unset or empty (may be NULL) */
	const char *shown;   /* the default as --help writes it; NULL: def, or text */
	const char *help;    /* what it does, wrapped by --help */
};

#define KNOB_INT(n, d, lo, hi, h) \
	{ .name = (n), .kind = KNOB_INT, .def = (d), .min = (lo), .max = (hi), .help = (h) }
#define KNOB_TEXT(n, d, show, h) \
	{ .name = (n), .kind = KNOB_TEXT, .text = (d), .shown = (show), .help = (h) }

struct knob_table {
	const struct knob *knobs;
	size_t n;
};
#define KNOB_TABLE(array) { (array), sizeof(array) / sizeof((array)[0]) }

/* The knobs read in src/common, each table printed by the programs that use
 * its readers. */
extern const struct knob_table redis_knobs;      /* REDIS_URL, KEY_PREFIX */
extern const struct knob_table daemon_knobs;     /* daemon_setup: NODE_ID, LOG_LEVEL, SHARE_DIR */
extern const struct knob_table auth_knobs;       /* auth_load */
extern const struct knob_table heartbeat_knobs;  /* daemon_heartbeat_file */
extern const struct knob_table fault_knobs;      /* fault_point (fault.h) */

/* The knob's value from the environment: its default when unset or empty;
 * an integer out of bounds ends the program with a clear message. Asking
 * for a name the table does not hold is a bug and aborts. */
long config_int(const struct knob_table *t, const char *name);
const char *config_text(const struct knob_table *t, const char *name);

/* --help's section "environment (default):", one entry per knob of each
 * table of the NULL-terminated list. */
void config_usage(FILE *f, const struct knob_table *const *tables);

#endif

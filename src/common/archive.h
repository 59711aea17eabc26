/* The archive stream (key `archive`, group `archivers`): every finished
 * message, XADDed by the scripts that write chat:history:{S} in the same
 * atomic step, for the archiver to copy into PostgreSQL. Every writer caps it
 * with the same ARCHIVE_MAXLEN, a safety bound far above any backlog the
 * archiver is expected to leave (see doc/operating.md). */
#ifndef SC_ARCHIVE_H
#define SC_ARCHIVE_H

#include "config.h"

#define ARCHIVE_GROUP "archivers"

extern const struct knob_table archive_knobs;  /* ARCHIVE_MAXLEN */

/* ARCHIVE_MAXLEN as the text the scripts take, read on the first call (the
 * programs call it at start, so a bad value stops them there). */
const char *archive_maxlen(void);

#endif

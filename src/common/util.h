/* Small helpers every program needs: reading the environment (programs
 * read their knobs through config.h, which uses these), clocks, random ids. */
#ifndef SC_UTIL_H
#define SC_UTIL_H

#include <stddef.h>
#include <stdint.h>

const char *env_str(const char *name, const char *def);
/* The variable as an integer in [min,max]; dies with a clear message when it
 * is set to anything else, so a typo never silently becomes a default. */
long env_long(const char *name, long def, long min, long max);
/* Parses a whole decimal integer in [min,max]; -1 on anything else. */
int parse_long(const char *s, long min, long max, long *out);

int64_t now_ms(void);        /* wall clock, for timestamps shared between hosts */
int64_t mono_us(void);       /* monotonic, for durations */
/* Whether a reconnect may be tried now, at most one every interval_us: if
 * so, records now in *last_us (0: never tried). */
int retry_due(long long *last_us, long long interval_us);

/* Fills out with 2*nbytes hex digits and a NUL from the kernel's CSPRNG. */
int random_hex(char *out, size_t nbytes);

/* A message id: 12 hex digits of milliseconds, one hex digit of the
 * session's partition (keys.h), then 19 random hex digits, so ids sort by
 * creation time, never collide across nodes or restarts, and name their
 * keys' partition without their session. */
int new_message_id(char out[33], int partition);

#endif

/* A growable byte string with its length, the one string type of the
 * project. JSON output is built here directly, without a DOM. */
#ifndef SC_STRBUF_H
#define SC_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void sb_init(struct strbuf *sb, size_t hint);
void sb_release(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
/* Leaves room for n more bytes (and a NUL); aborts on out of memory. */
void sb_grow(struct strbuf *sb, size_t n);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal: what sb_addf("%lld") does, without printf's cost on
 * the paths that run once per token. */
void sb_add_int(struct strbuf *sb, long long v);
/* Appends s as a JSON string literal, quotes included. The input must be
 * valid UTF-8 (validated where it enters); control characters are escaped. */
void sb_add_json_str(struct strbuf *sb, const char *s, size_t n);
/* The same without the quotes, to build one string from several pieces. */
void sb_add_json_chars(struct strbuf *sb, const char *s, size_t n);
/* Appends the whole file at path; -1 (errno set) when it cannot be opened. */
int sb_add_file(struct strbuf *sb, const char *path);
/* Gives the buffer to the caller (NUL-terminated) and resets sb. */
char *sb_detach(struct strbuf *sb, size_t *len);

#endif

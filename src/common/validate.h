/* Checks on everything that comes from outside. Pure functions: they take
 * bytes and answer, so unit tests and fuzzers drive them directly. */
#ifndef SC_VALIDATE_H
#define SC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define ID_MAX 64

/* session_id, user_id: 1-64 chars of [A-Za-z0-9_.:-]. */
bool valid_id(const char *s, size_t n);
/* message_id: 1-64 chars of [A-Za-z0-9_-]. */
bool valid_message_id(const char *s, size_t n);
/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool valid_utf8(const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that ends on a whole UTF-8
 * character, so that text cut by a byte limit stays valid. */
size_t utf8_clip(const char *s, size_t n);

/* Text from outside (an AI server's error message) made safe for a frame
 * or a log line: at most cap - 1 bytes and a NUL, cut only between
 * characters; bytes that are not UTF-8 become U+FFFD and control
 * characters (C0, DEL, C1: newlines too) a space. Returns its length. */
size_t utf8_sanitize(char *out, size_t cap, const char *s, size_t n);

/* Valid UTF-8 out of any bytes fed piece by piece, as an AI server's tokens
 * are: a character cut between two pieces waits in the carry for the next,
 * and bytes that can never be valid become U+FFFD. */
struct strbuf;
struct utf8_carry {
	unsigned char b[4];
	size_t n;
};
void utf8_repair(struct strbuf *out, struct utf8_carry *c, const char *s, size_t n);
/* At the end of the text: a character still waiting becomes U+FFFD. */
void utf8_repair_end(struct strbuf *out, struct utf8_carry *c);

#endif

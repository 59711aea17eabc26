#include "validate.h"

#include "strbuf.h"

#define REPLACEMENT "\xEF\xBF\xBD"  /* U+FFFD */

static bool id_char(unsigned char c, bool allow_dot_colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	if (c == '_' || c == '-')
		return true;
	return allow_dot_colon && (c == '.' || c == ':');
}

static bool valid_chars(const char *s, size_t n, bool allow_dot_colon)
{
	if (!s || n == 0 || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!id_char((unsigned char)s[i], allow_dot_colon))
			return false;
	return true;
}

bool valid_id(const char *s, size_t n) { return valid_chars(s, n, true); }
bool valid_message_id(const char *s, size_t n) { return valid_chars(s, n, false); }

/* Length of the UTF-8 sequence at s (1-4); 0 if it is not well formed; -1
 * if the n bytes there are a well-formed start that ends too soon. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;      /* overlong */
		else if (c == 0xED)
			hi = 0x9F;      /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;      /* overlong */
		else if (c == 0xF4)
			hi = 0x8F;      /* past U+10FFFF */
	} else
		return 0;
	if (n > 1 && (s[1] < lo || s[1] > hi))
		return 0;
	for (size_t i = 2; i < len && i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n < len ? -1 : (int)len;
}

bool valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		int len = utf8_seq(p + i, n - i);
		if (len <= 0)
			return false;
		i += (size_t)len;
	}
	return true;
}

size_t utf8_clip(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, good = 0;
	while (i < n) {
		int len = utf8_seq(p + i, n - i);
		if (len <= 0)
			break;
		i += (size_t)len;
		good = i;
	}
	return good;
}

/* Bytes at p that start a character and end before it does (a "maximal
 * subpart"): one U+FFFD stands for all of them. At least 1. */
static size_t broken_len(const unsigned char *p, size_t n)
{
	size_t m = 1;
	while (m < n && m < 3 && utf8_seq(p, m + 1) == -1)
		m++;
	return m;
}

static void repair_run(struct strbuf *out, struct utf8_carry *c, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && p[i] < 0x80)
			i++;
		sb_add(out, p + start, i - start);
		if (i == n)
			break;
		int len = utf8_seq(p + i, n - i);
		if (len > 0) {
			sb_add(out, p + i, (size_t)len);
			i += (size_t)len;
		} else if (len < 0) {
			c->n = n - i;  /* at most 3: the rest of the input */
			for (size_t k = 0; k < c->n; k++)
				c->b[k] = p[i + k];
			return;
		} else {
			sb_add(out, REPLACEMENT, 3);
			i += broken_len(p + i, n - i);
		}
	}
}

void utf8_repair(struct strbuf *out, struct utf8_carry *c, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	if (c->n) {
		/* complete the waiting character from the first bytes of s */
		unsigned char head[8];
		size_t hn = c->n, take = n < 4 ? n : 4;
		for (size_t k = 0; k < hn; k++)
			head[k] = c->b[k];
		for (size_t k = 0; k < take; k++)
			head[hn + k] = p[k];
		c->n = 0;
		int len = utf8_seq(head, hn + take);
		if (len < 0) {  /* still not complete: s was shorter than the rest */
			repair_run(out, c, head, hn + take);
			return;
		}
		if (len > 0) {
			sb_add(out, head, (size_t)len);
			p += (size_t)len - hn;
			n -= (size_t)len - hn;
		} else {
			/* a start that s does not finish: one U+FFFD for it, the
			 * bytes of s that continued it included */
			size_t m = broken_len(head, hn + take);
			sb_add(out, REPLACEMENT, 3);
			p += m - hn;
			n -= m - hn;
		}
	}
	repair_run(out, c, p, n);
}

void utf8_repair_end(struct strbuf *out, struct utf8_carry *c)
{
	if (c->n)
		sb_add(out, REPLACEMENT, 3);
	c->n = 0;
}

/* C0 controls, DEL, and C1 controls (U+0080-U+009F, encoded C2 80-9F) */
static bool control_char(const unsigned char *p, size_t len)
{
	if (len == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	return len == 2 && p[0] == 0xC2 && p[1] < 0xA0;
}

size_t utf8_sanitize(char *out, size_t cap, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	if (!cap)
		return 0;
	while (i < n) {
		const char *put;
		size_t put_len, used;
		int len = utf8_seq(p + i, n - i);
		if (len <= 0) {
			put = REPLACEMENT, put_len = 3;
			used = len < 0 ? n - i : broken_len(p + i, n - i);
		} else if (control_char(p + i, (size_t)len)) {
			put = " ", put_len = 1, used = (size_t)len;
		} else {
			put = s + i, put_len = used = (size_t)len;
		}
		if (o + put_len > cap - 1)
			break;  /* a whole character or none */
		for (size_t k = 0; k < put_len; k++)
			out[o++] = put[k];
		i += used;
	}
	out[o] = '\0';
	return o;
}

#include "validate.h"

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

/* Length of the UTF-8 sequence at s (1-4), or 0 if it is not well formed. */
static size_t utf8_seq(const unsigned char *s, size_t n)
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
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
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
		size_t len = utf8_seq(p + i, n - i);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

size_t utf8_clip(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, good = 0;
	while (i < n) {
		size_t len = utf8_seq(p + i, n - i);
		if (!len)
			break;
		i += len;
		good = i;
	}
	return good;
}

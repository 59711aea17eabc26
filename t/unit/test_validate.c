#include <string.h>

#include "strbuf.h"
#include "tap.h"
#include "validate.h"

#define U(s) valid_utf8(s, sizeof(s) - 1)

void test_validate(void)
{
	CHECK(valid_id("abc-DEF_1.2:3", 13), "ids take letters, digits and _.:-");
	CHECK(!valid_id("", 0), "an empty id is refused");
	CHECK(!valid_id("a/b", 3), "a slash is refused in ids");
	CHECK(!valid_id("a b", 3), "a space is refused in ids");
	CHECK(!valid_id("..%2F", 5), "percent escapes are refused in ids");
	CHECK(valid_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64),
	      "64 characters is the longest id");
	CHECK(!valid_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 65),
	      "65 characters is too long");
	CHECK(!valid_message_id("a.b", 3), "message ids take no dots");
	CHECK(valid_message_id("01a2-b_c", 8), "message ids take [A-Za-z0-9_-]");

	CHECK(U("plain ascii"), "ASCII is UTF-8");
	CHECK(U("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82"), "2, 3 and 4 byte sequences");
	CHECK(!U("\xc3"), "a truncated sequence is refused");
	CHECK(!U("\xc0\xaf"), "an overlong slash is refused");
	CHECK(!U("\xe0\x80\xaf"), "an overlong 3-byte form is refused");
	CHECK(!U("\xed\xa0\x80"), "an encoded surrogate is refused");
	CHECK(!U("\xf4\x90\x80\x80"), "code points past U+10FFFF are refused");
	CHECK(!U("\xff"), "0xff is refused");
	CHECK(!U("\x80"), "a lone continuation byte is refused");
	CHECK(utf8_clip("ab\xc3\xa9", 3) == 2, "utf8_clip stops before a cut character");
	CHECK(utf8_clip("ab\xc3\xa9", 4) == 4, "utf8_clip keeps whole characters");

	/* repair, fed in pieces */
	const char *text = "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x99\x82!";
	size_t tl = strlen(text);
	int whole = 1;
	for (size_t cut1 = 0; cut1 <= tl; cut1++)
		for (size_t cut2 = cut1; cut2 <= tl; cut2++) {
			struct strbuf out = STRBUF_INIT;
			struct utf8_carry c = { { 0 }, 0 };
			utf8_repair(&out, &c, text, cut1);
			utf8_repair(&out, &c, text + cut1, cut2 - cut1);
			utf8_repair(&out, &c, text + cut2, tl - cut2);
			utf8_repair_end(&out, &c);
			whole &= out.len == tl && memcmp(out.buf, text, tl) == 0;
			sb_release(&out);
		}
	CHECK(whole, "repair passes valid text through, however it is cut");
	struct strbuf out = STRBUF_INIT;
	struct utf8_carry c = { { 0 }, 0 };
	utf8_repair(&out, &c, "a\xff" "b\xc0\xaf" "c", 6);
	utf8_repair_end(&out, &c);
	CHECK(out.len == 12 && !memcmp(out.buf, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c", 12),
	      "repair turns each invalid byte into U+FFFD");
	sb_reset(&out);
	utf8_repair(&out, &c, "x\xe6\x97", 3);
	utf8_repair(&out, &c, "y", 1);
	utf8_repair_end(&out, &c);
	CHECK(valid_utf8(out.buf, out.len) && out.len == 5 && out.buf[0] == 'x' && out.buf[4] == 'y',
	      "a cut character that is never completed becomes U+FFFD");
	sb_reset(&out);
	utf8_repair(&out, &c, "\xf0\x9f", 2);
	utf8_repair(&out, &c, "\x99" "Z", 2);
	CHECK(out.len == 4 && !memcmp(out.buf, "\xef\xbf\xbd" "Z", 4),
	      "one U+FFFD for a cut character's bytes on both sides of the cut");
	sb_reset(&out);
	utf8_repair(&out, &c, "\xe6", 1);
	utf8_repair_end(&out, &c);
	CHECK(out.len == 3 && valid_utf8(out.buf, out.len), "a character still waiting at the end becomes U+FFFD");
	unsigned seed = 12345;
	int valid = 1;
	for (int round = 0; round < 2000; round++) {
		unsigned char bytes[24];
		size_t n = (size_t)(seed % 24);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			bytes[i] = (unsigned char)(seed >> 16);
		}
		sb_reset(&out);
		size_t cut = n ? seed % n : 0;
		utf8_repair(&out, &c, (char *)bytes, cut);
		utf8_repair(&out, &c, (char *)bytes + cut, n - cut);
		utf8_repair_end(&out, &c);
		valid &= valid_utf8(out.buf ? out.buf : "", out.len);
		seed = seed * 1103515245u + 12345u;
	}
	CHECK(valid, "repair of random bytes, cut anywhere, is always valid UTF-8");
	sb_release(&out);
}

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
}

#include <string.h>

#include "chat-fcgi/fcgi_params.h"
#include "tap.h"

static int parse(const char *in, size_t len, struct fcgi_params *p)
{
	return fcgi_params_parse((const unsigned char *)in, len, p);
}

void test_fcgi(void)
{
	struct fcgi_params p;
	static const char two[] = "\x0e\x03REQUEST_METHODGET\x0b\x00REQUEST_URI";
	CHECK(parse(two, sizeof two - 1, &p) == 0 && p.count == 2 &&
	      !strcmp(fcgi_params_get(&p, "REQUEST_METHOD"), "GET") &&
	      !strcmp(fcgi_params_get(&p, "REQUEST_URI"), "") && !fcgi_params_get(&p, "X"),
	      "FastCGI params: one-byte lengths, an empty value, a missing name");
	fcgi_params_release(&p);

	char big[4 + 1 + 200 + 3];
	memcpy(big, "\x80\x00\x00\xc8\x03", 5);
	memset(big + 5, 'N', 200);
	memcpy(big + 205, "abc", 3);
	CHECK(parse(big, sizeof big, &p) == 0 && p.count == 1 && strlen(p.pairs[0].name) == 200 &&
	      !strcmp(p.pairs[0].value, "abc"), "FastCGI params: a four-byte length");
	fcgi_params_release(&p);

	CHECK(parse("\x01\x01" "Aa" "\x01\x01" "Ab", 8, &p) == 0 && p.count == 2 &&
	      !strcmp(fcgi_params_get(&p, "A"), "a") && !strcmp(p.pairs[1].value, "b"),
	      "FastCGI params: the first of two names wins lookups");
	fcgi_params_release(&p);
	CHECK(parse("", 0, &p) == 0 && p.count == 0, "FastCGI params: an empty stream");
	fcgi_params_release(&p);

	CHECK(parse("\xff\xff\xff\xf0\x01xyz", 8, &p) == -1 && !p.strings && !p.pairs,
	      "FastCGI params: a 2 GB name with a few bytes behind it is refused, nothing allocated");
	CHECK(parse("\xff\xff\xff\xf0\x8f\xff\xff\xf0xyz", 11, &p) == -1,
	      "FastCGI params: lengths that add up past 2 GB are refused");
	CHECK(parse("\x01\xff\xff\xff\xff" "ab", 7, &p) == -1,
	      "FastCGI params: a value longer than what is left is refused");
	CHECK(parse("\x02\x01" "ab", 4, &p) == -1, "FastCGI params: a value cut short is refused");
	CHECK(parse("\x80\x00\x01", 3, &p) == -1, "FastCGI params: a four-byte length cut short is refused");
	CHECK(parse("\x05", 1, &p) == -1, "FastCGI params: a pair without its value length is refused");
	CHECK(parse("\x01\x03" "Ab\0c", 6, &p) == -1, "FastCGI params: a NUL in a value is refused");
	CHECK(parse("\x02\x01" "A\0b", 5, &p) == -1, "FastCGI params: a NUL in a name is refused");
}

#include <string.h>

#include "chat-fcgi/fcgi_params.h"
#include "chat-fcgi/fcgi_scan.h"
#include "tap.h"

static int parse(const char *in, size_t len, struct fcgi_params *p)
{
	return fcgi_params_parse((const unsigned char *)in, len, p);
}

static void test_fcgi_params(void)
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

/* A request's records, built for the scanner. */
static void record(struct strbuf *sb, unsigned type, unsigned id, const char *content, size_t len,
		   unsigned pad)
{
	unsigned char h[8] = { 1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
			       (unsigned char)(len >> 8), (unsigned char)len, (unsigned char)pad, 0 };
	sb_add(sb, h, sizeof h);
	sb_add(sb, content, len);
	for (unsigned i = 0; i < pad; i++)
		sb_addc(sb, 0);
}

static void begin(struct strbuf *sb, unsigned role)
{
	char b[8] = { 0, (char)role };
	record(sb, 1, 1, b, sizeof b, 0);
}

/* The scanner fed one byte more at a time: its verdict, and the first
 * length at which it was given (0 if never). */
static enum fcgi_scan_result scan_trickled(const struct strbuf *in, size_t max_body,
					   struct fcgi_scan *s, size_t *at)
{
	enum fcgi_scan_result r = FCGI_SCAN_MORE;
	size_t need = 0;
	fcgi_scan_init(s, max_body);
	*at = 0;
	for (size_t have = 0; have <= in->len && r == FCGI_SCAN_MORE; have++)
		if (have >= need) {
			r = fcgi_scan(s, (const unsigned char *)in->buf, have, &need);
			*at = have;
		}
	return r;
}

static enum fcgi_scan_result scan_all(const struct strbuf *in, size_t max_body, struct fcgi_scan *s)
{
	size_t need;
	fcgi_scan_init(s, max_body);
	return fcgi_scan(s, (const unsigned char *)in->buf, in->len, &need);
}

static void test_fcgi_scan(void)
{
	static const char get[] = "\x0e\x03REQUEST_METHODGET\x0e\x00" "CONTENT_LENGTH";
	static const char post[] = "\x0e\x02" "CONTENT_LENGTH10";
	struct strbuf in = STRBUF_INIT;
	struct fcgi_scan s;
	size_t at, need;

	begin(&in, 1);
	record(&in, 4, 1, get, sizeof get - 1, 3);
	record(&in, 4, 1, "", 0, 0);
	record(&in, 5, 1, "", 0, 5);
	CHECK(scan_trickled(&in, 100, &s, &at) == FCGI_SCAN_WHOLE && at == in.len &&
	      s.content_length == 0 && s.body_included,
	      "FastCGI scan: a GET is whole only with its empty STDIN record and its padding");
	fcgi_scan_release(&s);
	record(&in, 1, 2, "junk", 4, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_WHOLE && s.pos == in.len - 12,
	      "FastCGI scan: what follows a whole request is not looked at");
	fcgi_scan_release(&s);

	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, post, 8, 0);
	record(&in, 4, 1, post + 8, sizeof post - 9, 0);
	record(&in, 4, 1, "", 0, 0);
	record(&in, 5, 1, "0123", 4, 4);
	record(&in, 5, 1, "456789", 6, 0);
	size_t body_end = in.len;
	record(&in, 5, 1, "", 0, 0);
	CHECK(scan_trickled(&in, 100, &s, &at) == FCGI_SCAN_WHOLE && at == in.len &&
	      s.content_length == 10 && s.body_included && s.body_len == 10,
	      "FastCGI scan: params across records, a body across records, whole at its empty record");
	fcgi_scan_release(&s);
	fcgi_scan_init(&s, 100);
	CHECK(fcgi_scan(&s, (const unsigned char *)in.buf, body_end, &need) == FCGI_SCAN_MORE &&
	      need == body_end + 8, "FastCGI scan: a body without its empty record needs one more header");
	fcgi_scan_release(&s);
	CHECK(scan_all(&in, 9, &s) == FCGI_SCAN_WHOLE && s.content_length == 10 && !s.body_included &&
	      s.pos < body_end, "FastCGI scan: a CONTENT_LENGTH over max_body ends the request at its params");
	fcgi_scan_release(&s);

	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, "\x0e\x01" "CONTENT_LENGTH5", 17, 0);
	record(&in, 4, 1, "", 0, 0);
	record(&in, 5, 1, "0123456789", 10, 0);
	CHECK(scan_all(&in, 8, &s) == FCGI_SCAN_REFUSED && strstr(s.why, "MAX_BODY_BYTES"),
	      "FastCGI scan: a body longer than max_body is refused, whatever CONTENT_LENGTH says");
	fcgi_scan_release(&s);
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, "\x0e\x03" "CONTENT_LENGTH-12", 19, 0);
	record(&in, 4, 1, "", 0, 0);
	CHECK(scan_all(&in, 8, &s) == FCGI_SCAN_WHOLE && s.content_length == -1 && !s.body_included,
	      "FastCGI scan: a CONTENT_LENGTH that is not a length ends the request at its params");
	fcgi_scan_release(&s);

	sb_reset(&in);
	begin(&in, 2);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED && strstr(s.why, "role"),
	      "FastCGI scan: the authorizer role is refused");
	sb_reset(&in);
	record(&in, 4, 1, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED, "FastCGI scan: PARAMS before BEGIN is refused");
	sb_reset(&in);
	record(&in, 9, 0, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED, "FastCGI scan: a management record is refused");
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, "", 0, 0);
	in.buf[16] = 2;
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED && strstr(s.why, "version"),
	      "FastCGI scan: a version other than 1 is refused");
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 2, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED, "FastCGI scan: params of another request id are refused");
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 5, 1, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED, "FastCGI scan: STDIN before the params' end is refused");
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, "", 0, 0);
	record(&in, 4, 1, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED, "FastCGI scan: PARAMS after the params' end is refused");

	/* announced, not sent: refused on the header, nothing waited for */
	sb_reset(&in);
	begin(&in, 1);
	static const char big[] = "\xff\xff\xff\xf0\x01xyz";
	record(&in, 4, 1, big, sizeof big - 1, 0);
	record(&in, 4, 1, "", 0, 0);
	CHECK(scan_all(&in, 100, &s) == FCGI_SCAN_REFUSED && strstr(s.why, "malformed"),
	      "FastCGI scan: a pair announcing a 2 GB name is refused");
	char chunk[65535];
	memset(chunk, 'x', sizeof chunk);
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, chunk, sizeof chunk, 0);
	size_t first = in.len;
	record(&in, 4, 1, chunk, 2, 0);
	fcgi_scan_init(&s, 100);
	CHECK(fcgi_scan(&s, (const unsigned char *)in.buf, first + 8, &need) == FCGI_SCAN_REFUSED &&
	      strstr(s.why, "64 KB"), "FastCGI scan: params past 64 KB are refused on the header that crosses");
	sb_reset(&in);
	begin(&in, 1);
	record(&in, 4, 1, "", 0, 0);
	for (int i = 0; i < 400; i++)
		record(&in, 5, 1, "x", 1, 255);
	CHECK(scan_all(&in, 1000, &s) == FCGI_SCAN_REFUSED && strstr(s.why, "longer than"),
	      "FastCGI scan: padding past the request's bound is refused");
	CHECK(fcgi_request_max(65536) < 140000 && fcgi_request_max(65536) > 65536 * 2,
	      "FastCGI scan: the bound of a request is its params and body and a little");
	sb_release(&in);
}

void test_fcgi(void)
{
	test_fcgi_params();
	test_fcgi_scan();
}

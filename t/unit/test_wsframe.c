#include <stdlib.h>

#include "tap.h"
#include "wsframe.h"

static int bytes_are(const unsigned char *got, const char *want, size_t n)
{
	return memcmp(got, want, n) == 0;
}

static void test_header(void)
{
	static const unsigned char mask[4] = { 1, 2, 3, 4 };
	unsigned char h[WS_HEADER_MAX];

	CHECK(ws_header(h, WS_TEXT, 1, 5, NULL) == 2 && bytes_are(h, "\x81\x05", 2),
	      "an unmasked short text frame has a 2-byte header");
	CHECK(ws_header(h, WS_TEXT, 1, 125, mask) == 6 && bytes_are(h, "\x81\xfd\x01\x02\x03\x04", 6),
	      "a masked frame carries the mask bit and its 4 bytes");
	CHECK(ws_header(h, WS_CONTINUATION, 0, 126, NULL) == 4 && bytes_are(h, "\x00\x7e\x00\x7e", 4),
	      "126 bytes take a 16-bit length; fin 0 and opcode 0 for a middle fragment");
	CHECK(ws_header(h, WS_BINARY, 1, 65535, mask) == 8 && bytes_are(h, "\x82\xfe\xff\xff\x01\x02\x03\x04", 8),
	      "65535 bytes still fit the 16-bit length");
	CHECK(ws_header(h, WS_TEXT, 1, 65536, NULL) == 10 &&
	      bytes_are(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10),
	      "65536 bytes take the 64-bit length");
	CHECK(ws_header(h, WS_PONG, 1, 0, mask) == 6 && h[0] == 0x8a && h[1] == 0x80,
	      "an empty masked pong");
}

static void test_mask(void)
{
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char out[5], back[5];
	/* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d */
	ws_mask(out, "Hello", 5, mask);
	CHECK(bytes_are(out, "\x7f\x9f\x4d\x51\x58", 5), "masking matches RFC 6455's example");
	ws_mask(back, out, 5, mask);
	CHECK(bytes_are(back, "Hello", 5), "masking twice gives the payload back");
}

static void test_parse(void)
{
	struct ws_head h;
	CHECK(ws_head_parse((const unsigned char *)"\x81", 1, &h) == 0, "one byte is not a header yet");
	CHECK(ws_head_parse((const unsigned char *)"\x81\x05Hello", 7, &h) == 1 && h.opcode == WS_TEXT &&
	      h.fin && !h.masked && h.header_len == 2 && h.payload_len == 5,
	      "a short unmasked text frame");
	CHECK(ws_head_parse((const unsigned char *)"\x01\x7e\x01", 3, &h) == 0,
	      "a 16-bit length not all there yet");
	CHECK(ws_head_parse((const unsigned char *)"\x01\x7e\x01\x00", 4, &h) == 1 && !h.fin &&
	      h.opcode == WS_TEXT && h.header_len == 4 && h.payload_len == 256,
	      "a first fragment with a 16-bit length");
	CHECK(ws_head_parse((const unsigned char *)"\x82\x7f\x00\x00\x00\x01\x00\x00\x00", 9, &h) == 0,
	      "a 64-bit length not all there yet");
	CHECK(ws_head_parse((const unsigned char *)"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 10, &h) == 1 &&
	      h.opcode == WS_BINARY && h.header_len == 10 && h.payload_len == 4294967296ULL,
	      "a 64-bit length");
	CHECK(ws_head_parse((const unsigned char *)"\x89\x85\x01\x02\x03", 5, &h) == 0,
	      "a mask not all there yet");
	CHECK(ws_head_parse((const unsigned char *)"\x89\x85\x01\x02\x03\x04", 6, &h) == 1 &&
	      h.opcode == WS_PING && h.masked && h.header_len == 6 && h.payload_len == 5 &&
	      bytes_are(h.mask, "\x01\x02\x03\x04", 4),
	      "a masked ping: the mask is read and skipped");

	static const unsigned char mask[4] = { 9, 8, 7, 6 };
	unsigned char frame[WS_HEADER_MAX + 300];
	size_t n = ws_header(frame, WS_CLOSE, 1, 300, mask);
	CHECK(ws_head_parse(frame, n, &h) == 1 && h.opcode == WS_CLOSE && h.fin && h.masked &&
	      h.header_len == n && h.payload_len == 300 && bytes_are(h.mask, (const char *)mask, 4),
	      "ws_head_parse reads what ws_header wrote");
}

static void test_upgrade(void)
{
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi";
	const char *no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	size_t n = 0;
	CHECK(ws_upgrade_answer(NULL, 0, &n) == 0, "nothing read yet (no buffer either)");
	CHECK(ws_upgrade_answer((const unsigned char *)ok, 20, &n) == 0, "an answer not all there yet");
	CHECK(ws_upgrade_answer((const unsigned char *)ok, strlen(ok), &n) == 1 && n == strlen(ok) - 4,
	      "101: accepted, and the frames after it are left");
	CHECK(ws_upgrade_answer((const unsigned char *)no, strlen(no), &n) == -1 && n == strlen(no),
	      "any other status is refused");
	CHECK(ws_upgrade_answer((const unsigned char *)"\r\n\r\n", 4, &n) == -1,
	      "an answer too short for a status line is refused");
}

void test_wsframe(void)
{
	test_header();
	test_mask();
	test_parse();
	test_upgrade();
}

#include "wsframe.h"

#include <string.h>

size_t ws_header(unsigned char hdr[WS_HEADER_MAX], int opcode, int fin, uint64_t len,
		 const unsigned char mask[4])
{
	unsigned char masked = mask ? 0x80 : 0;
	size_t h = 0;
	hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126)
		hdr[h++] = (unsigned char)(masked | len);
	else if (len < 65536) {
		hdr[h++] = masked | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = masked | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)(len >> (8 * i));
	}
	if (mask) {
		memcpy(hdr + h, mask, 4);
		h += 4;
	}
	return h;
}

void ws_mask(unsigned char *out, const void *data, size_t len, const unsigned char mask[4])
{
	const unsigned char *in = data;
	for (size_t i = 0; i < len; i++)
		out[i] = in[i] ^ mask[i & 3];
}

int ws_head_parse(const unsigned char *buf, size_t len, struct ws_head *h)
{
	if (len < 2)
		return 0;
	uint64_t plen = buf[1] & 127;
	size_t n = 2;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		n = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		n = 10;
	}
	h->masked = (buf[1] & 0x80) != 0;
	if (h->masked) {
		if (len < n + 4)
			return 0;
		memcpy(h->mask, buf + n, 4);
		n += 4;
	}
	h->opcode = buf[0] & 15;
	h->fin = (buf[0] & 0x80) != 0;
	h->header_len = n;
	h->payload_len = plen;
	return 1;
}

int ws_upgrade_answer(const unsigned char *buf, size_t len, size_t *answer_len)
{
	if (len < 4)
		return 0;  /* and buf may be NULL: nothing read yet */
	const unsigned char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	*answer_len = (size_t)(end - buf) + 4;
	/* "HTTP/1.1 101 ..." */
	return len >= 12 && memcmp(buf + 9, "101", 3) == 0 ? 1 : -1;
}

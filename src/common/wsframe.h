/* The byte layout of RFC 6455 WebSocket frames, for the programs that speak
 * it by hand (chat-cli's client, chat-bench): frame headers built and read,
 * payloads masked, the server's answer to the upgrade request recognised.
 * Pure: no I/O. ws-relay frames through libwebsockets instead. */
#ifndef SC_WSFRAME_H
#define SC_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_CONTINUATION = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10,
};

#define WS_HEADER_MAX 14  /* 2, 8 bytes of extended length, 4 of mask */

/* Writes into hdr the header of a frame carrying len payload bytes, fin 0
 * for all but the last fragment of a message. A client's frames are masked:
 * mask is then its 4 bytes; NULL for an unmasked (server's) frame. Returns
 * the header's length. */
size_t ws_header(unsigned char hdr[WS_HEADER_MAX], int opcode, int fin, uint64_t len,
		 const unsigned char mask[4]);

/* out = data XOR the mask: a payload masked, or unmasked again. */
void ws_mask(unsigned char *out, const void *data, size_t len, const unsigned char mask[4]);

struct ws_head {
	int opcode;
	int fin;
	int masked;
	unsigned char mask[4];
	size_t header_len;        /* the payload starts here */
	uint64_t payload_len;
};

/* Reads the header of the frame at the start of buf. Returns 1 with h
 * filled (the payload may not all be in buf yet), 0 when buf does not yet
 * hold the whole header. */
int ws_head_parse(const unsigned char *buf, size_t len, struct ws_head *h);

/* The server's answer to the upgrade request, at the start of buf: 0 not
 * all there yet; 1 accepted (101), *len its length, frames follow; -1
 * refused, *len its length. */
int ws_upgrade_answer(const unsigned char *buf, size_t len, size_t *answer_len);

#endif

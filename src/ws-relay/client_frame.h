/* What a client may say on its WebSocket, read without I/O so that unit
 * tests and the fuzzer drive it: ping, heartbeat, reconnect with the
 * position it holds in a reply, or auth with a fresh token. */
#ifndef SC_CLIENT_FRAME_H
#define SC_CLIENT_FRAME_H

#include <stddef.h>

#include "jwt.h"
#include "validate.h"

enum client_action {
	CLIENT_BAD,          /* not a JSON object with a type: close 4400 */
	CLIENT_BAD_RECONNECT,/* reconnect without a valid messageId/lastChunkIndex: 4400 */
	CLIENT_BAD_AUTH,     /* auth without a token string of at most JWT_MAX bytes: 4400 */
	CLIENT_UNKNOWN,      /* a type we do not know: answered with an error frame */
	CLIENT_PING,
	CLIENT_HEARTBEAT,
	CLIENT_RECONNECT,    /* mid and last are set */
	CLIENT_AUTH,         /* token is set (its signature is not checked here) */
};

struct client_msg {
	char mid[ID_MAX + 1];
	long last;
	char token[JWT_MAX + 1];
};

enum client_action client_frame_parse(const char *buf, size_t len, struct client_msg *out);

#endif

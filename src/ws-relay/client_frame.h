/* What a client may say on its WebSocket, read without I/O so that unit
 * tests and the fuzzer drive it: ping, heartbeat, or reconnect with the
 * position it holds in a reply. */
#ifndef SC_CLIENT_FRAME_H
#define SC_CLIENT_FRAME_H

#include <stddef.h>

#include "validate.h"

enum client_action {
	CLIENT_BAD,          /* not a JSON object with a type: close 4400 */
	CLIENT_BAD_RECONNECT,/* reconnect without a valid messageId/lastChunkIndex: 4400 */
	CLIENT_UNKNOWN,      /* a type we do not know: answered with an error frame */
	CLIENT_PING,
	CLIENT_HEARTBEAT,
	CLIENT_RECONNECT,    /* mid and last are set */
};

enum client_action client_frame_parse(const char *buf, size_t len, char mid[ID_MAX + 1],
				      long *last);

#endif

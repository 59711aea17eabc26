/* libFuzzer target: ws-relay's reading of a client's frame. Whatever the
 * bytes, the answer is one of the actions, a reconnect carries a valid
 * message id and an index of -1 or more, and an auth a non-empty token. */
#include <stdint.h>
#include <string.h>

#include "ws-relay/client_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct client_msg m;
	m.last = -2;
	enum client_action a = client_frame_parse((const char *)data, size, &m);
	if (a == CLIENT_RECONNECT && (!valid_message_id(m.mid, strlen(m.mid)) || m.last < -1))
		__builtin_trap();
	if (a == CLIENT_AUTH && (m.token[0] == '\0' || strlen(m.token) > JWT_MAX))
		__builtin_trap();
	if (a < CLIENT_BAD || a > CLIENT_AUTH)
		__builtin_trap();
	return 0;
}

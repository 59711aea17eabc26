/* libFuzzer target: ws-relay's reading of a client's frame. Whatever the
 * bytes, the answer is one of the actions, and a reconnect carries a valid
 * message id and an index of -1 or more. */
#include <stdint.h>
#include <string.h>

#include "ws-relay/client_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char mid[ID_MAX + 1];
	long last = -2;
	enum client_action a = client_frame_parse((const char *)data, size, mid, &last);
	if (a == CLIENT_RECONNECT && (!valid_message_id(mid, strlen(mid)) || last < -1))
		__builtin_trap();
	if (a < CLIENT_BAD || a > CLIENT_RECONNECT)
		__builtin_trap();
	return 0;
}

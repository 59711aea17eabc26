#include "client_frame.h"

#include <string.h>

#include "frame.h"

enum client_action client_frame_parse(const char *buf, size_t len, char mid[ID_MAX + 1],
				      long *last)
{
	struct frame_info fi;
	if (!valid_utf8(buf, len) || frame_peek(buf, len, &fi) != 0)
		return CLIENT_BAD;
	switch (fi.type) {
	case FT_PING:
		return CLIENT_PING;
	case FT_HEARTBEAT:
		return CLIENT_HEARTBEAT;
	case FT_RECONNECT:
		if (!fi.message_id || !valid_message_id(fi.message_id, fi.message_id_len) ||
		    fi.last_chunk_index < -1)
			return CLIENT_BAD_RECONNECT;
		memcpy(mid, fi.message_id, fi.message_id_len);
		mid[fi.message_id_len] = '\0';
		*last = fi.last_chunk_index;
		return CLIENT_RECONNECT;
	default:
		return CLIENT_UNKNOWN;
	}
}

#include "client_frame.h"

#include <string.h>

#include "frame.h"

enum client_action client_frame_parse(const char *buf, size_t len, struct client_msg *out)
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
		memcpy(out->mid, fi.message_id, fi.message_id_len);
		out->mid[fi.message_id_len] = '\0';
		out->last = fi.last_chunk_index;
		return CLIENT_RECONNECT;
	case FT_AUTH:
		if (!fi.token || fi.token_len == 0 || fi.token_len > JWT_MAX ||
		    memchr(fi.token, '\0', fi.token_len))
			return CLIENT_BAD_AUTH;
		memcpy(out->token, fi.token, fi.token_len);
		out->token[fi.token_len] = '\0';
		return CLIENT_AUTH;
	default:
		return CLIENT_UNKNOWN;
	}
}

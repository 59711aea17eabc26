#include <string.h>

#include "tap.h"
#include "ws-relay/client_frame.h"

static enum client_action parse(const char *s, struct client_msg *m)
{
	return client_frame_parse(s, strlen(s), m);
}

void test_client_frame(void)
{
	static struct client_msg m;
	CHECK(parse("{\"type\":\"ping\"}", &m) == CLIENT_PING, "ping");
	CHECK(parse("{\"type\":\"reconnect\",\"messageId\":\"m-1\",\"lastChunkIndex\":4}", &m) ==
		      CLIENT_RECONNECT && !strcmp(m.mid, "m-1") && m.last == 4,
	      "reconnect carries its message and index");
	CHECK(parse("{\"type\":\"reconnect\",\"messageId\":\"m 1\",\"lastChunkIndex\":4}", &m) ==
		      CLIENT_BAD_RECONNECT, "reconnect with a bad message id");
	CHECK(parse("{\"type\":\"auth\",\"token\":\"a.b.c\"}", &m) == CLIENT_AUTH &&
		      !strcmp(m.token, "a.b.c"), "auth carries its token");
	CHECK(parse("{\"type\":\"auth\"}", &m) == CLIENT_BAD_AUTH, "auth without a token");
	CHECK(parse("{\"type\":\"auth\",\"token\":\"\"}", &m) == CLIENT_BAD_AUTH, "auth with an empty token");
	CHECK(parse("{\"type\":\"auth\",\"token\":7}", &m) == CLIENT_BAD_AUTH, "auth with a number for a token");
	CHECK(parse("{\"type\":\"auth\",\"token\":\"a\\u0000b\"}", &m) == CLIENT_BAD_AUTH,
	      "auth with an escaped token (tokens never need escapes)");
	static char big[JWT_MAX + 64];
	strcpy(big, "{\"type\":\"auth\",\"token\":\"");
	memset(big + strlen(big), 'a', JWT_MAX + 1);
	strcat(big, "\"}");
	CHECK(parse(big, &m) == CLIENT_BAD_AUTH, "auth with a token over JWT_MAX");
	CHECK(parse("{\"type\":\"auth_ok\"}", &m) == CLIENT_UNKNOWN, "a server frame from a client is unknown");
	CHECK(parse("[1]", &m) == CLIENT_BAD, "not an object");
}

#include <stdlib.h>

#include "frame.h"
#include "strbuf.h"
#include "tap.h"

static int peek(const char *s, struct frame_info *fi) { return frame_peek(s, strlen(s), fi); }

void test_frame(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct frame_info fi;

	frame_chunk(&sb, "s1", "m1", 7, "a\"b\\c\n\x01", 7, 0);
	CHECK_STR(sb.buf, "{\"type\":\"chunk\",\"sessionId\":\"s1\",\"messageId\":\"m1\",\"index\":7,"
		  "\"content\":\"a\\\"b\\\\c\\n\\u0001\"}", "chunk frames escape quotes, backslashes and controls");
	CHECK(peek(sb.buf, &fi) == 0 && fi.type == FT_CHUNK && fi.index == 7 &&
	      fi.message_id_len == 2 && !memcmp(fi.message_id, "m1", 2) && fi.ts == 0,
	      "frame_peek reads a chunk frame");
	sb_reset(&sb);
	frame_chunk(&sb, "s1", "m1", 8, "x", 1, 1795387501123LL);
	CHECK(peek(sb.buf, &fi) == 0 && fi.index == 8 && fi.ts == 1795387501123L,
	      "a published chunk frame carries the time of its first token in ms");
	sb_reset(&sb);

	frame_end(&sb, "complete", "s1", "m1", 12);
	CHECK(peek(sb.buf, &fi) == 0 && fi.type == FT_COMPLETE && fi.total == 12 && fi.index == -2,
	      "frame_peek reads a complete frame");
	sb_reset(&sb);

	frame_welcome(&sb, "s", "node-1");
	CHECK_STR(sb.buf, "{\"type\":\"welcome\",\"sessionId\":\"s\",\"nodeId\":\"node-1\"}", "welcome frame");
	sb_reset(&sb);

	frame_pong(&sb);
	CHECK_STR(sb.buf, "{\"type\":\"pong\"}", "pong frame");
	CHECK(peek(sb.buf, &fi) == 0 && fi.type == FT_PONG, "frame_peek reads a pong frame");
	sb_reset(&sb);

	frame_heartbeat_ack(&sb);
	CHECK_STR(sb.buf, "{\"type\":\"heartbeat_ack\"}", "heartbeat_ack frame");
	CHECK(peek(sb.buf, &fi) == 0 && fi.type == FT_HEARTBEAT_ACK, "frame_peek reads a heartbeat_ack frame");
	sb_reset(&sb);

	frame_auth_ok(&sb, 0);
	CHECK_STR(sb.buf, "{\"type\":\"auth_ok\",\"validUntil\":0}", "auth_ok without tokens: validUntil 0");
	sb_reset(&sb);
	frame_auth_ok(&sb, 1795387501LL);
	CHECK_STR(sb.buf, "{\"type\":\"auth_ok\",\"validUntil\":1795387501}", "auth_ok carries the new expiry");
	CHECK(peek(sb.buf, &fi) == 0 && fi.type == FT_AUTH_OK, "frame_peek reads an auth_ok frame");
	sb_reset(&sb);

	frame_recovery_status(&sb, "m", "recovered", 3);
	CHECK_STR(sb.buf, "{\"type\":\"recovery_status\",\"messageId\":\"m\",\"status\":\"recovered\","
		  "\"chunksRecovered\":3}", "recovery_status frame");
	sb_reset(&sb);

	const char *chunks[] = { "Hel", "lo \"x\"" };
	size_t lens[] = { 3, 6 };
	struct inprogress ip = { "m9", "streaming", 5, chunks, lens, 2 };
	const char *items[] = { "{\"a\":1}" };
	size_t ilens[] = { 7 };
	history_items(&sb, items, ilens, 1, &ip, 1);
	CHECK_STR(sb.buf, "[{\"a\":1},{\"message_id\":\"m9\",\"role\":\"assistant\",\"content\":\"Hello \\\"x\\\"\","
		  "\"status\":\"streaming\",\"created_at\":5,\"lastChunkIndex\":1}]",
		  "the reply in progress is one history item with lastChunkIndex");
	sb_reset(&sb);
	history_items(&sb, NULL, NULL, 0, NULL, 0);
	CHECK_STR(sb.buf, "[]", "an empty history is an empty array");
	sb_release(&sb);

	CHECK(peek("{\"type\":\"reconnect\",\"messageId\":\"m\",\"lastChunkIndex\":-1}", &fi) == 0 &&
	      fi.type == FT_RECONNECT && fi.last_chunk_index == -1, "a reconnect frame from a client");
	CHECK(peek(" { \"type\" : \"ping\" } ", &fi) == 0 && fi.type == FT_PING, "white space is allowed");
	CHECK(peek("{\"x\":[1,{\"y\":null}],\"type\":\"heartbeat\"}", &fi) == 0 && fi.type == FT_HEARTBEAT,
	      "nested values are skipped");
	CHECK(peek("{\"type\":\"ping\"", &fi) == -1, "a truncated object is refused");
	CHECK(peek("{\"type\":\"ping\"}x", &fi) == -1, "trailing bytes are refused");
	CHECK(peek("[1,2]", &fi) == -1, "an array is not a frame");
	CHECK(peek("{\"type\":\"ping\",}", &fi) == -1, "a trailing comma is refused");
	CHECK(peek("{\"a\":\"\\q\"}", &fi) == -1, "a bad escape is refused");
	CHECK(peek("{\"type\":\"bogus\"}", &fi) == 0 && fi.type == FT_UNKNOWN, "unknown types are reported");
	char deep[200];
	memset(deep, '[', 100);
	strcpy(deep + 100, "");
	CHECK(frame_peek(deep, 100, &fi) == -1, "deep nesting is refused, not recursed into");
	char nested[300] = "{\"a\":";
	for (int i = 0; i < 40; i++)
		strcat(nested, "[");
	for (int i = 0; i < 40; i++)
		strcat(nested, "]");
	strcat(nested, "}");
	CHECK(peek(nested, &fi) == -1, "more than 32 levels are refused");
	CHECK(peek("", &fi) == -1, "an empty frame is refused");
	CHECK(peek("{\"index\":1e99,\"type\":\"chunk\"}", &fi) == 0 && fi.index == -2,
	      "a non-integer index is treated as absent");
}

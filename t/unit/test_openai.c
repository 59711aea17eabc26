#include <stdlib.h>

#include "ai-streamer/openai.h"
#include "tap.h"
#include "validate.h"

void test_openai(void)
{
	struct strbuf sb = STRBUF_INIT, tok = STRBUF_INIT;
	char err[200];
	const char *items[] = {
		"{\"message_id\":\"a\",\"role\":\"user\",\"content\":\"hi \\\"you\\\"\",\"status\":\"complete\"}",
		"{\"message_id\":\"b\",\"role\":\"assistant\",\"content\":\"\",\"status\":\"error\"}",
		"{\"message_id\":\"c\",\"role\":\"assistant\",\"content\":\"caf\\u00e9\",\"status\":\"complete\"}",
		"not json",
		"{\"message_id\":\"d\",\"role\":\"user\",\"content\":\"again\",\"status\":\"complete\"}",
	};
	size_t lens[5];
	for (int i = 0; i < 5; i++)
		lens[i] = strlen(items[i]);
	openai_request_body(&sb, "m1", "be brief", 512, items, lens, 5);
	CHECK_STR(sb.buf, "{\"model\":\"m1\",\"stream\":true,\"max_tokens\":512,\"messages\":[{\"role\":\"system\",\"content\":"
		  "\"be brief\"},{\"role\":\"user\",\"content\":\"hi \\\"you\\\"\"},{\"role\":\"assistant\","
		  "\"content\":\"café\"},{\"role\":\"user\",\"content\":\"again\"}]}",
		  "the request: system prompt, then the turns with text, in order");
	sb_reset(&sb);
	openai_request_body(&sb, "m", "", 7, items + 4, lens + 4, 1);
	CHECK_STR(sb.buf, "{\"model\":\"m\",\"stream\":true,\"max_tokens\":7,\"messages\":[{\"role\":\"user\",\"content\":\"again\"}]}",
		  "no system message when there is no system prompt");

	const char *ev = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\\u00f6rld\"}}]}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) == OA_TOKEN && !strcmp(tok.buf, " wörld"),
	      "a delta's content is a token, escapes decoded");
	CHECK(openai_event("[DONE]", 6, &tok, err, sizeof err) == OA_DONE, "[DONE] ends the stream");
	ev = "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) == OA_IGNORE, "a delta without content is skipped");
	ev = "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) == OA_ERROR && !strcmp(err, "overloaded"),
	      "an error object ends the stream with its message");
	CHECK(openai_event("{\"choices\":", 11, &tok, err, sizeof err) == OA_ERROR, "broken JSON is an error");
	CHECK(openai_event("[1,2]", 5, &tok, err, sizeof err) == OA_ERROR, "JSON that is not an object is an error");
	ev = "{\"choices\":[{\"delta\":{\"content\":\"\\u0000\"}}]}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) != OA_TOKEN || valid_utf8(tok.buf, tok.len),
	      "an escaped NUL does not break the text");
	sb_reset(&tok);
	ev = "{\"choices\":[{\"delta\":{\"content\":\"caf\xc3\"}}]}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) == OA_TOKEN && tok.len == 4,
	      "a token cut inside a character is passed on as sent, for utf8_repair");

	/* an error message goes into a frame and a log line: cut between
	 * characters, its newlines gone */
	sb_reset(&sb);
	sb_adds(&sb, "{\"error\":{\"message\":\"line one\\nlevel=error forged ");
	/* the message starts at byte 21 and its escaped newline is one byte
	 * decoded: é takes bytes 198 and 199 of it, across the 199 that fit */
	while (sb.len < 21 + 1 + sizeof err - 2)
		sb_addc(&sb, 'x');
	sb_adds(&sb, "\xc3\xa9 and more\"}}");
	CHECK(openai_event(sb.buf, sb.len, &tok, err, sizeof err) == OA_ERROR && valid_utf8(err, strlen(err)),
	      "an error message cut at its limit is still valid UTF-8");
	CHECK(!strchr(err, '\n') && !strncmp(err, "line one level=error forged", 27),
	      "a newline in an error message becomes a space");
	ev = "{\"error\":{\"message\":\"bad \xff\\u0007bytes\"}}";
	CHECK(openai_event(ev, strlen(ev), &tok, err, sizeof err) == OA_ERROR &&
	      !strcmp(err, "bad \xef\xbf\xbd bytes"), "invalid bytes become U+FFFD, control characters spaces");
	sb_release(&sb);
	sb_release(&tok);
}

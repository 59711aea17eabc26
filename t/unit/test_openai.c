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
	openai_request_body(&sb, "m1", "be brief", items, lens, 5);
	CHECK_STR(sb.buf, "{\"model\":\"m1\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":"
		  "\"be brief\"},{\"role\":\"user\",\"content\":\"hi \\\"you\\\"\"},{\"role\":\"assistant\","
		  "\"content\":\"café\"},{\"role\":\"user\",\"content\":\"again\"}]}",
		  "the request: system prompt, then the turns with text, in order");
	sb_reset(&sb);
	openai_request_body(&sb, "m", "", items + 4, lens + 4, 1);
	CHECK_STR(sb.buf, "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"again\"}]}",
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
	sb_release(&sb);
	sb_release(&tok);
}

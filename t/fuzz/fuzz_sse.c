/* libFuzzer target: the event-stream parser and the decoding of each event,
 * as ai-streamer runs them on whatever an AI server sends. The first byte
 * picks the read size, so that events split across reads are explored. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ai-streamer/openai.h"
#include "ai-streamer/sse.h"
#include "validate.h"

static int on_event(void *ud, const char *data, size_t len)
{
	struct strbuf *tok = ud;
	char err[200];
	sb_reset(tok);
	enum oa_event ev = openai_event(data, len, tok, err, sizeof err);
	if (ev == OA_TOKEN && !valid_utf8(tok->buf ? tok->buf : "", tok->len))
		__builtin_trap();  /* a token must never carry invalid UTF-8 into a frame */
	return ev == OA_DONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 16 + 1;
	struct sse p;
	struct strbuf tok = STRBUF_INIT;
	sse_init(&p);
	for (size_t i = 1; i < size; i += step) {
		size_t n = i + step <= size ? step : size - i;
		if (sse_feed(&p, (const char *)data + i, n, on_event, &tok))
			break;
	}
	sse_release(&p);
	sb_release(&tok);
	return 0;
}

/* libFuzzer target: the event-stream parser and the decoding of each event,
 * as ai-streamer runs them on whatever an AI server sends. The first byte
 * picks the read size, so that events split across reads are explored. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ai-streamer/openai.h"
#include "ai-streamer/sse.h"
#include "validate.h"

struct state {
	struct strbuf tok, text;
	struct utf8_carry carry;
};

static void check(const struct strbuf *text)
{
	if (!valid_utf8(text->buf ? text->buf : "", text->len))
		__builtin_trap();  /* a token must never carry invalid UTF-8 into a frame */
}

static int on_event(void *ud, const char *data, size_t len)
{
	struct state *st = ud;
	char err[200];
	sb_reset(&st->tok);
	sb_reset(&st->text);
	enum oa_event ev = openai_event(data, len, &st->tok, err, sizeof err);
	if (ev == OA_TOKEN)
		utf8_repair(&st->text, &st->carry, st->tok.buf ? st->tok.buf : "", st->tok.len);
	else if (ev == OA_DONE)
		utf8_repair_end(&st->text, &st->carry);
	check(&st->text);
	return ev == OA_DONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 16 + 1;
	struct sse p;
	struct state st = { STRBUF_INIT, STRBUF_INIT, { { 0 }, 0 } };
	sse_init(&p);
	for (size_t i = 1; i < size; i += step) {
		size_t n = i + step <= size ? step : size - i;
		if (sse_feed(&p, (const char *)data + i, n, on_event, &st))
			break;
	}
	sse_release(&p);
	sb_reset(&st.text);
	utf8_repair_end(&st.text, &st.carry);
	check(&st.text);
	sb_release(&st.tok);
	sb_release(&st.text);
	return 0;
}

#include <stdlib.h>

#include "chat-cli/reply.h"
#include "tap.h"

static int add(struct reply *r, long i, const char *s, struct strbuf *out)
{
	return reply_add(r, i, s, strlen(s), out);
}

void test_reply(void)
{
	struct reply r;
	struct strbuf out = STRBUF_INIT;

	reply_init(&r, "m1");
	CHECK(add(&r, 0, "a", &out) && add(&r, 1, "b", &out) && r.next == 2, "chunks in order are taken");
	CHECK(!add(&r, 1, "b", &out) && r.duplicates == 1, "a repeat is refused and counted");
	CHECK(add(&r, 4, "e", &out) && add(&r, 3, "d", &out) && r.next == 2 && r.out_of_order == 2,
	      "chunks past a hole wait");
	CHECK(!add(&r, 4, "e", &out) && r.duplicates == 2, "a repeat of a waiting chunk is refused");
	CHECK(add(&r, 2, "c", &out) && r.next == 5, "the hole filled, the waiting chunks follow");
	CHECK_STR(r.text.buf, "abcde", "the text is in index order");
	CHECK_STR(out.buf, "abcde", "what is printed is the contiguous text, once");
	CHECK(r.nahead == 0, "nothing is left waiting");
	reply_end(&r, "complete", 6);
	CHECK(!reply_done(&r), "an end frame before the last chunk does not finish the reply");
	CHECK(add(&r, 5, "f", &out) && reply_done(&r) && reply_last(&r) == 5, "the last chunk finishes it");
	reply_free(&r);

	sb_reset(&out);
	reply_init(&r, "m2");
	reply_set_prefix(&r, "hello ", 6, 2);
	CHECK(reply_last(&r) == 2 && !add(&r, 2, "x", &out), "a history prefix counts as chunks 0..k");
	CHECK(add(&r, 3, "world", &out) && !strcmp(r.text.buf, "hello world"), "chunks continue a prefix");
	reply_end(&r, "complete", 4);
	CHECK(reply_done(&r), "a reply ended with all its chunks is done");
	reply_free(&r);

	reply_init(&r, "m3");
	for (long i = 999; i >= 1; i--) {
		char s[2] = { (char)('a' + i % 26), 0 };
		add(&r, i, s, NULL);
	}
	CHECK(r.next == 0 && r.nahead == 1000, "a thousand chunks may wait for the first");
	add(&r, 0, "a", NULL);
	CHECK(r.next == 1000 && r.text.len == 1000 && r.nahead == 0, "and all follow it at once");
	reply_free(&r);
	sb_release(&out);
}

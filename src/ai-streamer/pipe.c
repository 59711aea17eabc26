/* ai-streamer --pipe: one whole reply as the Redis commands that a user's
 * message and a worker would have issued, in RESP on stdout, for
 * `| redis-cli --pipe`. Afterwards the history, GET /api/stream and a
 * WebSocket replay show the message exactly as if it had been chatted:
 * the user's item, the reply's chunks, meta, session, end frame and TTL.
 * Nothing is read from Redis, so the session's owner is overwritten with
 * --user: this is a tool for operators and scripts, not for clients.
 * Each history item goes in with its archive entry in one MULTI/EXEC, as
 * enqueue.lua and finish.lua write them. The frames are published as the
 * scripts publish them for REDIS_URL's topology (SPUBLISH on a Cluster). */
#include <stdio.h>
#include <string.h>

#include "archive.h"
#include "frame.h"
#include "keys.h"
#include "pipe.h"
#include "strbuf.h"
#include "util.h"

static void resp(FILE *out, int argc, const char *const *argv, const size_t *lens)
{
	fprintf(out, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		size_t n = lens && lens[i] != (size_t)-1 ? lens[i] : strlen(argv[i]);
		fprintf(out, "$%zu\r\n", n);
		fwrite(argv[i], 1, n, out);
		fputs("\r\n", out);
	}
}

/* RPUSH of a history item and the XADD of its archive entry, atomically
 * (one slot: both of the session's partition). */
static void history_and_archive(FILE *out, const char *khist, const struct strbuf *item,
				const struct pipe_job *pj, const char *mid, const char *role,
				const char *content, size_t content_len, const char *created)
{
	char karchive[KEY_MAX];
	const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
	resp(out, 1, multi, NULL);
	const char *push[] = { "RPUSH", khist, item->buf };
	size_t pushl[] = { (size_t)-1, (size_t)-1, item->len };
	resp(out, 3, push, pushl);
	const char *xadd[] = { "XADD", key_archive(karchive, session_partition(pj->session)), "MAXLEN", "~", archive_maxlen(), "*",
			       "message_id", mid, "session_id", pj->session, "user_id", pj->user,
			       "role", role, "content", content, "status", "complete",
			       "created_at", created };
	enum { NXADD = sizeof xadd / sizeof *xadd, CONTENT = 15 };
	size_t xaddl[NXADD];
	for (size_t i = 0; i < NXADD; i++)
		xaddl[i] = (size_t)-1;
	xaddl[CONTENT] = content_len;
	resp(out, NXADD, xadd, xaddl);
	resp(out, 1, exec, NULL);
}

#define CMD(out, ...) do { \
	const char *argv_[] = { __VA_ARGS__ }; \
	resp(out, (int)(sizeof argv_ / sizeof *argv_), argv_, NULL); \
} while (0)

int run_pipe(FILE *out, const struct pipe_job *pj)
{
	char mid[33], user_mid[33], now[24], total[24], ttl[24], cap[24];
	char khist[KEY_MAX], kmeta[KEY_MAX], ksess[KEY_MAX], kchunks[KEY_MAX], kchan[KEY_MAX];
	int part = session_partition(pj->session);
	if (new_message_id(mid, part) || new_message_id(user_mid, part))
		return -1;
	int64_t t = now_ms();
	snprintf(now, sizeof now, "%lld", (long long)t);
	snprintf(ttl, sizeof ttl, "%ld", pj->chunk_ttl_s);
	snprintf(cap, sizeof cap, "-%ld", pj->history_max);
	key_history(khist, pj->session);
	key_meta(kmeta, mid);
	key_session(ksess, pj->session);
	key_chunks(kchunks, mid);
	key_channel(kchan, pj->session);

	struct strbuf item = STRBUF_INIT, frame = STRBUF_INIT, text = STRBUF_INIT;
	history_item(&item, user_mid, "user", pj->prompt, strlen(pj->prompt), "complete", t);
	history_and_archive(out, khist, &item, pj, user_mid, "user", pj->prompt, strlen(pj->prompt),
			    now);
	CMD(out, "HSET", kmeta, "session_id", pj->session, "user_id", pj->user, "status", "streaming",
	    "total_chunks", "0", "owner", "pipe", "created_at", now, "updated_at", now);
	CMD(out, "HSET", ksess, "sessionId", pj->session, "userId", pj->user, "messageId", mid,
	    "status", "streaming", "totalChunks", "0");

	struct generator g;
	char tok[TOKEN_MAX];
	size_t n;
	long index = 0;
	gen_init(&g, pj->prompt, strlen(pj->prompt), pj->max_tokens);
	while ((n = gen_next(&g, tok)) > 0) {
		const char *rp[] = { "RPUSH", kchunks, tok };
		size_t rpl[] = { (size_t)-1, (size_t)-1, n };
		resp(out, 3, rp, rpl);
		sb_reset(&frame);
		frame_chunk(&frame, pj->session, mid, index++, tok, n, 0);
		const char *pb[] = { pj->publish, kchan, frame.buf };
		size_t pbl[] = { (size_t)-1, (size_t)-1, frame.len };
		resp(out, 3, pb, pbl);
		sb_add(&text, tok, n);
	}
	snprintf(total, sizeof total, "%ld", index);
	CMD(out, "HSET", kmeta, "status", "complete", "total_chunks", total, "updated_at", now);
	CMD(out, "HSET", ksess, "status", "complete", "totalChunks", total);
	sb_reset(&item);
	history_item(&item, mid, "assistant", text.buf ? text.buf : "", text.len, "complete", t);
	history_and_archive(out, khist, &item, pj, mid, "assistant", text.buf ? text.buf : "",
			    text.len, now);
	CMD(out, "LTRIM", khist, cap, "-1");
	CMD(out, "EXPIRE", kchunks, ttl);
	CMD(out, "EXPIRE", kmeta, ttl);
	sb_reset(&frame);
	frame_end(&frame, "complete", pj->session, mid, index);
	const char *pe[] = { pj->publish, kchan, frame.buf };
	size_t pel[] = { (size_t)-1, (size_t)-1, frame.len };
	resp(out, 3, pe, pel);
	sb_release(&item);
	sb_release(&frame);
	sb_release(&text);
	fprintf(stderr, "ai-streamer: message %s, %ld chunks\n", mid, index);
	return fflush(out) == 0 ? 0 : -1;
}

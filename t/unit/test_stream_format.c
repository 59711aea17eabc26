/* The formats of a relay's HTTP streams (src/common/stream_format.c) and
 * the raw string reader they are fed by (frame_raw_string). */
#include <json-c/json.h>
#include <string.h>

#include "frame.h"
#include "stream_format.h"
#include "tap.h"

#define MID "0123456789abcdef0123456789abcdef"

static int raw_is(const char *frame, const char *key, const char *want)
{
	const char *v;
	size_t vl;
	if (frame_raw_string(frame, strlen(frame), key, &v, &vl))
		return want == NULL;
	return want && vl == strlen(want) && !memcmp(v, want, vl);
}

static void test_raw_string(void)
{
	const char *chunk = "{\"type\":\"chunk\",\"sessionId\":\"s\",\"messageId\":\"m\",\"index\":3,"
			    "\"content\":\"a \\\"q\\\" \\u00e9\\n\",\"ts\":5}";
	CHECK(raw_is(chunk, "content", "a \\\"q\\\" \\u00e9\\n"), "content keeps its escapes");
	CHECK(raw_is(chunk, "messageId", "m"), "a key before it");
	CHECK(raw_is(chunk, "ts", NULL), "a number is not a string");
	CHECK(raw_is(chunk, "absent", NULL), "an absent key");
	CHECK(raw_is("{\"a\":{\"content\":\"x\"}}", "content", NULL), "only top-level keys");
	CHECK(raw_is("{\"content\":\"x", "content", NULL), "an unterminated string");
	CHECK(raw_is("{\"content\":\"\"}", "content", ""), "an empty string");
	CHECK(raw_is("[\"content\",\"x\"]", "content", NULL), "not an object");
	CHECK(raw_is("", "content", NULL), "nothing");
}

/* The JSON objects of an SSE body's data lines, [DONE] left out. */
static int data_lines(const char *body, json_object **out, int max)
{
	int n = 0;
	for (const char *p = strstr(body, "data: "); p && n < max; p = strstr(p + 1, "\ndata: ")) {
		p += p[0] == '\n';
		const char *e = strchr(p, '\n');
		char buf[1024];
		size_t l = (size_t)(e - p - 6);
		memcpy(buf, p + 6, l);
		buf[l] = '\0';
		if (strcmp(buf, "[DONE]"))
			out[n++] = json_tokener_parse(buf);
	}
	return n;
}

static const char *str_at(json_object *o, const char *path0, const char *path1)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, path0, &v))
		return NULL;
	if (path1 && !json_object_object_get_ex(v, path1, &v))
		return NULL;
	return json_object_get_string(v);
}

static void free_all(json_object **o, int n)
{
	for (int i = 0; i < n; i++)
		json_object_put(o[i]);
}

static void test_sse_format(void)
{
	struct stream_writer w;
	struct strbuf sb = STRBUF_INIT;
	json_object *o[8];
	stream_writer_init(&w, SF_SSE, MID, NULL, 1700000000);
	stream_open(&w, &sb);
	CHECK(sb.len == 0, "sse: nothing before the first chunk");
	stream_chunk(&w, &sb, 4, "h\\u00e9 \\\"x\\\"", 13);
	CHECK(!strncmp(sb.buf, "id: 4\ndata: ", 12), "sse: the chunk's event has its index as id");
	CHECK(stream_end(&w, &sb, SE_COMPLETE, 5, NULL, 0, NULL, 0) == 200, "sse: 200");
	CHECK(strstr(sb.buf, "\n\nevent: end\ndata: ") != NULL, "sse: an end event, without id");
	int n = data_lines(sb.buf, o, 8);
	CHECK(n == 2 && !strcmp(str_at(o[0], "content", NULL), "h\xc3\xa9 \"x\""),
	      "sse: the content decodes to the chunk's text");
	CHECK(n == 2 && !strcmp(str_at(o[1], "status", NULL), "complete") &&
		      !strcmp(str_at(o[1], "total_chunks", NULL), "5"), "sse: the end's status and count");
	free_all(o, n);
	sb_reset(&sb);
	stream_end(&w, &sb, SE_ERROR, -1, "timeout", 7, "the AI server \\\"hung\\\"", 22);
	n = data_lines(sb.buf, o, 8);
	CHECK(n == 1 && !strcmp(str_at(o[0], "error", "code"), "timeout") &&
		      !strcmp(str_at(o[0], "error", "message"), "the AI server \"hung\"") &&
		      !str_at(o[0], "total_chunks", NULL), "sse: an error's code and message");
	free_all(o, n);
	stream_writer_release(&w);
	sb_release(&sb);
}

static void test_ui_format(void)
{
	struct stream_writer w;
	struct strbuf sb = STRBUF_INIT;
	json_object *o[8];
	stream_writer_init(&w, SF_UI, MID, NULL, 0);
	stream_open(&w, &sb);
	stream_chunk(&w, &sb, 0, "Hi", 2);
	stream_end(&w, &sb, SE_CANCELLED, 1, NULL, 0, NULL, 0);
	int n = data_lines(sb.buf, o, 8);
	CHECK(n == 5, "ui: start, text-start, text-delta, text-end, abort");
	CHECK(n == 5 && !strcmp(str_at(o[0], "type", NULL), "start") &&
		      !strcmp(str_at(o[0], "messageId", NULL), MID), "ui: start names the message");
	CHECK(n == 5 && !strcmp(str_at(o[2], "delta", NULL), "Hi") &&
		      !strcmp(str_at(o[2], "id", NULL), str_at(o[1], "id", NULL)) &&
		      !strcmp(str_at(o[3], "id", NULL), str_at(o[1], "id", NULL)),
	      "ui: the delta and text-end name the text-start's part");
	CHECK(n == 5 && !strcmp(str_at(o[4], "type", NULL), "abort"), "ui: cancelled is abort");
	CHECK(strstr(sb.buf, "id: 0\ndata: {\"type\":\"text-delta\"") != NULL, "ui: deltas carry ids");
	CHECK(sb.len > 14 && !strcmp(sb.buf + sb.len - 14, "data: [DONE]\n\n"), "ui: ends with [DONE]");
	free_all(o, n);
	sb_reset(&sb);
	stream_end(&w, &sb, SE_COMPLETE, 1, NULL, 0, NULL, 0);
	CHECK(strstr(sb.buf, "{\"type\":\"finish\",\"finishReason\":\"stop\"}") != NULL, "ui: complete is finish");
	sb_reset(&sb);
	stream_end(&w, &sb, SE_ERROR, -1, "http_500", 8, "boom", 4);
	CHECK(strstr(sb.buf, "{\"type\":\"error\",\"errorText\":\"http_500: boom\"}") != NULL,
	      "ui: error is an error part with its text");
	stream_writer_release(&w);
	sb_release(&sb);
}

static void test_openai_format(void)
{
	struct stream_writer w;
	struct strbuf sb = STRBUF_INIT;
	json_object *o[8];
	stream_writer_init(&w, SF_OPENAI, MID, "gpt-x", 1700000000);
	stream_chunk(&w, &sb, 7, "a", 1);
	stream_chunk(&w, &sb, 8, "b", 1);
	stream_end(&w, &sb, SE_COMPLETE, 9, NULL, 0, NULL, 0);
	int n = data_lines(sb.buf, o, 8);
	CHECK(n == 3, "openai: two chunks and the stop");
	CHECK(n == 3 && !strcmp(str_at(o[0], "id", NULL), "chatcmpl-" MID) &&
		      !strcmp(str_at(o[0], "object", NULL), "chat.completion.chunk") &&
		      !strcmp(str_at(o[0], "model", NULL), "gpt-x") &&
		      !strcmp(str_at(o[0], "created", NULL), "1700000000"), "openai: the chunk's fields");
	json_object *c0 = n == 3 ? json_object_array_get_idx(json_object_object_get(o[0], "choices"), 0) : NULL;
	json_object *c1 = n == 3 ? json_object_array_get_idx(json_object_object_get(o[1], "choices"), 0) : NULL;
	json_object *c2 = n == 3 ? json_object_array_get_idx(json_object_object_get(o[2], "choices"), 0) : NULL;
	CHECK(c0 && !strcmp(str_at(c0, "delta", "role"), "assistant") &&
		      !strcmp(str_at(c0, "delta", "content"), "a"), "openai: the first delta has the role");
	CHECK(c1 && !str_at(c1, "delta", "role") && !strcmp(str_at(c1, "delta", "content"), "b"),
	      "openai: later ones do not");
	CHECK(c2 && !strcmp(str_at(c2, "finish_reason", NULL), "stop"), "openai: finish_reason stop");
	CHECK(strstr(sb.buf, "id: 8\ndata: ") != NULL && strstr(sb.buf, "data: [DONE]\n\n"),
	      "openai: ids, then [DONE]");
	free_all(o, n);
	sb_reset(&sb);
	stream_end(&w, &sb, SE_ERROR, -1, "timeout", 7, "slow", 4);
	n = data_lines(sb.buf, o, 8);
	CHECK(n == 1 && !strcmp(str_at(o[0], "error", "code"), "timeout") &&
		      !strcmp(str_at(o[0], "error", "message"), "slow"), "openai: an error object mid-stream");
	free_all(o, n);
	stream_writer_release(&w);

	stream_writer_init(&w, SF_OPENAI_JSON, MID, NULL, 1);
	sb_reset(&sb);
	stream_chunk(&w, &sb, 0, "x\\n", 3);
	stream_chunk(&w, &sb, 1, "y", 1);
	CHECK(sb.len == 0, "openai-json: nothing until the end");
	CHECK(stream_end(&w, &sb, SE_COMPLETE, 2, NULL, 0, NULL, 0) == 200, "openai-json: 200");
	json_object *whole = json_tokener_parse(sb.buf);
	json_object *ch = whole ? json_object_array_get_idx(json_object_object_get(whole, "choices"), 0) : NULL;
	CHECK(whole && !strcmp(str_at(whole, "object", NULL), "chat.completion") && ch &&
		      !strcmp(str_at(ch, "message", "content"), "x\ny") &&
		      !strcmp(str_at(whole, "model", NULL), "streamchat"),
	      "openai-json: one chat.completion with the whole text");
	json_object_put(whole);
	sb_reset(&sb);
	CHECK(stream_end(&w, &sb, SE_ERROR, -1, NULL, 0, NULL, 0) == 502, "openai-json: an error is 502");
	stream_writer_release(&w);
	sb_release(&sb);
}

static void test_from_history(void)
{
	struct stream_writer w;
	struct strbuf sb = STRBUF_INIT;
	json_object *o[8];
	stream_writer_init(&w, SF_SSE, MID, NULL, 0);
	CHECK(stream_from_history(&w, &sb, SE_CANCELLED, "all \\\"of\\\" it", 13) == 200,
	      "history: 200");
	CHECK(strstr(sb.buf, "id:") == NULL, "history: no id (its chunk boundaries are gone)");
	int n = data_lines(sb.buf, o, 8);
	CHECK(n == 2 && !strcmp(str_at(o[0], "content", NULL), "all \"of\" it") &&
		      json_object_get_boolean(json_object_object_get(o[0], "whole")),
	      "history: the whole text in one piece, marked whole");
	CHECK(n == 2 && !strcmp(str_at(o[1], "status", NULL), "cancelled"), "history: then its end");
	free_all(o, n);
	stream_writer_release(&w);
	stream_writer_init(&w, SF_OPENAI_JSON, MID, NULL, 0);
	sb_reset(&sb);
	stream_from_history(&w, &sb, SE_COMPLETE, "t", 1);
	json_object *whole = json_tokener_parse(sb.buf);
	json_object *ch = whole ? json_object_array_get_idx(json_object_object_get(whole, "choices"), 0) : NULL;
	CHECK(ch && !strcmp(str_at(ch, "message", "content"), "t"), "history: openai-json's whole object");
	json_object_put(whole);
	stream_writer_release(&w);
	sb_release(&sb);
}

/* The relay formats a chunk once for every stream of a shareable format:
 * a stream that joined late, or resumed, must get the very same bytes. */
static void test_shared_chunks(void)
{
	static const enum stream_format all[] = { SF_SSE, SF_UI, SF_OPENAI, SF_OPENAI_JSON };
	for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
		struct stream_writer early, late;
		struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
		stream_writer_init(&early, all[k], MID, "m", 1700000000);
		stream_writer_init(&late, all[k], MID, "m", 1700000000);
		stream_open(&early, &a);
		stream_chunk(&early, &a, 0, "one", 3);
		sb_reset(&a);
		stream_open(&late, &b);  /* a stream that begins at chunk 1 */
		sb_reset(&b);
		stream_chunk(&early, &a, 1, "t\\\"wo", 5);  /* t\"wo: a quote as it stands in JSON */
		stream_chunk(&late, &b, 1, "t\\\"wo", 5);
		/* openai-json writes no chunk events: its text goes into the end */
		int same = a.len && a.len == b.len && !memcmp(a.buf, b.buf, a.len);
		char what[160];
		snprintf(what, sizeof what, "%s: a chunk is shareable exactly when its bytes do not depend on the stream",
			 stream_format_name(all[k]));
		CHECK(same == stream_chunk_shareable(all[k]), what);
		/* reused, the count an end event reports is the same as formatted */
		struct stream_writer reuser;
		stream_writer_init(&reuser, all[k], MID, "m", 1700000000);
		stream_chunk_reused(&reuser);
		stream_chunk_reused(&reuser);
		sb_reset(&a);
		sb_reset(&b);
		stream_end(&early, &a, SE_COMPLETE, -1, NULL, 0, NULL, 0);
		stream_end(&reuser, &b, SE_COMPLETE, -1, NULL, 0, NULL, 0);
		if (stream_chunk_shareable(all[k])) {
			snprintf(what, sizeof what, "%s: a reused chunk counts as written", stream_format_name(all[k]));
			CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len), what);
		}
		stream_writer_release(&early);
		stream_writer_release(&late);
		stream_writer_release(&reuser);
		sb_release(&a);
		sb_release(&b);
	}
}

void test_stream_format(void)
{
	test_shared_chunks();
	test_from_history();
	enum stream_format f;
	CHECK(stream_format_parse("openai-json", &f) == 0 && f == SF_OPENAI_JSON, "format names");
	CHECK(stream_format_parse("SSE", &f) == -1 && stream_format_parse("", &f) == -1,
	      "unknown formats are refused");
	test_raw_string();
	test_sse_format();
	test_ui_format();
	test_openai_format();
}

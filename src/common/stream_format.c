/* The four output formats of a relay's HTTP stream (see stream_format.h and
 * doc/protocol.md, "Streams over HTTP"). Every event that carries a chunk
 * has `id: <index>`, so that a browser's EventSource, reconnecting by
 * itself, names the last chunk it holds in Last-Event-ID. */
#include <stdio.h>
#include <string.h>

#include "stream_format.h"

static const char *const names[] = { "sse", "ui", "openai", "openai-json" };

int stream_format_parse(const char *s, enum stream_format *out)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum stream_format)i;
			return 0;
		}
	return -1;
}

const char *stream_format_name(enum stream_format f) { return names[f]; }

int stream_format_is_whole(enum stream_format f) { return f == SF_OPENAI_JSON; }

const char *stream_format_content_type(enum stream_format f)
{
	return f == SF_OPENAI_JSON ? "application/json" : "text/event-stream";
}

void stream_writer_init(struct stream_writer *w, enum stream_format f, const char *mid,
			const char *model, long long created_s)
{
	memset(w, 0, sizeof *w);
	w->format = f;
	snprintf(w->mid, sizeof w->mid, "%s", mid);
	snprintf(w->model, sizeof w->model, "%s", model && *model ? model : "streamchat");
	w->created_s = created_s;
}

void stream_writer_release(struct stream_writer *w) { sb_release(&w->text); }

/* One SSE event of data (a JSON object); index >= 0 adds its id line. */
static void event_begin(struct strbuf *out, long index)
{
	if (index >= 0)
		sb_addf(out, "id: %ld\n", index);
	sb_adds(out, "data: ");
}

static void event_end(struct strbuf *out) { sb_adds(out, "\n\n"); }

static void done_event(struct strbuf *out) { sb_adds(out, "data: [DONE]\n\n"); }

/* The UI stream's text part is named after the message. */
static void ui_text_id(const struct stream_writer *w, struct strbuf *out)
{
	sb_adds(out, "\"id\":\"text-");
	sb_adds(out, w->mid);
	sb_addc(out, '"');
}

static void ui_part(const struct stream_writer *w, struct strbuf *out, const char *type)
{
	sb_addf(out, "data: {\"type\":\"%s\",", type);
	ui_text_id(w, out);
	sb_addc(out, '}');
	event_end(out);
}

void stream_open(struct stream_writer *w, struct strbuf *out)
{
	if (w->format != SF_UI)
		return;
	sb_adds(out, "data: {\"type\":\"start\",\"messageId\":");
	sb_add_json_str(out, w->mid, strlen(w->mid));
	sb_addc(out, '}');
	event_end(out);
	ui_part(w, out, "text-start");
}

/* The fields every OpenAI chunk object starts with. */
static void openai_head(const struct stream_writer *w, struct strbuf *out, const char *object)
{
	sb_adds(out, "{\"id\":\"chatcmpl-");
	sb_adds(out, w->mid);
	sb_addf(out, "\",\"object\":\"%s\",\"created\":%lld,\"model\":", object, w->created_s);
	sb_add_json_str(out, w->model, strlen(w->model));
}

/* A chat.completion.chunk up to inside its delta: the role goes in the
 * first one only (then sep, before whatever follows it in the delta). */
static void openai_delta_open(struct stream_writer *w, struct strbuf *out, const char *sep)
{
	openai_head(w, out, "chat.completion.chunk");
	sb_adds(out, ",\"choices\":[{\"index\":0,\"delta\":{");
	if (!w->role_sent) {
		sb_adds(out, "\"role\":\"assistant\"");
		sb_adds(out, sep);
	}
	w->role_sent = 1;
}

void stream_chunk(struct stream_writer *w, struct strbuf *out, long index, const char *content,
		  size_t len)
{
	w->chunks++;
	switch (w->format) {
	case SF_SSE:
		event_begin(out, index);
		sb_addf(out, "{\"index\":%ld,\"content\":\"", index);
		sb_add(out, content, len);
		sb_adds(out, "\"}");
		break;
	case SF_UI:
		event_begin(out, index);
		sb_adds(out, "{\"type\":\"text-delta\",");
		ui_text_id(w, out);
		sb_adds(out, ",\"delta\":\"");
		sb_add(out, content, len);
		sb_adds(out, "\"}");
		break;
	case SF_OPENAI:
		event_begin(out, index);
		openai_delta_open(w, out, ",");
		sb_adds(out, "\"content\":\"");
		sb_add(out, content, len);
		sb_adds(out, "\"},\"finish_reason\":null}]}");
		break;
	case SF_OPENAI_JSON:
		sb_add(&w->text, content, len);
		return;
	}
	event_end(out);
}

int stream_chunk_shareable(enum stream_format f) { return f == SF_SSE || f == SF_UI; }

/* what stream_chunk does to a writer of a shareable format */
void stream_chunk_reused(struct stream_writer *w) { w->chunks++; }

static const char *end_status(enum stream_end how)
{
	return how == SE_COMPLETE ? "complete" : how == SE_CANCELLED ? "cancelled" : "error";
}

#define DEFAULT_ERROR_MESSAGE "the reply ended with an error"

/* s (n bytes), or def when there is none. */
static void add_or(struct strbuf *out, const char *s, size_t n, const char *def)
{
	if (s)
		sb_add(out, s, n);
	else
		sb_adds(out, def);
}

/* {"code":C,"message":M} from raw string insides, with defaults. */
static void error_fields(struct strbuf *out, const char *code, size_t code_len,
			 const char *message, size_t message_len)
{
	sb_adds(out, "\"code\":\"");
	add_or(out, code, code_len, "error");
	sb_adds(out, "\",\"message\":\"");
	add_or(out, message, message_len, DEFAULT_ERROR_MESSAGE);
	sb_addc(out, '"');
}

static void sse_end(const struct stream_writer *w, struct strbuf *out, enum stream_end how,
		    long total, const char *code, size_t cl, const char *msg, size_t ml)
{
	sb_adds(out, "event: end\ndata: {\"message_id\":");
	sb_add_json_str(out, w->mid, strlen(w->mid));
	sb_addf(out, ",\"status\":\"%s\"", end_status(how));
	if (total >= 0)
		sb_addf(out, ",\"total_chunks\":%ld", total);
	if (how == SE_ERROR) {
		sb_adds(out, ",\"error\":{");
		error_fields(out, code, cl, msg, ml);
		sb_addc(out, '}');
	}
	sb_addc(out, '}');
	event_end(out);
}

static void ui_end(const struct stream_writer *w, struct strbuf *out, enum stream_end how,
		   const char *code, size_t cl, const char *msg, size_t ml)
{
	ui_part(w, out, "text-end");
	if (how == SE_COMPLETE)
		sb_adds(out, "data: {\"type\":\"finish\",\"finishReason\":\"stop\"}");
	else if (how == SE_CANCELLED)
		sb_adds(out, "data: {\"type\":\"abort\",\"reason\":\"cancelled\"}");
	else {
		sb_adds(out, "data: {\"type\":\"error\",\"errorText\":\"");
		add_or(out, code, cl, "error");
		sb_adds(out, ": ");
		add_or(out, msg, ml, DEFAULT_ERROR_MESSAGE);
		sb_adds(out, "\"}");
	}
	event_end(out);
	done_event(out);
}

static void openai_error(struct strbuf *out, const char *code, size_t cl, const char *msg,
			 size_t ml)
{
	sb_adds(out, "{\"error\":{\"type\":\"server_error\",");
	error_fields(out, code, cl, msg, ml);
	sb_adds(out, "}}");
}

/* A cancelled reply ends as "stop" too: OpenAI has no word for it, and its
 * text is what was written until the cancel. */
static void openai_end(struct stream_writer *w, struct strbuf *out, enum stream_end how,
		       const char *code, size_t cl, const char *msg, size_t ml)
{
	sb_adds(out, "data: ");
	if (how == SE_ERROR)
		openai_error(out, code, cl, msg, ml);
	else {
		openai_delta_open(w, out, "");
		sb_adds(out, "},\"finish_reason\":\"stop\"}]}");
	}
	event_end(out);
	done_event(out);
}

static int openai_whole(struct stream_writer *w, struct strbuf *out, enum stream_end how,
			const char *code, size_t cl, const char *msg, size_t ml)
{
	if (how == SE_ERROR) {
		openai_error(out, code, cl, msg, ml);
		return 502;
	}
	openai_head(w, out, "chat.completion");
	sb_adds(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
	if (w->text.len)
		sb_add(out, w->text.buf, w->text.len);
	sb_addf(out, "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":0,"
		"\"completion_tokens\":%ld,\"total_tokens\":%ld}}", w->chunks, w->chunks);
	return 200;
}

int stream_end(struct stream_writer *w, struct strbuf *out, enum stream_end how, long total,
	       const char *code, size_t code_len, const char *message, size_t message_len)
{
	switch (w->format) {
	case SF_SSE:
		sse_end(w, out, how, total, code, code_len, message, message_len);
		break;
	case SF_UI:
		ui_end(w, out, how, code, code_len, message, message_len);
		break;
	case SF_OPENAI:
		openai_end(w, out, how, code, code_len, message, message_len);
		break;
	case SF_OPENAI_JSON:
		return openai_whole(w, out, how, code, code_len, message, message_len);
	}
	return 200;
}

void stream_ping(const struct stream_writer *w, struct strbuf *out)
{
	if (w->format != SF_OPENAI_JSON)
		sb_adds(out, ": ping\n\n");
}

int stream_from_history(struct stream_writer *w, struct strbuf *out, enum stream_end how,
			const char *text, size_t len)
{
	switch (w->format) {
	case SF_SSE:
		sb_adds(out, "data: {\"content\":\"");
		sb_add(out, text, len);
		sb_adds(out, "\",\"whole\":true}");
		event_end(out);
		break;
	case SF_UI:
	case SF_OPENAI:
		stream_chunk(w, out, -1, text, len);
		w->chunks = 0;  /* not a chunk count any more */
		break;
	case SF_OPENAI_JSON:
		sb_add(&w->text, text, len);
		break;
	}
	return stream_end(w, out, how, -1, NULL, 0, NULL, 0);
}

#include "front_request.h"

#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

static int one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return 1;
	return 0;
}

/* The new message, checked as POST /api/chat checks its message. */
static int take_message(struct strbuf *text, size_t max_message, struct chat_request *out,
			struct api_error *err)
{
	if (text->len > max_message)
		return api_fail(err, 413, "too_large", "message is longer than %zu bytes", max_message);
	size_t blank = 0;
	while (blank < text->len && strchr(" \t\r\n", text->buf[blank]))
		blank++;
	if (blank == text->len)
		return api_fail(err, 400, "invalid_request", "the last user message has no text");
	out->message = xstrndup(text->buf, text->len);
	out->message_len = text->len;
	return 0;
}

/* Appends one text part's text, the parts apart by a newline. The sum is
 * bounded by the body's size, itself bounded by MAX_BODY_BYTES. */
static int add_text(struct strbuf *text, json_object *holder, const char *key, const char *what,
		    struct api_error *err)
{
	const char *s;
	size_t n;
	if (json_get_string(holder, key, 1, &s, &n, err))
		return api_fail(err, 400, "invalid_request", "%s: text must be a string", what);
	if (text->len)
		sb_addc(text, '\n');
	sb_add(text, s, n);
	return 0;
}

static int get_model(json_object *obj, struct chat_request *out, struct api_error *err)
{
	const char *model;
	size_t n;
	if (json_get_string(obj, "model", 0, &model, &n, err))
		return -1;
	if (!model)
		return 0;
	if (!valid_model(model, n))
		return api_fail(err, 400, "invalid_request",
				"model must be 1-%d characters of [A-Za-z0-9._:/-]", MODEL_MAX);
	memcpy(out->model, model, n + 1);
	return 0;
}

/* The messages array: a non-empty array of objects, each with a role
 * from roles; returns the last one, or NULL with err filled. */
static json_object *last_message(json_object *obj, const char *const *roles, const char *role_list,
				 struct api_error *err)
{
	json_object *msgs;
	if (!json_object_object_get_ex(obj, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) == 0) {
		api_fail(err, 400, "invalid_request", "messages must be a non-empty array");
		return NULL;
	}
	size_t n = json_object_array_length(msgs);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(msgs, i), *role;
		if (!json_object_is_type(m, json_type_object)) {
			api_fail(err, 400, "invalid_request", "messages[%zu] must be an object", i);
			return NULL;
		}
		if (!json_object_object_get_ex(m, "role", &role) ||
		    !json_object_is_type(role, json_type_string) ||
		    !one_of(json_object_get_string(role), roles)) {
			api_fail(err, 400, "invalid_request", "messages[%zu].role must be one of %s", i,
				 role_list);
			return NULL;
		}
	}
	json_object *last = json_object_array_get_idx(msgs, n - 1), *role;
	json_object_object_get_ex(last, "role", &role);
	if (strcmp(json_object_get_string(role), "user") != 0) {
		api_fail(err, 400, "invalid_request", "the last message must be the user's (role user)");
		return NULL;
	}
	return last;
}

/* UIMessage parts: objects with a type; the text of the text parts. */
static int ui_parts_text(json_object *msg, struct strbuf *text, struct api_error *err)
{
	json_object *parts;
	if (!json_object_object_get_ex(msg, "parts", &parts) ||
	    !json_object_is_type(parts, json_type_array))
		return api_fail(err, 400, "invalid_request", "the last message's parts must be an array");
	for (size_t i = 0; i < json_object_array_length(parts); i++) {
		json_object *p = json_object_array_get_idx(parts, i), *type;
		if (!json_object_is_type(p, json_type_object) ||
		    !json_object_object_get_ex(p, "type", &type) ||
		    !json_object_is_type(type, json_type_string))
			return api_fail(err, 400, "invalid_request",
					"parts[%zu] must be an object with a type", i);
		if (!strcmp(json_object_get_string(type), "text") &&
		    add_text(text, p, "text", "a text part", err))
			return -1;
	}
	return 0;
}

/* How one front reads a message's text into text. */
typedef int text_of_fn(json_object *msg, struct strbuf *text, struct api_error *err);

/* The messages' last one (see last_message), its text read by text_of,
 * taken as the new message. */
static int take_last_message(json_object *obj, const char *const *roles, const char *role_list,
			     text_of_fn *text_of, size_t max_message, struct chat_request *out,
			     struct api_error *err)
{
	struct strbuf text = STRBUF_INIT;
	json_object *last = last_message(obj, roles, role_list, err);
	int rc = !last || text_of(last, &text, err) || take_message(&text, max_message, out, err) ? -1 : 0;
	sb_release(&text);
	return rc;
}

int parse_ui_chat_request(const char *body, size_t len, size_t max_message,
			  struct chat_request *out, struct api_error *err)
{
	static const char *const roles[] = { "system", "user", "assistant", NULL };
	static const char *const triggers[] = { "submit-message", "regenerate-message", NULL };
	memset(out, 0, sizeof *out);
	json_object *obj = parse_object(body, len, err);
	if (!obj)
		return -1;
	const char *trigger, *mid;
	size_t tl, ml;
	int rc = -1;
	if (json_get_id(obj, "id", 1, out->session_id, err) ||
	    json_get_id(obj, "user_id", 0, out->user_id, err) || get_model(obj, out, err) ||
	    json_get_string(obj, "trigger", 0, &trigger, &tl, err) ||
	    json_get_string(obj, "messageId", 0, &mid, &ml, err))
		goto done;
	if (trigger && !one_of(trigger, triggers)) {
		api_fail(err, 400, "invalid_request", "trigger must be submit-message or regenerate-message");
		goto done;
	}
	rc = take_last_message(obj, roles, "system, user, assistant", ui_parts_text, max_message, out,
			       err);
done:
	json_object_put(obj);
	return rc;
}

/* OpenAI's content: a string, or an array of parts of which only text
 * ones can be answered here. */
static int openai_content_text(json_object *msg, struct strbuf *text, struct api_error *err)
{
	json_object *content;
	if (!json_object_object_get_ex(msg, "content", &content))
		return api_fail(err, 400, "invalid_request", "the last message has no content");
	if (json_object_is_type(content, json_type_string))
		return add_text(text, msg, "content", "content", err);
	if (!json_object_is_type(content, json_type_array))
		return api_fail(err, 400, "invalid_request",
				"content must be a string or an array of text parts");
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *p = json_object_array_get_idx(content, i), *type;
		if (!json_object_is_type(p, json_type_object) ||
		    !json_object_object_get_ex(p, "type", &type) ||
		    !json_object_is_type(type, json_type_string) ||
		    strcmp(json_object_get_string(type), "text") != 0)
			return api_fail(err, 400, "invalid_request",
					"content[%zu]: only text parts are supported", i);
		if (add_text(text, p, "text", "a text part", err))
			return -1;
	}
	return 0;
}

int parse_openai_chat_request(const char *body, size_t len, size_t max_message,
			      struct openai_chat_request *out, struct api_error *err)
{
	static const char *const roles[] = { "system", "developer", "user", "assistant", "tool",
					     "function", NULL };
	memset(out, 0, sizeof *out);
	json_object *obj = parse_object(body, len, err);
	if (!obj)
		return -1;
	json_object *stream;
	int rc = -1;
	if (json_get_id(obj, "session_id", 0, out->chat.session_id, err) ||
	    get_model(obj, &out->chat, err))
		goto done;
	if (json_get_id(obj, "user", 0, out->user, err)) {
		api_fail(err, 400, "invalid_request", "user must be 1-%d characters of [A-Za-z0-9_.:-]",
			 ID_MAX);
		goto done;
	}
	if (json_object_object_get_ex(obj, "stream", &stream) &&
	    !json_object_is_type(stream, json_type_null)) {
		if (!json_object_is_type(stream, json_type_boolean)) {
			api_fail(err, 400, "invalid_request", "stream must be a boolean");
			goto done;
		}
		out->stream = json_object_get_boolean(stream);
	}
	rc = take_last_message(obj, roles, "system, developer, user, assistant, tool, function",
			       openai_content_text, max_message, &out->chat, err);
done:
	json_object_put(obj);
	return rc;
}

#include "openai.h"

#include <json.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

static void message(struct strbuf *out, const char *role, const char *content, size_t len)
{
	sb_adds(out, "{\"role\":");
	sb_add_json_str(out, role, strlen(role));
	sb_adds(out, ",\"content\":");
	sb_add_json_str(out, content, len);
	sb_addc(out, '}');
}

void openai_request_body(struct strbuf *out, const char *model, const char *system,
			 long max_tokens, const char *const *items, const size_t *lens, size_t n)
{
	int first = 1;
	sb_adds(out, "{\"model\":");
	sb_add_json_str(out, model, strlen(model));
	sb_addf(out, ",\"stream\":true,\"max_tokens\":%ld,\"messages\":[", max_tokens);
	if (system && system[0]) {
		message(out, "system", system, strlen(system));
		first = 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_tokener *tk = json_tokener_new();
		json_object *o = tk ? json_tokener_parse_ex(tk, items[i], (int)lens[i]) : NULL, *r, *c;
		json_tokener_free(tk);
		if (o && json_object_object_get_ex(o, "role", &r) &&
		    json_object_object_get_ex(o, "content", &c) && json_object_is_type(c, json_type_string) &&
		    json_object_get_string_len(c) > 0) {
			const char *role = json_object_get_string(r);
			if (!strcmp(role, "user") || !strcmp(role, "assistant")) {
				if (!first)
					sb_addc(out, ',');
				message(out, role, json_object_get_string(c),
					(size_t)json_object_get_string_len(c));
				first = 0;
			}
		}
		json_object_put(o);
	}
	sb_adds(out, "]}");
}

enum oa_event openai_event(const char *data, size_t len, struct strbuf *tok, char *err,
			   size_t errlen)
{
	while (len && (data[len - 1] == ' ' || data[len - 1] == '\n'))
		len--;
	if (len == 6 && !memcmp(data, "[DONE]", 6))
		return OA_DONE;
	json_tokener *tk = json_tokener_new();
	json_object *o = tk ? json_tokener_parse_ex(tk, data, (int)len) : NULL, *e, *v;
	json_tokener_free(tk);
	enum oa_event ev = OA_IGNORE;
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the server sent an event that is not a JSON object");
		ev = OA_ERROR;
	} else if (json_object_object_get_ex(o, "error", &e)) {
		json_object *m = json_object_object_get_ex(e, "message", &v) ? v : e;
		const char *text = json_object_get_string(m);
		/* it goes into a frame and the log: whole characters, no newlines */
		if (text)
			utf8_sanitize(err, errlen, text, json_object_is_type(m, json_type_string)
							 ? (size_t)json_object_get_string_len(m) : strlen(text));
		else
			snprintf(err, errlen, "error");
		ev = OA_ERROR;
	} else if (json_object_object_get_ex(o, "choices", &v) && json_object_is_type(v, json_type_array) &&
		   json_object_array_length(v) > 0) {
		json_object *ch = json_object_array_get_idx(v, 0), *d, *c;
		if (json_object_object_get_ex(ch, "delta", &d) && json_object_object_get_ex(d, "content", &c) &&
		    json_object_is_type(c, json_type_string)) {
			/* as sent, even invalid UTF-8: the caller repairs it, since a
			 * character may be cut between two events */
			sb_add(tok, json_object_get_string(c), (size_t)json_object_get_string_len(c));
			ev = OA_TOKEN;
		}
	}
	json_object_put(o);
	return ev;
}

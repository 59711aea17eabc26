#include "frame.h"

#include <string.h>

void frame_welcome(struct strbuf *sb, const char *sid, const char *node)
{
	sb_adds(sb, "{\"type\":\"welcome\",\"sessionId\":");
	sb_add_json_str(sb, sid, strlen(sid));
	sb_adds(sb, ",\"nodeId\":");
	sb_add_json_str(sb, node, strlen(node));
	sb_addc(sb, '}');
}

/* Ids are validated before they reach a frame, so they need no escaping. */
void frame_chunk(struct strbuf *sb, const char *sid, const char *mid, long index,
		 const char *content, size_t len, int64_t ts_ms)
{
	/* once per token in the workers: no printf */
	sb_adds(sb, "{\"type\":\"chunk\",\"sessionId\":\"");
	sb_adds(sb, sid);
	sb_adds(sb, "\",\"messageId\":\"");
	sb_adds(sb, mid);
	sb_adds(sb, "\",\"index\":");
	sb_add_int(sb, index);
	sb_adds(sb, ",\"content\":");
	sb_add_json_str(sb, content, len);
	if (ts_ms > 0) {
		sb_adds(sb, ",\"ts\":");
		sb_add_int(sb, ts_ms);
	}
	sb_addc(sb, '}');
}

void frame_end(struct strbuf *sb, const char *type, const char *sid, const char *mid, long total)
{
	sb_addf(sb, "{\"type\":\"%s\",\"sessionId\":\"%s\",\"messageId\":\"%s\",\"totalChunks\":%ld}",
		type, sid, mid, total);
}

void frame_error(struct strbuf *sb, const char *sid, const char *mid, const char *code,
		 const char *message)
{
	sb_adds(sb, "{\"type\":\"error\",\"sessionId\":");
	sb_add_json_str(sb, sid ? sid : "", sid ? strlen(sid) : 0);
	sb_adds(sb, ",\"messageId\":");
	sb_add_json_str(sb, mid ? mid : "", mid ? strlen(mid) : 0);
	sb_adds(sb, ",\"code\":");
	sb_add_json_str(sb, code, strlen(code));
	sb_adds(sb, ",\"message\":");
	sb_add_json_str(sb, message, strlen(message));
	sb_addc(sb, '}');
}

void frame_recovery_status(struct strbuf *sb, const char *mid, const char *status, long recovered)
{
	sb_adds(sb, "{\"type\":\"recovery_status\",\"messageId\":");
	sb_add_json_str(sb, mid, strlen(mid));
	sb_addf(sb, ",\"status\":\"%s\",\"chunksRecovered\":%ld}", status, recovered);
}

void frame_auth_ok(struct strbuf *sb, int64_t valid_until_s)
{
	sb_addf(sb, "{\"type\":\"auth_ok\",\"validUntil\":%lld}", (long long)valid_until_s);
}

void frame_pong(struct strbuf *sb)
{
	sb_adds(sb, "{\"type\":\"pong\"}");
}

void frame_heartbeat_ack(struct strbuf *sb)
{
	sb_adds(sb, "{\"type\":\"heartbeat_ack\"}");
}

void history_item(struct strbuf *sb, const char *mid, const char *role, const char *content,
		  size_t len, const char *status, int64_t created_at)
{
	sb_addf(sb, "{\"message_id\":\"%s\",\"role\":\"%s\",\"content\":", mid, role);
	sb_add_json_str(sb, content, len);
	sb_addf(sb, ",\"status\":\"%s\",\"created_at\":%lld}", status, (long long)created_at);
}

void history_items(struct strbuf *sb, const char *const *items, const size_t *lens,
		   size_t nitems, const struct inprogress *ip, int camel)
{
	sb_addc(sb, '[');
	for (size_t i = 0; i < nitems; i++) {
		if (i)
			sb_addc(sb, ',');
		sb_add(sb, items[i], lens[i]);
	}
	if (ip) {
		if (nitems)
			sb_addc(sb, ',');
		sb_addf(sb, "{\"message_id\":\"%s\",\"role\":\"assistant\",\"content\":\"",
			ip->message_id);
		/* the chunks joined, escaped as one string */
		for (long i = 0; i < ip->nchunks; i++)
			sb_add_json_chars(sb, ip->chunks[i], ip->chunk_lens[i]);
		sb_addf(sb, "\",\"status\":\"%s\",\"created_at\":%ld,\"%s\":%ld}", ip->status,
			ip->created_at, camel ? "lastChunkIndex" : "last_chunk_index",
			ip->nchunks - 1);
	}
	sb_addc(sb, ']');
}

void frame_history(struct strbuf *sb, const char *sid, const char *items_json, size_t len)
{
	sb_addf(sb, "{\"type\":\"history\",\"sessionId\":\"%s\",\"messages\":", sid);
	sb_add(sb, items_json, len);
	sb_addc(sb, '}');
}

static const struct {
	const char *name;
	enum frame_type type;
} type_names[] = {
	{ "welcome", FT_WELCOME }, { "history", FT_HISTORY }, { "chunk", FT_CHUNK },
	{ "complete", FT_COMPLETE }, { "cancelled", FT_CANCELLED }, { "error", FT_ERROR },
	{ "recovery_status", FT_RECOVERY_STATUS }, { "pong", FT_PONG },
	{ "heartbeat_ack", FT_HEARTBEAT_ACK }, { "reconnect", FT_RECONNECT },
	{ "heartbeat", FT_HEARTBEAT }, { "ping", FT_PING }, { "auth", FT_AUTH },
	{ "auth_ok", FT_AUTH_OK },
};

enum frame_type frame_type_of(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (strlen(type_names[i].name) == n && memcmp(type_names[i].name, s, n) == 0)
			return type_names[i].type;
	return FT_UNKNOWN;
}

/* A small JSON scanner: enough to validate structure and find top-level
 * values, with no allocation. */
struct scan {
	const char *p, *end;
	int depth;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* On success raw and rawlen give the string's content between the quotes and
 * *escaped tells whether it holds backslash escapes. */
static int scan_string(struct scan *s, const char **raw, size_t *rawlen, int *escaped)
{
	if (s->p >= s->end || *s->p != '"')
		return -1;
	const char *start = ++s->p;
	*escaped = 0;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			*raw = start;
			*rawlen = (size_t)(s->p - start);
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			*escaped = 1;
			if (++s->p >= s->end)
				return -1;
			c = (unsigned char)*s->p;
			if (c == 'u') {
				if (s->end - s->p < 5)
					return -1;
				for (int i = 1; i <= 4; i++) {
					char h = s->p[i];
					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
					      (h >= 'A' && h <= 'F')))
						return -1;
				}
				s->p += 4;
			} else if (!strchr("\"\\/bfnrt", c))
				return -1;
		}
		s->p++;
	}
	return -1;
}

static int scan_number(struct scan *s, long *out, int *is_int)
{
	int neg = 0, digits = 0;
	long v = 0;
	*is_int = 1;
	if (s->p < s->end && *s->p == '-') {
		neg = 1;
		s->p++;
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		if (v < 100000000000000L)
			v = v * 10 + (*s->p - '0');
		else
			*is_int = 0;
		digits++;
		s->p++;
	}
	if (!digits)
		return -1;
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) {
		*is_int = 0;
		s->p++;
		while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '.' ||
					 *s->p == 'e' || *s->p == 'E' || *s->p == '+' || *s->p == '-'))
			s->p++;
	}
	*out = neg ? -v : v;
	return 0;
}

/* Reads a member's "key": and the blanks after it, up to its value. */
static int scan_key(struct scan *s, const char **k, size_t *kl, int *kesc)
{
	ws(s);
	if (scan_string(s, k, kl, kesc))
		return -1;
	ws(s);
	if (s->p >= s->end || *s->p != ':')
		return -1;
	s->p++;
	ws(s);
	return s->p < s->end ? 0 : -1;
}

static int scan_value(struct scan *s);

static int scan_container(struct scan *s, char close)
{
	if (++s->depth > 32)
		return -1;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		const char *k;
		size_t kl;
		int kesc;
		if (close == '}' && scan_key(s, &k, &kl, &kesc))
			return -1;
		if (scan_value(s))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		return -1;
	}
}

static int scan_literal(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int scan_value(struct scan *s)
{
	ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{': return scan_container(s, '}');
	case '[': return scan_container(s, ']');
	case '"': {
		const char *r;
		size_t rl;
		int esc;
		return scan_string(s, &r, &rl, &esc);
	}
	case 't': return scan_literal(s, "true");
	case 'f': return scan_literal(s, "false");
	case 'n': return scan_literal(s, "null");
	default: {
		long v;
		int is_int;
		return scan_number(s, &v, &is_int);
	}
	}
}

/* What a walk does with one member: scans past its value (s->p is on it)
 * and returns 0 to go on, 1 to stop the walk there, -1 on bad JSON. */
typedef int member_fn(struct scan *s, const char *k, size_t kl, int kesc, void *ctx);

/* Walks the members of the object at s->p, the outermost value: 0 past its
 * '}', 1 where member stopped, -1 on bad JSON. */
static int walk_object(struct scan *s, member_fn *member, void *ctx)
{
	ws(s);
	if (s->p >= s->end || *s->p != '{')
		return -1;
	s->p++;
	s->depth = 1;
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		const char *k;
		size_t kl;
		int kesc, rc;
		if (scan_key(s, &k, &kl, &kesc))
			return -1;
		if ((rc = member(s, k, kl, kesc, ctx)))
			return rc;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int peek_member(struct scan *s, const char *k, size_t kl, int kesc, void *ctx)
{
	struct frame_info *fi = ctx;
	if (*s->p == '"' && !kesc && ((kl == 4 && !memcmp(k, "type", 4)) ||
				      (kl == 9 && !memcmp(k, "messageId", 9)) ||
				      (kl == 5 && !memcmp(k, "token", 5)))) {
		const char *v;
		size_t vl;
		int vesc;
		if (scan_string(s, &v, &vl, &vesc))
			return -1;
		if (!vesc && kl == 4)
			fi->type = frame_type_of(v, vl);
		else if (!vesc && kl == 5) {
			fi->token = v;
			fi->token_len = vl;
		} else if (!vesc) {
			fi->message_id = v;
			fi->message_id_len = vl;
		}
	} else if ((*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && !kesc &&
		   ((kl == 5 && !memcmp(k, "index", 5)) ||
		    (kl == 11 && !memcmp(k, "totalChunks", 11)) ||
		    (kl == 14 && !memcmp(k, "lastChunkIndex", 14)) ||
		    (kl == 2 && !memcmp(k, "ts", 2)))) {
		long v;
		int is_int;
		if (scan_number(s, &v, &is_int))
			return -1;
		if (is_int && kl == 2) {
			if (v > 0)
				fi->ts = v;
		} else if (is_int && v >= -1) {
			if (kl == 5)
				fi->index = v;
			else if (kl == 11)
				fi->total = v;
			else
				fi->last_chunk_index = v;
		}
	} else if (scan_value(s))
		return -1;
	return 0;
}

int frame_peek(const char *buf, size_t len, struct frame_info *fi)
{
	struct scan s = { buf, buf + len, 0 };
	memset(fi, 0, sizeof *fi);
	fi->type = FT_UNKNOWN;
	fi->index = -2;
	fi->total = -1;
	fi->last_chunk_index = -2;
	if (walk_object(&s, peek_member, fi))
		return -1;
	ws(&s);
	return s.p == s.end ? 0 : -1;
}

struct raw_string {
	const char *key;
	size_t keylen;
	const char **v;
	size_t *vl;
};

static int raw_string_member(struct scan *s, const char *k, size_t kl, int kesc, void *ctx)
{
	struct raw_string *rs = ctx;
	int vesc;
	if (*s->p == '"' && !kesc && kl == rs->keylen && !memcmp(k, rs->key, kl))
		return scan_string(s, rs->v, rs->vl, &vesc) ? -1 : 1;
	return scan_value(s) ? -1 : 0;
}

/* The first top-level member named key with a string value, read up to
 * its end: the rest of the buffer is not looked at. */
int frame_raw_string(const char *buf, size_t len, const char *key, const char **v, size_t *vl)
{
	struct scan s = { buf, buf + len, 0 };
	struct raw_string rs = { key, strlen(key), v, vl };
	return walk_object(&s, raw_string_member, &rs) == 1 ? 0 : -1;
}

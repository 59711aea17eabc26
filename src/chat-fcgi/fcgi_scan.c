#include "fcgi_scan.h"

#include <string.h>

#include "fcgi_params.h"
#include "util.h"

enum {
	FCGI_VERSION_1 = 1, HEADER_LEN = 8,
	BEGIN_REQUEST = 1, PARAMS = 4, STDIN = 5, ROLE_RESPONDER = 1,
};

enum phase { AT_BEGIN, IN_PARAMS, IN_STDIN, SCANNED };

struct record {
	unsigned type, id;
	size_t clen, len;          /* content, and the whole record with header and padding */
	const unsigned char *content;
};

size_t fcgi_request_max(size_t max_body)
{
	size_t content = FCGI_PARAMS_MAX + max_body;
	return content + content / 64 + 4096;
}

void fcgi_scan_init(struct fcgi_scan *s, size_t max_body)
{
	memset(s, 0, sizeof *s);
	s->max_body = max_body;
	s->max_bytes = fcgi_request_max(max_body);
}

void fcgi_scan_release(struct fcgi_scan *s)
{
	sb_release(&s->params);
}

static enum fcgi_scan_result refuse(struct fcgi_scan *s, const char *why)
{
	s->why = why;
	sb_release(&s->params);
	return FCGI_SCAN_REFUSED;
}

/* A record that may come next, judged on its header alone, so that what it
 * announces is refused before its content is waited for. */
static const char *out_of_turn(const struct fcgi_scan *s, const struct record *r)
{
	switch (s->phase) {
	case AT_BEGIN:
		return r->type != BEGIN_REQUEST || r->id == 0 || r->clen != 8
		       ? "not a FastCGI request (no BEGIN_REQUEST first)" : NULL;
	case IN_PARAMS:
		if (r->type != PARAMS || r->id != s->id)
			return "a record out of turn among the params";
		return s->params.len + r->clen > FCGI_PARAMS_MAX ? "params longer than 64 KB" : NULL;
	default:
		if (r->type != STDIN || r->id != s->id)
			return "a record out of turn in the body";
		return s->body_len + r->clen > s->max_body ? "a body longer than MAX_BODY_BYTES" : NULL;
	}
}

/* The params are whole: they must parse, and CONTENT_LENGTH says whether
 * the body is part of what must arrive before libfcgi reads. */
static const char *end_params(struct fcgi_scan *s)
{
	struct fcgi_params p;
	if (fcgi_params_parse((const unsigned char *)s->params.buf, s->params.len, &p))
		return "malformed params";
	const char *clen = fcgi_params_get(&p, "CONTENT_LENGTH");
	long n = 0;
	if (clen && *clen && parse_long(clen, 0, 1L << 40, &n))
		n = -1;
	fcgi_params_release(&p);
	sb_release(&s->params);
	s->content_length = n;
	s->body_included = n >= 0 && (size_t)n <= s->max_body;
	s->phase = s->body_included ? IN_STDIN : SCANNED;
	return NULL;
}

/* Takes one whole record. */
static const char *take(struct fcgi_scan *s, const struct record *r)
{
	switch (s->phase) {
	case AT_BEGIN:
		if (((unsigned)r->content[0] << 8 | r->content[1]) != ROLE_RESPONDER)
			return "a FastCGI role other than responder";
		s->id = r->id;
		s->phase = IN_PARAMS;
		return NULL;
	case IN_PARAMS:
		if (r->clen == 0)
			return end_params(s);
		sb_add(&s->params, r->content, r->clen);
		return NULL;
	default:
		if (r->clen == 0)
			s->phase = SCANNED;
		s->body_len += r->clen;
		return NULL;
	}
}

enum fcgi_scan_result fcgi_scan(struct fcgi_scan *s, const unsigned char *in, size_t have,
				size_t *need)
{
	while (s->phase != SCANNED) {
		if (have - s->pos < HEADER_LEN) {
			*need = s->pos + HEADER_LEN;
			return FCGI_SCAN_MORE;
		}
		const unsigned char *h = in + s->pos;
		if (h[0] != FCGI_VERSION_1)
			return refuse(s, "not FastCGI version 1");
		struct record r = { h[1], (unsigned)h[2] << 8 | h[3], (size_t)h[4] << 8 | h[5], 0,
				    h + HEADER_LEN };
		r.len = HEADER_LEN + r.clen + h[6];
		const char *why = out_of_turn(s, &r);
		if (!why && r.len > s->max_bytes - s->pos)
			why = "a request longer than its params and MAX_BODY_BYTES allow";
		if (why)
			return refuse(s, why);
		if (have - s->pos < r.len) {
			*need = s->pos + r.len;
			return FCGI_SCAN_MORE;
		}
		if ((why = take(s, &r)))
			return refuse(s, why);
		s->pos += r.len;
	}
	return FCGI_SCAN_WHOLE;
}

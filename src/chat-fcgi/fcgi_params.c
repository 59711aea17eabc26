#include "fcgi_params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* A length of one byte (below 128) or of four with the top bit set. */
static int read_length(const unsigned char *in, size_t len, size_t *pos, size_t *out)
{
	if (*pos >= len)
		return -1;
	if (in[*pos] < 0x80) {
		*out = in[(*pos)++];
		return 0;
	}
	if (len - *pos < 4)
		return -1;
	const unsigned char *b = in + *pos;
	*out = ((size_t)(b[0] & 0x7f) << 24) | ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | b[3];
	*pos += 4;
	return 0;
}

/* One pair at *pos: where its name and value lie in the input. The lengths
 * are checked against what is left before anything else is done with them. */
static int next_pair(const unsigned char *in, size_t len, size_t *pos, size_t *name_at,
		     size_t *name_len, size_t *value_at, size_t *value_len)
{
	if (read_length(in, len, pos, name_len) || read_length(in, len, pos, value_len))
		return -1;
	size_t left = len - *pos;
	if (*name_len > left || *value_len > left - *name_len)
		return -1;
	*name_at = *pos;
	*value_at = *pos + *name_len;
	*pos = *value_at + *value_len;
	if (memchr(in + *name_at, 0, *name_len) || memchr(in + *value_at, 0, *value_len))
		return -1;
	return 0;
}

int fcgi_params_parse(const unsigned char *in, size_t len, struct fcgi_params *out)
{
	memset(out, 0, sizeof *out);
	size_t count = 0, pos = 0, na, nl, va, vl;
	while (pos < len) {
		if (next_pair(in, len, &pos, &na, &nl, &va, &vl))
			return -1;
		count++;
	}
	/* each pair's two NULs take no more room than its two length bytes did */
	out->strings = xmalloc(len + 1);
	out->pairs = xcalloc(count + 1, sizeof *out->pairs);
	char *w = out->strings;
	pos = 0;
	for (size_t i = 0; i < count; i++) {
		next_pair(in, len, &pos, &na, &nl, &va, &vl);
		out->pairs[i].name = w;
		memcpy(w, in + na, nl);
		w += nl;
		*w++ = '\0';
		out->pairs[i].value = w;
		memcpy(w, in + va, vl);
		w += vl;
		*w++ = '\0';
	}
	out->count = count;
	return 0;
}

const char *fcgi_params_get(const struct fcgi_params *p, const char *name)
{
	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->pairs[i].name, name) == 0)
			return p->pairs[i].value;
	return NULL;
}

void fcgi_params_release(struct fcgi_params *p)
{
	free(p->strings);
	free(p->pairs);
	memset(p, 0, sizeof *p);
}

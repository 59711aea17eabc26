/* The name-value pairs of a FastCGI PARAMS stream, with no I/O: the stream's
 * bytes must all have arrived, so that no length a peer announces is ever
 * allocated or trusted before the bytes it counts are there. */
#ifndef SC_FCGI_PARAMS_H
#define SC_FCGI_PARAMS_H

#include <stddef.h>

struct fcgi_param {
	const char *name;
	const char *value;
};

struct fcgi_params {
	char *strings;              /* every name and value, each NUL-terminated */
	struct fcgi_param *pairs;
	size_t count;
};

/* Parses the whole stream in[0..len). Returns 0, or -1 (nothing allocated)
 * when a length runs past the end or a name or value holds a NUL. */
int fcgi_params_parse(const unsigned char *in, size_t len, struct fcgi_params *out);
/* The value of the first pair named name, or NULL. */
const char *fcgi_params_get(const struct fcgi_params *p, const char *name);
void fcgi_params_release(struct fcgi_params *p);

#endif

/* The records of one FastCGI request, checked before libfcgi reads any of
 * them. No I/O: fed the bytes that have arrived so far (always from the
 * request's first byte, more each time), it says how many it needs to go on,
 * that the request is whole, or why it is refused.
 *
 * A request is a BEGIN_REQUEST record for the responder role, its PARAMS
 * records up to the empty one, then, when the body will be read, its STDIN
 * records up to the empty one: all with the BEGIN's request id, in that
 * order, nothing else (no management records, no multiplexing). The params
 * must parse (fcgi_params.h) and hold at most FCGI_PARAMS_MAX bytes, the
 * body at most max_body, the whole request at most fcgi_request_max bytes:
 * so nothing libfcgi allocates for a peer is larger than that. */
#ifndef SC_FCGI_SCAN_H
#define SC_FCGI_SCAN_H

#include <stddef.h>

#include "strbuf.h"

#define FCGI_PARAMS_MAX 65536     /* nginx sends far less: headers are limited to ~32 KB */

enum fcgi_scan_result { FCGI_SCAN_MORE, FCGI_SCAN_WHOLE, FCGI_SCAN_REFUSED };

struct fcgi_scan {
	size_t max_body, max_bytes;
	size_t pos;                /* bytes of the records scanned so far */
	int phase;
	unsigned id;
	size_t body_len;           /* STDIN content so far */
	struct strbuf params;      /* the PARAMS content so far */
	/* once whole: */
	long content_length;       /* CONTENT_LENGTH, 0 if absent, -1 if not a length */
	int body_included;         /* the STDIN records are part of it (else the body will not
				    * be read: CONTENT_LENGTH is bad or over max_body) */
	const char *why;           /* once refused */
};

/* The largest request with a body of max_body bytes, record headers and
 * padding included (nginx sends a few records: 8 to 15 bytes each). */
size_t fcgi_request_max(size_t max_body);

void fcgi_scan_init(struct fcgi_scan *s, size_t max_body);
/* Scans on through in[0..have); with FCGI_SCAN_MORE, *need is the number of
 * bytes (from the first) it must have to go on. */
enum fcgi_scan_result fcgi_scan(struct fcgi_scan *s, const unsigned char *in, size_t have,
				size_t *need);
void fcgi_scan_release(struct fcgi_scan *s);

#endif

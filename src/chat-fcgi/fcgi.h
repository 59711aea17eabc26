/* The FastCGI side of chat-fcgi: one responder connection at a time, read
 * and written here rather than by libfcgi.
 *
 * Why not libfcgi: it allocates the length a PARAMS pair announces before the
 * bytes arrive (a 2 GB name is a 2 GB malloc, or an abort when malloc fails),
 * and every read it does blocks without a limit, so four peers that send
 * half a request hold four responders forever. Its accept loop also reads
 * the next connection's params itself whenever one request fails, so a
 * validating layer in front of it could not see every connection. Here
 * nothing is allocated before the bytes it holds have arrived, the params
 * are bounded (FCGI_PARAMS_MAX), and each request has a deadline: the
 * whole request must arrive, and the response be taken, within the timeout,
 * or the connection is dropped.
 *
 * What it speaks: the responder role, one request per connection (the
 * connection is closed after each response, whatever FCGI_KEEP_CONN says,
 * which the web server is ready for); management records, other roles and
 * multiplexing are refused by closing the connection. */
#ifndef SC_FCGI_H
#define SC_FCGI_H

#include <stddef.h>
#include <stdint.h>

#include "fcgi_params.h"
#include "strbuf.h"

#define FCGI_PARAMS_MAX 65536     /* nginx sends far less: headers are limited to ~32 KB */
#define FCGI_RBUF 8192

struct fcgi_conn {
	int fd;
	int timeout_ms;
	int64_t deadline_us;      /* mono_us by which the request must have arrived */
	unsigned request_id;
	struct fcgi_params params;
	size_t stdin_left;        /* content bytes of the current STDIN record not read */
	size_t pad_left;          /* then its padding */
	int stdin_ended;          /* the empty STDIN record has been read */
	int broken;               /* timed out, closed or spoke out of turn: no more reading */
	struct strbuf out;        /* the response's records */
	size_t rpos, rend;
	unsigned char rbuf[FCGI_RBUF];
};

/* A listening socket: ":PORT" or "HOST:PORT" for TCP, else a unix socket path. */
int fcgi_listen(const char *spec, int backlog);
/* The next connection on the listening socket, or -1 (errno) on an error
 * other than an interrupted or aborted accept. */
int fcgi_accept(int listen_fd);

/* Reads the BEGIN_REQUEST record and the params of a new connection. 0, or
 * -1 with the reason in *why, when the connection has been closed. */
int fcgi_begin(struct fcgi_conn *c, int fd, int timeout_ms, const char **why);
const char *fcgi_param(const struct fcgi_conn *c, const char *name);
/* Up to len bytes of the request body; fewer only at its end, or after a
 * timeout or a protocol error (then c->broken). */
size_t fcgi_read(struct fcgi_conn *c, char *buf, size_t len);
/* Appends to the response (sent by fcgi_end). */
void fcgi_write(struct fcgi_conn *c, const char *data, size_t len);
/* Sends the response and ends the request, then closes the connection: at
 * once if its input was read to its end, else after reading what is left of
 * it (within the timeout), so that input left unread cannot turn into a
 * reset that loses the response. */
void fcgi_end(struct fcgi_conn *c);

#endif

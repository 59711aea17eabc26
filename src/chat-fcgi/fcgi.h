/* The connections of chat-fcgi, between its listening socket and libfcgi,
 * which speaks FastCGI for it (FCGX_Accept_r, FCGX_GetStr, FCGX_PutStr).
 *
 * libfcgi allocates whatever length a PARAMS pair announces (a 2 GB name
 * aborts it) and every read it does waits on the peer without a limit, so
 * nothing reaches it before it was checked here: each connection is accepted
 * here and its request peeked at (MSG_PEEK) until it is whole in the
 * socket's receive buffer, records in turn and within bounds
 * (fcgi_scan.h), all of it within FCGI_TIMEOUT_MS of the accept. Only then
 * is the socket handed to libfcgi, whose reads then never wait; anything
 * refused, too large or too slow is closed without libfcgi seeing it.
 * libfcgi never accepts by itself (its listening socket is -1: after an
 * error in a request it tries to, fails at once, and returns).
 *
 * The response has FCGI_TIMEOUT_MS too (SO_SNDTIMEO, brought down to what
 * is left before each write libfcgi may make): a peer that does not read
 * cannot hold a responder for long. One request per connection: it is
 * closed after each response, whatever FCGI_KEEP_CONN says. */
#ifndef SC_FCGI_H
#define SC_FCGI_H

#include <fcgiapp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct fcgi_gate {
	int listen_fd;
	int timeout_ms;
	size_t max_body;
	int peek_offset;           /* unix sockets: a peek goes on where the last one ended */
	struct strbuf peeked;      /* the request so far (kept between connections) */
	const sigset_t *wait_mask; /* the signal mask while waiting for a connection
				      (NULL: the process's own) */
};

/* A connection whose request is whole in its socket. */
struct fcgi_conn {
	int fd;
	int timeout_ms;
	int64_t deadline_us;       /* by which the request must be whole */
	long content_length;       /* CONTENT_LENGTH as checked: 0 if absent, -1 if bad */
	int body_included;         /* the body is in the socket too; else it will not be read */
	int64_t reply_deadline_us; /* set by the first write */
	size_t out_len;
};

/* Makes the listening socket's connections able to buffer the largest
 * request allowed. Returns the largest request that fits, if smaller than
 * that (a warning to log), else 0. */
size_t fcgi_gate_init(struct fcgi_gate *g, int listen_fd, int timeout_ms, size_t max_body);
/* The next connection: 0, or -1 when accept failed (errno; EINTR when a
 * signal came while waiting). */
int fcgi_accept(struct fcgi_gate *g, struct fcgi_conn *c);
/* Peeks at the connection's request until it is whole (NULL), or refuses it
 * (why) and closes the connection. */
const char *fcgi_check(struct fcgi_gate *g, struct fcgi_conn *c);
/* Hands the connection to libfcgi, which reads the request's params: 0, or
 * -1 when libfcgi failed (the connection is closed). */
int fcgi_hand_over(struct fcgi_conn *c, FCGX_Request *rq);
/* Writes to the response, within the response's deadline. */
void fcgi_put(struct fcgi_conn *c, FCGX_Request *rq, const char *data, size_t len);
/* Ends the request and closes the connection: at once when its input was
 * read to its end, else after reading what the peer still sends (within
 * FCGI_TIMEOUT_MS), so that input left unread cannot turn into a reset
 * that loses the response. */
void fcgi_finish(struct fcgi_conn *c, FCGX_Request *rq);

#endif

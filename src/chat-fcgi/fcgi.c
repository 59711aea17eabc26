#include "fcgi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fcgi_scan.h"
#include "util.h"

#define LIBFCGI_BUFFER 8192   /* libfcgi writes a response out each time 8 KB of it are buffered */

/* Sets a socket timeout to what is left until deadline_us; -1 when nothing is. */
static int timeout_until(int fd, int opt, int64_t deadline_us)
{
	int64_t left = deadline_us - mono_us();
	if (left <= 0)
		return -1;
	struct timeval tv = { (time_t)(left / 1000000), (suseconds_t)(left % 1000000) };
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* The web server's send buffer bounds what a unix socket can hold for us. */
static size_t unix_socket_room(void)
{
	FILE *f = fopen("/proc/sys/net/core/wmem_default", "r");
	long v = 0;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 ? (size_t)v / 10 * 9 : 0;  /* less the kernel's own share */
}

size_t fcgi_gate_init(struct fcgi_gate *g, int listen_fd, int timeout_ms, size_t max_body)
{
	*g = (struct fcgi_gate){ .listen_fd = listen_fd, .timeout_ms = timeout_ms,
				 .max_body = max_body };
	/* shared by every responder on the socket: one may take the connection
	 * another was woken for, and the other must not then wait in accept */
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl >= 0)
		fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
	size_t need = fcgi_request_max(max_body);
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	g->peek_offset = getsockname(listen_fd, (struct sockaddr *)&sa, &sl) == 0 &&
			 sa.ss_family == AF_UNIX;
	if (g->peek_offset) {
		size_t room = unix_socket_room();
		return room && room < need ? room : 0;
	}
	/* TCP: accepted sockets take the listening socket's receive buffer */
	int size = need > (1 << 30) ? 1 << 30 : (int)need, got = 0;
	socklen_t gl = sizeof got;
	if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size))
		setsockopt(listen_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	/* the kernel doubles it, and keeps up to half for itself */
	if (getsockopt(listen_fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) == 0 && (size_t)got / 2 < need)
		return (size_t)got / 2;
	return 0;
}

/* The listening socket is non-blocking, so that waiting happens only in
 * ppoll, the one place where wait_mask lets a stop signal in: a stop never
 * lands between an accept and the response (the connection would be lost).
 * Returns -1 with EINTR when a signal came. */
static int accept_next(int listen_fd, const sigset_t *wait_mask)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
				errno != EPROTO))
			return fd;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = { .fd = listen_fd, .events = POLLIN };
			if (ppoll(&p, 1, NULL, wait_mask) < 0)
				return -1;
		}
	}
}

static int peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Peeks until at least need bytes of the request are in g->peeked, and as
 * many more as have arrived (up to cap). A unix socket's peek waits for
 * bytes past the last peek (SO_PEEK_OFF); a TCP socket's peeks start over at
 * the first byte and wait for all they ask (MSG_WAITALL). Either waits no
 * later than the deadline (SO_RCVTIMEO). */
static const char *peek_until(struct fcgi_gate *g, int fd, size_t need, size_t cap,
			      int64_t deadline_us)
{
	struct strbuf *p = &g->peeked;
	while (p->len < need) {
		int queued = 0;
		size_t want = need;
		if (ioctl(fd, FIONREAD, &queued) == 0 && (size_t)queued >= need)
			want = (size_t)queued < cap ? (size_t)queued : cap;
		else if (timeout_until(fd, SO_RCVTIMEO, deadline_us))
			return "the request was not whole within FCGI_TIMEOUT_MS";
		sb_grow(p, want - p->len);
		ssize_t n = g->peek_offset ? recv(fd, p->buf + p->len, want - p->len, MSG_PEEK)
					   : recv(fd, p->buf, want, MSG_PEEK | MSG_WAITALL);
		if (n > 0)
			p->len = g->peek_offset ? p->len + (size_t)n : (size_t)n;
		if (n == 0 || (n > 0 && p->len < need && !g->peek_offset && peer_gone(fd)))
			return "the peer closed before its request was whole";
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return "the connection failed";
	}
	return NULL;
}

/* Peeks at the request until it is whole, or refused. */
static const char *check_request(struct fcgi_gate *g, struct fcgi_conn *c)
{
	static const int from_start = 0;
	struct fcgi_scan s;
	size_t need;
	const char *why = NULL;
	enum fcgi_scan_result r;
	g->peeked.len = 0;
	if (g->peek_offset && setsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &from_start, sizeof from_start))
		return "SO_PEEK_OFF failed";
	fcgi_scan_init(&s, g->max_body);
	while ((r = fcgi_scan(&s, (const unsigned char *)g->peeked.buf, g->peeked.len, &need)) ==
	       FCGI_SCAN_MORE)
		if ((why = peek_until(g, c->fd, need, s.max_bytes, c->deadline_us)))
			break;
	if (r == FCGI_SCAN_REFUSED)
		why = s.why;
	c->content_length = s.content_length;
	c->body_included = s.body_included;
	fcgi_scan_release(&s);
	return why;
}

int fcgi_accept(struct fcgi_gate *g, struct fcgi_conn *c)
{
	int fd = accept_next(g->listen_fd, g->wait_mask);
	*c = (struct fcgi_conn){ .fd = fd, .timeout_ms = g->timeout_ms,
				 .deadline_us = mono_us() + (int64_t)g->timeout_ms * 1000 };
	return fd < 0 ? -1 : 0;
}

const char *fcgi_check(struct fcgi_gate *g, struct fcgi_conn *c)
{
	/* libfcgi's reads never wait on a whole request; should one, or a
	 * write of the response, it waits no longer than this */
	struct timeval tv = { g->timeout_ms / 1000, g->timeout_ms % 1000 * 1000 };
	const char *why = "setting the socket's timeouts failed";
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
	    !(why = check_request(g, c)))
		return NULL;
	close(c->fd);
	c->fd = -1;
	return why;
}

int fcgi_hand_over(struct fcgi_conn *c, FCGX_Request *rq)
{
	rq->ipcFd = c->fd;
	/* FCGX_Accept_r starts by finishing the request before, which closes
	 * the connection unless it is to be kept; after an error it closes it
	 * at once when detached (not shutdown and wait), and returns when its
	 * accept on listen_sock -1 fails */
	rq->keepConnection = 1;
	rq->detached = 1;
	if (FCGX_Accept_r(rq) == 0)
		return 0;
	if (rq->ipcFd >= 0)
		close(rq->ipcFd);
	rq->ipcFd = c->fd = -1;
	return -1;
}

/* Brings the send timeout down to what is left of the response's deadline;
 * past it, shuts the connection so that libfcgi's writes fail at once. */
static int within_deadline(struct fcgi_conn *c)
{
	if (timeout_until(c->fd, SO_SNDTIMEO, c->reply_deadline_us) == 0)
		return 1;
	shutdown(c->fd, SHUT_RDWR);
	return 0;
}

void fcgi_put(struct fcgi_conn *c, FCGX_Request *rq, const char *data, size_t len)
{
	if (!c->reply_deadline_us)
		c->reply_deadline_us = mono_us() + (int64_t)c->timeout_ms * 1000;
	while (len > 0) {
		size_t k = len < LIBFCGI_BUFFER ? len : LIBFCGI_BUFFER;
		c->out_len += k;
		/* the first 8 KB are written once, at the end, by FCGX_Finish_r */
		if (c->out_len > LIBFCGI_BUFFER && !within_deadline(c))
			return;
		if (FCGX_PutStr(data, (int)k, rq->out) != (int)k)
			return;
		data += k;
		len -= k;
	}
}

/* The rest of a body that is whole in the socket: reading it never waits. */
static int read_to_end(FCGX_Request *rq)
{
	char trash[4096];
	while (FCGX_GetStr(trash, sizeof trash, rq->in) > 0)
		;
	return FCGX_GetError(rq->in) == 0;
}

/* What the peer still sends, read and dropped until it closes, within the
 * timeout, after a shutdown that tells it the response is complete. */
static void drain(int fd, int timeout_ms)
{
	int64_t deadline_us = mono_us() + (int64_t)timeout_ms * 1000;
	char trash[16384];
	if (shutdown(fd, SHUT_WR))
		return;
	while (timeout_until(fd, SO_RCVTIMEO, deadline_us) == 0) {
		ssize_t n = recv(fd, trash, sizeof trash, 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			return;
	}
}

void fcgi_finish(struct fcgi_conn *c, FCGX_Request *rq)
{
	int input_read = c->body_included && read_to_end(rq);
	if (c->out_len > LIBFCGI_BUFFER && !within_deadline(c))
		input_read = 1;  /* shut: nothing to wait for */
	rq->keepConnection = 1;  /* closed here, not by libfcgi */
	rq->detached = 1;
	FCGX_Finish_r(rq);
	if (rq->ipcFd < 0)  /* libfcgi closed it after an error */
		return;
	if (!input_read)
		drain(rq->ipcFd, c->timeout_ms);
	close(rq->ipcFd);
	rq->ipcFd = c->fd = -1;
}

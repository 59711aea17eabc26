#include "fcgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

enum {
	FCGI_VERSION_1 = 1,
	BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5, STDOUT = 6,
	ROLE_RESPONDER = 1, REQUEST_COMPLETE = 0,
	RECORD_MAX = 65535,
};

struct header {
	unsigned type, id;
	size_t clen, plen;
};

/* Waits until fd is ready for events or the deadline passes (-1). */
static int wait_ready(int fd, short events, int64_t deadline_us)
{
	for (;;) {
		int64_t left = deadline_us - mono_us();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)((left + 999) / 1000));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Refills the empty read buffer with at least one byte, or marks the
 * connection broken: closed, failed, or silent past the deadline. */
static int fill(struct fcgi_conn *c)
{
	if (c->broken)
		return -1;
	c->rpos = c->rend = 0;
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf, sizeof c->rbuf);
		if (n > 0) {
			c->rend = (size_t)n;
			return 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_ready(c->fd, POLLIN, c->deadline_us) == 0)
			continue;
		c->broken = 1;
		return -1;
	}
}

/* The next n bytes of input into dst, or skipped when dst is NULL. */
static int take(struct fcgi_conn *c, void *dst, size_t n)
{
	unsigned char *d = dst;
	while (n > 0) {
		if (c->rpos == c->rend && fill(c))
			return -1;
		size_t k = c->rend - c->rpos < n ? c->rend - c->rpos : n;
		if (d) {
			memcpy(d, c->rbuf + c->rpos, k);
			d += k;
		}
		c->rpos += k;
		n -= k;
	}
	return 0;
}

static int read_header(struct fcgi_conn *c, struct header *h)
{
	unsigned char b[8];
	if (take(c, b, sizeof b))
		return -1;
	if (b[0] != FCGI_VERSION_1) {
		c->broken = 1;
		return -1;
	}
	h->type = b[1];
	h->id = (unsigned)b[2] << 8 | b[3];
	h->clen = (size_t)b[4] << 8 | b[5];
	h->plen = b[6];
	return 0;
}

static int drop(struct fcgi_conn *c, const char **why, const char *reason)
{
	*why = reason;
	close(c->fd);
	c->fd = -1;
	fcgi_params_release(&c->params);
	return -1;
}

/* The params stream, whole, then parsed: its length is checked record by
 * record against FCGI_PARAMS_MAX before any of it is stored. */
static int read_params(struct fcgi_conn *c, const char **why)
{
	struct strbuf p = STRBUF_INIT;
	struct header h;
	for (;;) {
		if (read_header(c, &h)) {
			*why = "the peer closed or stalled before its params ended";
			goto fail;
		}
		if (h.type != PARAMS || h.id != c->request_id) {
			*why = "a record out of turn among the params";
			goto fail;
		}
		if (h.clen == 0)
			break;
		if (p.len + h.clen > FCGI_PARAMS_MAX) {
			*why = "params longer than 64 KB";
			goto fail;
		}
		sb_grow(&p, h.clen);
		if (take(c, p.buf + p.len, h.clen) || take(c, NULL, h.plen)) {
			*why = "the peer closed or stalled before its params ended";
			goto fail;
		}
		p.len += h.clen;
	}
	if (take(c, NULL, h.plen) ||
	    fcgi_params_parse((const unsigned char *)p.buf, p.len, &c->params)) {
		*why = "malformed params";
		goto fail;
	}
	sb_release(&p);
	return 0;
fail:
	sb_release(&p);
	return -1;
}

int fcgi_begin(struct fcgi_conn *c, int fd, int timeout_ms, const char **why)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->deadline_us = mono_us() + (int64_t)timeout_ms * 1000;
	struct header h;
	unsigned char begin[8];
	if (read_header(c, &h) || h.type != BEGIN_REQUEST || h.id == 0 || h.clen != sizeof begin ||
	    take(c, begin, sizeof begin) || take(c, NULL, h.plen))
		return drop(c, why, c->broken ? "the peer closed or stalled before its request began"
					      : "not a FastCGI request");
	if (((unsigned)begin[0] << 8 | begin[1]) != ROLE_RESPONDER)
		return drop(c, why, "a FastCGI role other than responder");
	c->request_id = h.id;
	if (read_params(c, why))
		return drop(c, why, *why);
	return 0;
}

const char *fcgi_param(const struct fcgi_conn *c, const char *name)
{
	return fcgi_params_get(&c->params, name);
}

/* Moves to the next STDIN record: its length, or the end of the stream. */
static int next_stdin_record(struct fcgi_conn *c)
{
	struct header h;
	if (take(c, NULL, c->pad_left) || read_header(c, &h))
		return -1;
	c->pad_left = 0;
	if (h.type != STDIN || h.id != c->request_id) {
		c->broken = 1;
		return -1;
	}
	if (h.clen == 0) {
		c->stdin_ended = 1;
		return take(c, NULL, h.plen);
	}
	c->stdin_left = h.clen;
	c->pad_left = h.plen;
	return 0;
}

size_t fcgi_read(struct fcgi_conn *c, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len && !c->stdin_ended && !c->broken) {
		if (c->stdin_left == 0) {
			if (next_stdin_record(c))
				break;
			continue;
		}
		size_t k = len - got < c->stdin_left ? len - got : c->stdin_left;
		if (take(c, buf ? buf + got : NULL, k))
			break;
		got += k;
		c->stdin_left -= k;
	}
	return got;
}

static void add_header(struct strbuf *sb, unsigned type, unsigned id, size_t clen)
{
	unsigned char h[8] = { FCGI_VERSION_1, (unsigned char)type, (unsigned char)(id >> 8),
			       (unsigned char)id, (unsigned char)(clen >> 8), (unsigned char)clen, 0, 0 };
	sb_add(sb, h, sizeof h);
}

void fcgi_write(struct fcgi_conn *c, const char *data, size_t len)
{
	while (len > 0) {
		size_t k = len < RECORD_MAX ? len : RECORD_MAX;
		add_header(&c->out, STDOUT, c->request_id, k);
		sb_add(&c->out, data, k);
		data += k;
		len -= k;
	}
}

/* The whole response, unless the peer does not take it within the timeout. */
static int send_all(struct fcgi_conn *c)
{
	int64_t deadline = mono_us() + (int64_t)c->timeout_ms * 1000;
	size_t off = 0;
	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + off, c->out.len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
			 wait_ready(c->fd, POLLOUT, deadline) == 0)
			continue;
		else
			return -1;
	}
	return 0;
}

void fcgi_end(struct fcgi_conn *c)
{
	static const unsigned char end[8] = { 0, 0, 0, 0, REQUEST_COMPLETE, 0, 0, 0 };
	add_header(&c->out, STDOUT, c->request_id, 0);
	add_header(&c->out, END_REQUEST, c->request_id, sizeof end);
	sb_add(&c->out, end, sizeof end);
	if (send_all(c) == 0 && !c->stdin_ended && !c->broken) {
		c->deadline_us = mono_us() + (int64_t)c->timeout_ms * 1000;
		fcgi_read(c, NULL, SIZE_MAX);
	}
	close(c->fd);
	c->fd = -1;
	sb_release(&c->out);
	fcgi_params_release(&c->params);
}

int fcgi_accept(int listen_fd)
{
	return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static int listen_tcp(const char *spec, const char *colon, int backlog)
{
	char host[256];
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof host)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *ai;
	if (getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
			bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, backlog))) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);  /* left by an earlier run */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, backlog))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int fcgi_listen(const char *spec, int backlog)
{
	const char *colon = strrchr(spec, ':');
	return spec[0] != '/' && colon ? listen_tcp(spec, colon, backlog) : listen_unix(spec, backlog);
}

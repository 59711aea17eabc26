/* The bench's WebSocket sessions: non-blocking sockets on one epoll
 * instance, each connected, upgraded and then read frame by frame. Server
 * frames are not masked; the one frame we send (pong) is. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"
#include "wsframe.h"
#include "xalloc.h"

enum { S_CONNECTING, S_UPGRADING, S_OPEN, S_CLOSED };

static void grow(struct sess *s, size_t need)
{
	if (s->cap >= need)
		return;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < need)
		cap *= 2;
	s->buf = xrealloc(s->buf, cap);
	s->cap = cap;
}

static void closed(struct sess *s)
{
	if (s->fd >= 0)
		close(s->fd);  /* also leaves the epoll set */
	s->fd = -1;
	s->state = S_CLOSED;
}

static int resolve(const char *hostport, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof host)
		return -1;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	struct addrinfo hints = { 0 }, *ai;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -1;
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int start(struct sess *s, const struct sockaddr_storage *sa, socklen_t salen,
		 const char *hostport, const char *path, int ep)
{
	s->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->connect_us = mono_us();
	if (connect(s->fd, (const struct sockaddr *)sa, salen) != 0 && errno != EINPROGRESS) {
		closed(s);
		return -1;
	}
	if (s->sse)
		s->out = sse_request(s, hostport, &s->outlen);
	else {
		char req[1024];
		int n = snprintf(req, sizeof req,
				 "GET %s?session_id=%s&user_id=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: c3RyZWFtY2hhdC1iZW5jaA==\r\n"
				 "Sec-WebSocket-Version: 13\r\n\r\n", path, s->id, s->id, hostport);
		s->out = xstrndup(req, (size_t)n);
		s->outlen = (size_t)n;
	}
	s->outoff = 0;
	s->state = S_CONNECTING;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = s };
	return epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

int ws_adopt(struct sess *s, int fd, int ep)
{
	s->fd = fd;
	s->state = S_OPEN;
	s->connect_us = s->welcome_us = mono_us();
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void pong(struct sess *s, const unsigned char *p, size_t n)
{
	static const unsigned char zero_mask[4];  /* the payload goes as it is */
	unsigned char f[WS_HEADER_MAX + 125];
	if (n > 125)
		n = 125;
	size_t h = ws_header(f, WS_PONG, 1, n, zero_mask);
	memcpy(f + h, p, n);
	if (write(s->fd, f, h + n) < 0)
		closed(s);
}

/* Parses the frames in s->buf. Returns -1 once the server closed. */
static int frames(struct sess *s, void (*on_frame)(struct sess *, const char *, size_t, void *),
		  void *ud)
{
	size_t off = 0;
	int rc = 0;
	struct ws_head fh;
	while (ws_head_parse(s->buf + off, s->len - off, &fh)) {
		const unsigned char *p = s->buf + off;
		size_t h = fh.header_len;
		if (s->len - off - h < fh.payload_len)
			break;
		size_t n = (size_t)fh.payload_len;
		int op = fh.opcode;
		const char *payload = (const char *)p + h;
		if (op == WS_TEXT || op == WS_CONTINUATION) {
			if (!s->welcome_us && n >= 17 && memmem(payload, n < 40 ? n : 40, "\"welcome\"", 9))
				s->welcome_us = mono_us();
			if (on_frame)
				on_frame(s, payload, n, ud);
		} else if (op == WS_PING) {
			pong(s, p + h, n);
		} else if (op == WS_CLOSE) {
			rc = -1;
			break;
		}
		off += h + n;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	return rc;
}

/* What an HTTP stream has received: its response's head, then events. */
static int read_sse(struct sess *s, void (*on_frame)(struct sess *, const char *, size_t, void *),
		    void *ud)
{
	if (s->state == S_UPGRADING) {
		size_t hl;
		int answer = sse_headers(s->buf, s->len, &hl);
		if (answer <= 0)
			return answer;
		memmove(s->buf, s->buf + hl, s->len - hl);
		s->len -= hl;
		s->state = S_OPEN;
		s->welcome_us = mono_us();
	}
	size_t used = sse_events(s, on_frame, ud);
	memmove(s->buf, s->buf + used, s->len - used);
	s->len -= used;
	return 0;
}

static int readable(struct sess *s, void (*on_frame)(struct sess *, const char *, size_t, void *),
		    void *ud)
{
	for (;;) {
		grow(s, s->len + 65536);
		ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (r <= 0)
			return -1;
		s->len += (size_t)r;
		if (s->sse && read_sse(s, on_frame, ud))
			return -1;
		if (s->sse) {
			if ((size_t)r < 65536)
				return 0;
			continue;
		}
		if (s->state == S_UPGRADING) {
			size_t hl;
			int answer = ws_upgrade_answer(s->buf, s->len, &hl);
			if (answer == 0)
				continue;
			if (answer < 0)
				return -1;
			memmove(s->buf, s->buf + hl, s->len - hl);
			s->len -= hl;
			s->state = S_OPEN;
		}
		if (frames(s, on_frame, ud))
			return -1;
		if ((size_t)r < 65536)
			return 0;
	}
}

static int writable(struct sess *s, int ep)
{
	if (s->state == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err)
			return -1;
		s->state = S_UPGRADING;
	}
	while (s->outoff < s->outlen) {
		ssize_t w = write(s->fd, s->out + s->outoff, s->outlen - s->outoff);
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		s->outoff += (size_t)w;
	}
	free(s->out);
	s->out = NULL;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	return epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static int poll_ep;  /* the epoll instance ws_poll works on, for writable() */

long ws_poll(int ep, int timeout_ms,
	     void (*on_frame)(struct sess *s, const char *p, size_t n, void *ud), void *ud)
{
	struct epoll_event evs[512];
	long lost = 0;
	poll_ep = ep;
	int n = epoll_wait(ep, evs, 512, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct sess *s = evs[i].data.ptr;
		if (s->state == S_CLOSED)
			continue;
		int bad = (evs[i].events & EPOLLOUT) && writable(s, poll_ep);
		if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->state != S_CONNECTING)
			bad = readable(s, on_frame, ud);
		if (bad) {
			closed(s);
			lost++;
		}
	}
	return lost;
}

int ws_open_all(struct sess *ss, long n, const struct bench_opts *o, int ep, int64_t deadline_us,
		struct samples *connect_ms)
{
	struct sockaddr_storage *sa = xcalloc((size_t)o->nrelays, sizeof *sa);
	socklen_t *salen = xcalloc((size_t)o->nrelays, sizeof *salen);
	for (int r = 0; r < o->nrelays; r++)
		if (resolve(o->relays[r], &sa[r], &salen[r])) {
			fprintf(stderr, "chat-bench: cannot resolve %s\n", o->relays[r]);
			return -1;
		}
	long opened = 0;
	for (long first = 0; first < n; first += o->connect_batch) {
		long last = first + o->connect_batch < n ? first + o->connect_batch : n;
		for (long i = first; i < last; i++) {
			int r = (int)(i % o->sessions % o->nrelays);
			if (start(&ss[i], &sa[r], salen[r], o->relays[r], o->ws_path, ep))
				fprintf(stderr, "chat-bench: session %ld: cannot connect\n", i);
		}
		/* this batch greeted before the next one is opened */
		for (;;) {
			long waiting = 0;
			for (long i = first; i < last; i++)
				waiting += ss[i].state != S_CLOSED && !ss[i].welcome_us;
			if (!waiting || mono_us() > deadline_us)
				break;
			ws_poll(ep, 50, NULL, NULL);
		}
		for (long i = first; i < last; i++)
			if (ss[i].welcome_us) {
				opened++;
				samples_add(connect_ms, (double)(ss[i].welcome_us - ss[i].connect_us) / 1000);
			}
	}
	free(sa);
	free(salen);
	return (int)opened;
}

void ws_close_all(struct sess *ss, long n)
{
	for (long i = 0; i < n; i++) {
		if (ss[i].fd >= 0)
			closed(&ss[i]);
		free(ss[i].buf);
		free(ss[i].out);
		free(ss[i].pub.at_us);
	}
}

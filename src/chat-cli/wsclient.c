#include "wsclient.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"
#include "wsframe.h"
#include "xalloc.h"

#define MAX_MESSAGE (16u << 20)

int url_split(const char *url, char *host, size_t hostlen, int *port, char *path, size_t pathlen)
{
	const char *p = strstr(url, "://");
	int tls = 0;
	if (!p)
		return -1;
	if (!strncmp(url, "https", 5) || !strncmp(url, "wss", 3))
		tls = 1;
	if (tls)
		return -1;  /* plain TCP only: put TLS in front, in nginx */
	p += 3;
	const char *slash = strchr(p, '/');
	const char *hend = slash ? slash : p + strlen(p);
	const char *colon = memchr(p, ':', (size_t)(hend - p));
	const char *nend = colon ? colon : hend;
	if (nend == p || (size_t)(nend - p) >= hostlen)
		return -1;
	memcpy(host, p, (size_t)(nend - p));
	host[nend - p] = '\0';
	*port = 80;
	if (colon) {
		char pb[8];
		long v;
		size_t n = (size_t)(hend - colon - 1);
		if (n == 0 || n >= sizeof pb)
			return -1;
		memcpy(pb, colon + 1, n);
		pb[n] = '\0';
		if (parse_long(pb, 1, 65535, &v))
			return -1;
		*port = (int)v;
	}
	snprintf(path, pathlen, "%s", slash ? slash : "/");
	return 0;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd pfd = { fd, ev, 0 };
	int rc;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes into ws->buf: 1 read, 0 timeout, -1 closed. */
static int fill(struct wsclient *ws, int timeout_ms)
{
	if (ws->cap - ws->len < 65536) {
		size_t ncap = ws->cap ? ws->cap * 2 : 131072;
		ws->buf = xrealloc(ws->buf, ncap);
		ws->cap = ncap;
	}
	int rc = wait_fd(ws->fd, POLLIN, timeout_ms);
	if (rc <= 0)
		return rc;
	ssize_t n = read(ws->fd, ws->buf + ws->len, ws->cap - ws->len);
	if (n <= 0)
		return -1;
	ws->len += (size_t)n;
	return 1;
}

static void consume(struct wsclient *ws, size_t n)
{
	memmove(ws->buf, ws->buf + n, ws->len - n);
	ws->len -= n;
}

int ws_connect(struct wsclient *ws, const char *host, int port, const char *path,
	       const char *bearer, int timeout_ms, int rcvbuf, char *err, size_t errlen)
{
	memset(ws, 0, sizeof *ws);
	ws->fd = -1;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%d", port);
	struct addrinfo hints = { 0 }, *ai = NULL;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, portstr, &hints, &ai);
	if (gai) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	/* before connect, so that the window offered to the server is small too */
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "connect %s:%d: %s", host, port, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ws->fd = fd;

	char key[25];
	unsigned char raw[16];
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (getrandom(raw, sizeof raw, 0) != sizeof raw)
		memset(raw, 7, sizeof raw);
	for (int i = 0, o = 0; i < 16; i += 3) {
		unsigned v = raw[i] << 16 | (i + 1 < 16 ? raw[i + 1] << 8 : 0) | (i + 2 < 16 ? raw[i + 2] : 0);
		key[o++] = b64[v >> 18 & 63];
		key[o++] = b64[v >> 12 & 63];
		key[o++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
		key[o++] = i + 2 < 16 ? b64[v & 63] : '=';
		key[o] = '\0';
	}
	char req[8192];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
			 "Origin: http://%s:%d\r\n%s%s%s\r\n", path, host, port, key, host, port,
			 bearer ? "Authorization: Bearer " : "", bearer ? bearer : "", bearer ? "\r\n" : "");
	if (n <= 0 || (size_t)n >= sizeof req || write_all(fd, req, (size_t)n)) {
		snprintf(err, errlen, "sending the upgrade request failed");
		goto fail;
	}
	int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		size_t hl;
		int answer = ws_upgrade_answer(ws->buf, ws->len, &hl);
		if (answer < 0) {
			snprintf(err, errlen, "upgrade refused: %.*s", (int)(hl > 60 ? 60 : hl - 4),
				 (char *)ws->buf);
			goto fail;
		}
		if (answer > 0) {
			consume(ws, hl);
			return 0;
		}
		if (ws->len > 16384) {
			snprintf(err, errlen, "upgrade answer too long");
			goto fail;
		}
		int left = (int)((deadline - mono_us()) / 1000);
		if (left <= 0 || fill(ws, left) <= 0) {
			snprintf(err, errlen, "no upgrade answer from %s:%d", host, port);
			goto fail;
		}
	}
fail:
	ws_close(ws);
	return -1;
}

int ws_send_frame(struct wsclient *ws, int opcode, int fin, const char *data, size_t len)
{
	if (ws->fd < 0)
		return -1;
	unsigned char mask[4];
	if (getrandom(mask, 4, 0) != 4)
		memset(mask, 0x5a, 4);
	unsigned char *frame = xmalloc(WS_HEADER_MAX + len);
	size_t h = ws_header(frame, opcode, fin, len, mask);
	ws_mask(frame + h, data, len, mask);
	int rc = write_all(ws->fd, frame, h + len);
	free(frame);
	return rc;
}

int ws_send_text(struct wsclient *ws, const char *data, size_t len)
{
	return ws_send_frame(ws, WS_TEXT, 1, data, len);
}

/* One whole frame at the start of ws->buf. Returns 1 when it completes a
 * message (in ws->msg), 0 to read on, -1 once the connection is closed. */
static int take_frame(struct wsclient *ws, const struct ws_head *h)
{
	/* servers never mask, but tolerate it: the header is skipped whole */
	const char *payload = (const char *)ws->buf + h->header_len;
	size_t plen = (size_t)h->payload_len;
	int data = h->opcode == WS_TEXT || h->opcode == WS_CONTINUATION;
	if (h->opcode == WS_CLOSE) {
		ws->close_code = plen >= 2 ? (unsigned char)payload[0] << 8 | (unsigned char)payload[1] : 1005;
		snprintf(ws->close_reason, sizeof ws->close_reason, "%.*s", plen > 2 ? (int)plen - 2 : 0,
			 payload + 2);
		ws_send_frame(ws, WS_CLOSE, 1, payload, plen >= 2 ? 2 : 0);
		close(ws->fd);
		ws->fd = -1;
		return -1;
	}
	if (h->opcode == WS_PING)
		ws_send_frame(ws, WS_PONG, 1, payload, plen);
	else if (data) {
		ws->msg = xrealloc(ws->msg, ws->msglen + plen + 1);
		memcpy(ws->msg + ws->msglen, payload, plen);
		ws->msglen += plen;
		ws->msg[ws->msglen] = '\0';
	}
	consume(ws, h->header_len + plen);
	if (!data)
		return 0;
	ws->partial = !h->fin;
	return h->fin;
}

int ws_recv(struct wsclient *ws, int timeout_ms)
{
	int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
	if (!ws->partial) {
		/* keep fragments across a timeout; drop only a message returned */
		free(ws->msg);
		ws->msg = NULL;
		ws->msglen = 0;
	}
	if (ws->fd < 0)
		return -1;
	for (;;) {
		struct ws_head h;
		if (ws_head_parse(ws->buf, ws->len, &h)) {
			if (h.payload_len > MAX_MESSAGE) {
				ws->close_code = 1009;
				return -1;
			}
			if (ws->len - h.header_len >= h.payload_len) {
				int rc = take_frame(ws, &h);
				if (rc)
					return rc;
				continue;
			}
		}
		int left = (int)((deadline - mono_us()) / 1000);
		if (left < 0)
			left = 0;
		int rc = fill(ws, left);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			ws->close_code = 1006;
			close(ws->fd);
			ws->fd = -1;
			return -1;
		}
	}
}

void ws_close(struct wsclient *ws)
{
	if (ws->fd >= 0) {
		ws_send_frame(ws, WS_CLOSE, 1, "\x03\xe8", 2);
		close(ws->fd);
	}
	ws->fd = -1;
	free(ws->buf);
	free(ws->msg);
	ws->buf = NULL;
	ws->msg = NULL;
	ws->len = ws->cap = ws->msglen = 0;
}

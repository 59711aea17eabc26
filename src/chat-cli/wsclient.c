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
		unsigned char *p = realloc(ws->buf, ncap);
		if (!p)
			return -1;
		ws->buf = p;
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
		unsigned char *end = ws->len >= 4 ? memmem(ws->buf, ws->len, "\r\n\r\n", 4) : NULL;
		if (end) {
			size_t hl = (size_t)(end - ws->buf) + 4;
			if (ws->len < 12 || memcmp(ws->buf + 9, "101", 3) != 0) {
				snprintf(err, errlen, "upgrade refused: %.*s", (int)(hl > 60 ? 60 : hl - 4),
					 (char *)ws->buf);
				goto fail;
			}
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
	unsigned char hdr[14];
	size_t h = 0;
	if (ws->fd < 0)
		return -1;
	hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126)
		hdr[h++] = (unsigned char)(0x80 | len);
	else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	unsigned char mask[4];
	if (getrandom(mask, 4, 0) != 4)
		memset(mask, 0x5a, 4);
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *frame = malloc(h + len);
	if (!frame)
		return -1;
	memcpy(frame, hdr, h);
	for (size_t i = 0; i < len; i++)
		frame[h + i] = (unsigned char)data[i] ^ mask[i & 3];
	int rc = write_all(ws->fd, frame, h + len);
	free(frame);
	return rc;
}

int ws_send_text(struct wsclient *ws, const char *data, size_t len)
{
	return ws_send_frame(ws, 1, 1, data, len);
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
		/* parse one frame if whole */
		if (ws->len >= 2) {
			unsigned char b0 = ws->buf[0], b1 = ws->buf[1];
			size_t h = 2;
			uint64_t plen = b1 & 127;
			if (plen == 126 && ws->len >= 4) {
				plen = (uint64_t)ws->buf[2] << 8 | ws->buf[3];
				h = 4;
			} else if (plen == 127 && ws->len >= 10) {
				plen = 0;
				for (int i = 0; i < 8; i++)
					plen = plen << 8 | ws->buf[2 + i];
				h = 10;
			} else if (plen >= 126)
				goto more;
			if (b1 & 0x80)
				h += 4;  /* servers never mask, but tolerate it */
			if (plen > MAX_MESSAGE) {
				ws->close_code = 1009;
				return -1;
			}
			if (ws->len >= h + plen) {
				int opcode = b0 & 15, fin = b0 & 0x80;
				const char *payload = (const char *)ws->buf + h;
				if (opcode == 8) {
					ws->close_code = plen >= 2 ? (unsigned char)payload[0] << 8 |
						(unsigned char)payload[1] : 1005;
					snprintf(ws->close_reason, sizeof ws->close_reason, "%.*s",
						 plen > 2 ? (int)plen - 2 : 0, payload + 2);
					ws_send_frame(ws, 8, 1, payload, plen >= 2 ? 2 : 0);
					close(ws->fd);
					ws->fd = -1;
					return -1;
				}
				if (opcode == 9) {
					ws_send_frame(ws, 10, 1, payload, plen);
				} else if (opcode == 1 || opcode == 0) {
					char *m = realloc(ws->msg, ws->msglen + plen + 1);
					if (!m)
						return -1;
					ws->msg = m;
					memcpy(ws->msg + ws->msglen, payload, plen);
					ws->msglen += plen;
					ws->msg[ws->msglen] = '\0';
				}
				consume(ws, h + plen);
				if (opcode == 1 || opcode == 0) {
					ws->partial = !fin;
					if (fin)
						return 1;
				}
				continue;
			}
		}
more:;
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
		ws_send_frame(ws, 8, 1, "\x03\xe8", 2);
		close(ws->fd);
	}
	ws->fd = -1;
	free(ws->buf);
	free(ws->msg);
	ws->buf = NULL;
	ws->msg = NULL;
	ws->len = ws->cap = ws->msglen = 0;
}

/* chat-cli's small blocking WebSocket client (RFC 6455), which the test
 * helper ws-poke uses too: text frames, masking, ping/pong and close codes.
 * The frames' byte layout is wsframe.c's. */
#ifndef SC_WSCLIENT_H
#define SC_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

struct wsclient {
	int fd;
	unsigned char *buf;   /* bytes read and not yet consumed */
	size_t len, cap;
	char *msg;            /* the last message returned by ws_recv */
	size_t msglen;
	int partial;          /* msg holds the first fragments of a message */
	int close_code;       /* from the server's close frame, or 1006 */
	char close_reason[124];
};

/* Connects to host:port and upgrades GET path (with its query). rcvbuf > 0
 * sets the socket's receive buffer (a client that means to read slowly).
 * bearer, if not NULL, goes as an Authorization header: a token there
 * stays out of URLs and access logs. Returns 0, or -1 with a reason in err. */
int ws_connect(struct wsclient *ws, const char *host, int port, const char *path,
	       const char *bearer, int timeout_ms, int rcvbuf, char *err, size_t errlen);
int ws_send_text(struct wsclient *ws, const char *data, size_t len);
/* Any frame, masked: opcode WS_TEXT, WS_BINARY, WS_CONTINUATION...; fin 0
 * for all but the last fragment of a message. */
int ws_send_frame(struct wsclient *ws, int opcode, int fin, const char *data, size_t len);
/* Waits up to timeout_ms for the next text message: 1 with ws->msg set,
 * 0 on timeout, -1 when the connection closed (close_code says why). */
int ws_recv(struct wsclient *ws, int timeout_ms);
void ws_close(struct wsclient *ws);

/* Splits ws://host:port/path or http://host:port (pure, for tests). */
int url_split(const char *url, char *host, size_t hostlen, int *port, char *path, size_t pathlen);

#endif

/* A test helper, not a program of the suite: opens one WebSocket, waits
 * for welcome, sends something a well-behaved client would not, and prints
 * how the server ended the connection ("close CODE REASON"), or "open" if
 * it was still open after the wait.
 *
 *   ws-poke HOST PORT PATH text STRING     one text frame
 *   ws-poke HOST PORT PATH binary          one binary frame
 *   ws-poke HOST PORT PATH big N           a text frame of N bytes
 *   ws-poke HOST PORT PATH fragments N     one message in N fragments of 1 KB
 *   ws-poke HOST PORT PATH flood N         N pings at 200 a second, reading between them */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "wsclient.h"

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: ws-poke HOST PORT PATH MODE [ARG]\n");
		return 100;
	}
	struct wsclient ws;
	char err[256];
	signal(SIGPIPE, SIG_IGN);  /* a server that closes mid-write ends the write, not us */
	if (ws_connect(&ws, argv[1], atoi(argv[2]), argv[3], NULL, 5000, 0, err, sizeof err)) {
		printf("refused %s\n", err);
		return 0;
	}
	int r;
	while ((r = ws_recv(&ws, 5000)) == 1 && !strstr(ws.msg, "\"welcome\""))
		;
	if (r != 1) {
		printf("close %d %s\n", ws.close_code, ws.close_reason);
		ws_close(&ws);
		return 0;
	}
	const char *mode = argv[4];
	long n = argc > 5 ? atol(argv[5]) : 0;
	if (!strcmp(mode, "text") && argc > 5) {
		ws_send_text(&ws, argv[5], strlen(argv[5]));
	} else if (!strcmp(mode, "binary")) {
		ws_send_frame(&ws, 2, 1, "{\"type\":\"ping\"}", 15);
	} else if (!strcmp(mode, "big") && n > 0) {
		char *b = malloc((size_t)n);
		memset(b, 'a', (size_t)n);
		ws_send_text(&ws, b, (size_t)n);
		free(b);
	} else if (!strcmp(mode, "fragments") && n > 0) {
		char b[1024];
		memset(b, ' ', sizeof b);
		for (long i = 0; i < n; i++)
			ws_send_frame(&ws, i ? 0 : 1, i == n - 1, b, sizeof b);
	} else if (!strcmp(mode, "flood") && n > 0) {
		/* one ping every 5 ms (200/s), reading the answers in between: the
		 * server then closes with nothing of ours unread, so its close frame
		 * is not lost to a reset */
		for (long i = 0; i < n && ws_send_text(&ws, "{\"type\":\"ping\"}", 15) == 0; i++) {
			while ((r = ws_recv(&ws, 5)) == 1)
				;
			if (r < 0)
				break;
		}
		if (r < 0) {
			printf("close %d %s\n", ws.close_code, ws.close_reason);
			ws_close(&ws);
			return 0;
		}
	} else {
		fprintf(stderr, "ws-poke: unknown mode %s\n", mode);
		return 100;
	}
	while ((r = ws_recv(&ws, 3000)) == 1)
		;
	if (r == 0)
		printf("open\n");
	else
		printf("close %d %s\n", ws.close_code, ws.close_reason);
	ws_close(&ws);
	return 0;
}

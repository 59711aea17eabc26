/* A test helper, not a program of the suite: opens one WebSocket, waits
 * for welcome, sends something a well-behaved client would not, and prints
 * how the server ended the connection ("close CODE REASON"), or "open" if
 * it was still open after the wait.
 *
 *   ws-poke HOST PORT PATH text STRING     one text frame
 *   ws-poke HOST PORT PATH binary          one binary frame
 *   ws-poke HOST PORT PATH big N           a text frame of N bytes
 *   ws-poke HOST PORT PATH fragments N     one message in N fragments of 1 KB
 *   ws-poke HOST PORT PATH flood N         N pings at 200 a second, reading between them
 *   ws-poke HOST PORT PATH record UNTIL [TEXT...]
 *       sends each TEXT at once, before the welcome (what a browser does in
 *       onopen), then each line of stdin as it comes; prints every frame it
 *       receives, one a line, until a frame containing UNTIL has come and a
 *       second has passed with no frame after it, or 90 s have passed */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "validate.h"
#include "chat-cli/wsclient.h"

#define RECORD_LIMIT_S 90
#define RECORD_QUIET_MS 1000

/* Sends what stdin has of whole lines; 0 once stdin has ended. */
static int send_stdin_lines(struct wsclient *ws, char *line, size_t cap, size_t *have)
{
	ssize_t n = read(0, line + *have, cap - *have - 1);
	if (n <= 0)
		return 0;
	*have += (size_t)n;
	char *nl;
	while ((nl = memchr(line, '\n', *have))) {
		size_t ll = (size_t)(nl - line);
		if (ll)
			ws_send_text(ws, line, ll);
		*have -= ll + 1;
		memmove(line, nl + 1, *have);
	}
	if (*have == cap - 1)
		*have = 0;  /* a line too long for a test: dropped */
	return 1;
}

static int record(struct wsclient *ws, const char *until, char **texts, int ntexts)
{
	char line[8192];
	size_t have = 0;
	int stdin_open = 1, r = 0;
	int64_t end = mono_us() + RECORD_LIMIT_S * 1000000LL, seen_until = 0;
	for (int i = 0; i < ntexts; i++)
		ws_send_text(ws, texts[i], strlen(texts[i]));
	while (mono_us() < end) {
		if (seen_until && mono_us() - seen_until > RECORD_QUIET_MS * 1000LL)
			break;
		struct pollfd pfd = { 0, POLLIN, 0 };
		if (stdin_open && poll(&pfd, 1, 0) > 0)
			stdin_open = send_stdin_lines(ws, line, sizeof line, &have);
		r = ws_recv(ws, 20);
		if (r < 0)
			break;
		if (r == 1) {
			printf("%s\n", ws->msg);
			fflush(stdout);
			if (strstr(ws->msg, until))
				seen_until = mono_us();
		}
	}
	if (r < 0)
		printf("close %d %s\n", ws->close_code, ws->close_reason);
	else
		printf("%s\n", seen_until ? "open" : "timeout");
	ws_close(ws);
	return 0;
}

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
	if (!strcmp(argv[4], "record") && argc > 5)
		return record(&ws, argv[5], argv + 6, argc - 6);
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
		ws_send_frame(&ws, WS_BINARY, 1, "{\"type\":\"ping\"}", 15);
	} else if (!strcmp(mode, "big") && n > 0) {
		char *b = malloc((size_t)n);
		memset(b, 'a', (size_t)n);
		ws_send_text(&ws, b, (size_t)n);
		free(b);
	} else if (!strcmp(mode, "fragments") && n > 0) {
		char b[1024];
		memset(b, ' ', sizeof b);
		for (long i = 0; i < n; i++)
			ws_send_frame(&ws, i ? WS_CONTINUATION : WS_TEXT, i == n - 1, b, sizeof b);
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

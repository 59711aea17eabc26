/* A stand-in OpenAI-compatible server for the tests: POST .../chat/completions
 * answers with a known reply as an event stream, or fails, or stalls, as
 * told on its command line, and records every request it gets.
 *
 *   fake-openai --port P --log FILE --tokens FILE [--mode MODE] [--delay-ms D]
 *               [--mode-file F] [--probe-log FILE]
 *
 * FILE of tokens: one JSON string literal per line ("Hello", " w\u00f6rld").
 * MODE: ok (default), fail (HTTP 500), stall (no answer), stall-after:N
 * (N tokens, then silence), error-after:N (N tokens, then an error event),
 * tokens:FILE (the JSON strings of FILE instead of --tokens), endless (the
 * tokens over and over, never [DONE], in large writes as fast as the client
 * takes them), http-error:FILE (HTTP 500 with FILE's bytes as the body).
 * A stall notes in the log when the client hangs up during it. GET .../models
 * (a worker's probe) lists one model, or fails or stalls in those modes; it
 * is noted only with --probe-log FILE, as "probe".
 * With --mode-file F, each request reads "MODE [DELAY_MS]" from F, so that
 * a test can change the behaviour of a running server.
 * Events are cut across writes and bunched in one write on purpose, with
 * comments in between, as real servers and proxies do. A request's headers
 * and body go to the log; so does a client that hangs up mid-stream. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *log_path, *probe_log, *mode = "ok", *mode_file;
static char mode_buf[256];
static char **tokens;
static int ntokens, delay_ms;

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void note_in(const char *path, const char *what, const char *text, size_t len)
{
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "=== %s\n", what);
	fwrite(text, 1, len, f);
	fputs("\n", f);
	fclose(f);
}

static void note(const char *what, const char *text, size_t len)
{
	note_in(log_path, what, text, len);
}

static int put(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int puts_fd(int fd, const char *s) { return put(fd, s, strlen(s)); }

/* Says nothing for up to 120 s, noting if the client hangs up meanwhile. */
static void stall(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[256];
	time_t until = time(NULL) + 120;
	while (time(NULL) < until) {
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t r = read(fd, b, sizeof b);
		if (r == 0 || (r < 0 && errno != EINTR)) {
			note("closed by client during a stall", "", 0);
			return;
		}
	}
}

/* HTTP 500 with the bytes of a file as the body, whatever they are. */
static void http_error(int fd, const char *path)
{
	static char body[65536];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(body, 1, sizeof body, f) : 0;
	if (f)
		fclose(f);
	char head[200];
	snprintf(head, sizeof head, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
		 "text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
	if (!puts_fd(fd, head))
		put(fd, body, n);
}

/* The tokens over and over, 64 KB of events a write, until the client goes. */
static void endless(int fd)
{
	static char buf[65536 + 4096];
	long sent = 0;
	for (;;) {
		size_t len = 0;
		while (len < 65536) {
			len += (size_t)snprintf(buf + len, sizeof buf - len, "data: {\"choices\":[{\"index\":0,"
						"\"delta\":{\"content\":%s}}]}\n\n", tokens[sent % ntokens]);
			sent++;
		}
		if (put(fd, buf, len)) {
			note("closed by client during an endless stream", "", 0);
			return;
		}
		if (delay_ms)
			pause_ms(delay_ms);
	}
}

/* Reads the request; returns its length in buf (headers and body). */
static size_t read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0, need = 0;
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		if (!need) {
			char *cl = strcasestr(buf, "content-length:");
			need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (len >= need)
			break;
	}
	buf[len] = '\0';
	return len;
}

static void load_tokens(const char *path);

static void serve(int fd)
{
	static char req[1 << 20];
	size_t n = read_request(fd, req, sizeof req);
	int probe = !strncmp(req, "GET ", 4) && strstr(req, "/models ");
	if (!probe)
		note("request", req, n);
	else if (probe_log)
		note_in(probe_log, "probe", req, n);
	FILE *mf = mode_file ? fopen(mode_file, "r") : NULL;
	if (mf) {
		char line[300] = "";
		if (fgets(line, sizeof line, mf)) {
			int d = -1;
			if (sscanf(line, "%255s %d", mode_buf, &d) >= 1)
				mode = mode_buf;
			if (d >= 0)
				delay_ms = d;
		}
		fclose(mf);
	}
	if (!strncmp(mode, "tokens:", 7)) {
		/* this request streams another file's tokens (we are a forked child) */
		ntokens = 0;
		load_tokens(mode + 7);
		mode = "ok";
	}
	if (!strcmp(mode, "fail")) {
		const char *body = "{\"error\":{\"message\":\"the stand-in was told to fail\"}}";
		char head[200];
		snprintf(head, sizeof head, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
		puts_fd(fd, head);
		puts_fd(fd, body);
		return;
	}
	if (!strcmp(mode, "stall")) {
		stall(fd);
		return;
	}
	if (probe) {
		const char *body = "{\"object\":\"list\",\"data\":[{\"id\":\"fake-model\",\"object\":\"model\"}]}";
		char head[200];
		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
		if (!puts_fd(fd, head))
			puts_fd(fd, body);
		return;
	}
	if (!strncmp(mode, "http-error:", 11)) {
		http_error(fd, mode + 11);
		return;
	}
	int stall_after = !strncmp(mode, "stall-after:", 12) ? atoi(mode + 12) : -1;
	int error_after = !strncmp(mode, "error-after:", 12) ? atoi(mode + 12) : -1;
	puts_fd(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
		    "Connection: close\r\n\r\n: keep-alive\n\n");
	if (!strcmp(mode, "endless")) {
		endless(fd);
		return;
	}
	char ev[4096];
	for (int i = 0; i < ntokens; i++) {
		if (i == stall_after) {
			pause_ms(120000);
			return;
		}
		if (i == error_after) {
			puts_fd(fd, "data: {\"error\":{\"message\":\"the stand-in broke\",\"type\":\"server_error\"}}\n\n");
			return;
		}
		int len = snprintf(ev, sizeof ev, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
				   "\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n",
				   tokens[i]);
		int rc;
		if (i % 3 == 1) {
			/* cut in two writes */
			rc = put(fd, ev, (size_t)len / 2);
			pause_ms(2);
			rc = rc ? rc : put(fd, ev + len / 2, (size_t)(len - len / 2));
		} else if (i % 3 == 2 && i + 1 < ntokens && i + 1 != stall_after && i + 1 != error_after) {
			/* two events and a comment in one write */
			len += snprintf(ev + len, sizeof ev - (size_t)len, ": ping\n\ndata: {\"choices\":[{\"index\":0,"
					"\"delta\":{\"content\":%s}}]}\r\n\r\n", tokens[i + 1]);
			rc = put(fd, ev, (size_t)len);
			i++;
		} else
			rc = put(fd, ev, (size_t)len);
		if (rc) {
			char what[64];
			snprintf(what, sizeof what, "closed by client after %d tokens", i);
			note(what, "", 0);
			return;
		}
		if (delay_ms)
			pause_ms(delay_ms);
	}
	puts_fd(fd, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
		    "data: [DONE]\n\n");
}

static void load_tokens(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		tokens = realloc(tokens, (size_t)(ntokens + 1) * sizeof *tokens);
		tokens[ntokens++] = strdup(line);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--log"))
			log_path = argv[i + 1];
		else if (!strcmp(argv[i], "--tokens"))
			load_tokens(argv[i + 1]);
		else if (!strcmp(argv[i], "--mode"))
			mode = argv[i + 1];
		else if (!strcmp(argv[i], "--probe-log"))
			probe_log = argv[i + 1];
		else if (!strcmp(argv[i], "--mode-file"))
			mode_file = argv[i + 1];
		else if (!strcmp(argv[i], "--delay-ms"))
			delay_ms = atoi(argv[i + 1]);
	}
	if (!port || !log_path || !ntokens) {
		fprintf(stderr, "usage: fake-openai --port P --log FILE --tokens FILE [--mode M] [--delay-ms D]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) {
		perror("fake-openai: listen");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			serve(c);
			shutdown(c, SHUT_WR);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

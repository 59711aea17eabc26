/* sentinel_primary (redis_sentinel.c) against a sentinel that answers
 * garbage, or slowly: a forked fake on a loopback port answers whatever
 * the test gives it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_sentinel.h"
#include "redis_url.h"
#include "tap.h"
#include "util.h"

/* A sentinel that answers one connection's first read with the n bytes of answer, a byte
 * every drip_ms if drip_ms > 0; then holds the connection. Its port, and
 * its pid in *pid; 0 if it could not start. */
static int fake_sentinel(const char *answer, size_t n, int drip_ms, pid_t *pid)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		return 0;
	*pid = fork();
	if (*pid == 0) {
		char req[512];
		int c = accept(l, NULL, NULL);
		if (c >= 0 && read(c, req, sizeof req) > 0) {
			for (size_t i = 0; i < n; i += drip_ms > 0 ? 1 : n) {
				if (write(c, answer + i, drip_ms > 0 ? 1 : n) < 0)
					break;
				if (drip_ms > 0)
					usleep((useconds_t)drip_ms * 1000);
			}
		}
		sleep(30);  /* holds the connection; killed by the test */
		_exit(0);
	}
	close(l);
	return *pid > 0 ? ntohs(sa.sin_port) : 0;
}

/* sentinel_primary on one fake sentinel answering answer; its result, the
 * primary in *out, the time it took in *took_ms, the reason in why. */
static int ask(const char *answer, size_t n, int drip_ms, struct redis_addr *out, int64_t *took_ms, char *why,
	       size_t whylen)
{
	struct redis_cfg cfg = { .topology = REDIS_SENTINEL, .naddrs = 1 };
	pid_t pid = 0;
	snprintf(cfg.master, sizeof cfg.master, "mymaster");
	snprintf(cfg.addrs[0].host, sizeof cfg.addrs[0].host, "127.0.0.1");
	cfg.addrs[0].port = fake_sentinel(answer, n, drip_ms, &pid);
	if (!cfg.addrs[0].port)
		return -2;
	int64_t t0 = mono_us();
	int rc = sentinel_primary(&cfg, out, NULL, why, whylen);
	*took_ms = (mono_us() - t0) / 1000;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return rc;
}

#define LIT(s) s, sizeof s - 1

void test_redis_sentinel(void)
{
	struct redis_addr a;
	int64_t ms;
	char why[512], answer[600], host[301];

	CHECK(ask(LIT("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"), 0, &a, &ms, why, sizeof why) == 0 &&
	      !strcmp(a.host, "127.0.0.1") && a.port == 6380, "sentinel: a proper answer is the primary");

	memset(host, 'h', 300);
	host[300] = '\0';
	snprintf(answer, sizeof answer, "*2\r\n$300\r\n%s\r\n$4\r\n6379\r\n", host);
	CHECK(ask(answer, strlen(answer), 0, &a, &ms, why, sizeof why) == -1 && strstr(why, "unexpected host"),
	      "sentinel: a host of 300 bytes is refused, not cut to a host of 255");
	CHECK(ask(LIT("*2\r\n$5\r\nab\0cd\r\n$4\r\n6379\r\n"), 0, &a, &ms, why, sizeof why) == -1,
	      "sentinel: a host with a NUL inside is refused");
	CHECK(ask(LIT("*2\r\n$0\r\n\r\n$4\r\n6379\r\n"), 0, &a, &ms, why, sizeof why) == -1,
	      "sentinel: an empty host is refused");
	CHECK(ask(LIT("*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n"), 0, &a, &ms, why, sizeof why) == -1 &&
	      ask(LIT("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n"), 0, &a, &ms, why, sizeof why) == -1,
	      "sentinel: port 0 and port 99999 are refused");
	CHECK(ask(LIT("*2\r\n:1\r\n:6379\r\n"), 0, &a, &ms, why, sizeof why) == -1 &&
	      ask(LIT("*2\r\n+127.0.0.1\r\n+6379\r\n"), 0, &a, &ms, why, sizeof why) == -1 &&
	      ask(LIT("*2\r\n*1\r\n$1\r\nx\r\n$4\r\n6379\r\n"), 0, &a, &ms, why, sizeof why) == -1 &&
	      ask(LIT("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), 0, &a, &ms, why, sizeof why) == -1,
	      "sentinel: integers, status lines, a nested array, three elements are refused");
	CHECK(ask(LIT("$-1\r\n"), 0, &a, &ms, why, sizeof why) == -1 && strstr(why, "does not know"),
	      "sentinel: a nil answer is a master it does not know");
	CHECK(ask(LIT("*2000000000\r\n"), 0, &a, &ms, why, sizeof why) == -1 &&
	      ask(LIT("*2\r\n$2000000000\r\nab"), 0, &a, &ms, why, sizeof why) == -1 && ms < 2000,
	      "sentinel: an array or a string announced huge and never sent is refused in time");
	CHECK(ask(LIT(""), 0, &a, &ms, why, sizeof why) == -1 && ms < 2000,
	      "sentinel: one that never answers costs its timeout");
	/* 100 bytes of a host, one each 100 ms: 10 s if each read were the bound */
	snprintf(answer, sizeof answer, "*2\r\n$100\r\n%.100s\r\n$4\r\n6379\r\n", host);
	int rc = ask(answer, strlen(answer), 100, &a, &ms, why, sizeof why);
	CHECK(rc == -1 && ms < 3000, "sentinel: one that answers a byte at a time is given up on in time");
	printf("# dripping sentinel: %lld ms (%s)\n", (long long)ms, why);
}

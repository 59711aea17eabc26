/* src/common/heartbeat.c: the one HSET of a node's hash, its PEXPIRE and
 * its ZADD, as Redis receives them (a socketpair stands for Redis). */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "heartbeat.h"
#include "redis_sync.h"
#include "keys.h"
#include "strbuf.h"
#include "tap.h"

/* What the peer of fd has received so far (up to cap bytes). */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = recv(fd, buf + n, cap - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	return n;
}

static int same_as(const struct strbuf *got, const char *want, int want_len)
{
	return want_len > 0 && got->len == (size_t)want_len && !memcmp(got->buf, want, got->len);
}

static void test_hset(void)
{
	struct heartbeat hb;
	struct strbuf out = STRBUF_INIT;
	char *want = NULL;
	heartbeat_begin(&hb, key_node_ai, key_nodes_ai, "ai-1", 1700000000123LL, 5000);
	heartbeat_fields(&hb, "started_ms %lld ft_sum %.6f status %s", 1699999999000LL, 0.25,
			 "a value with spaces");
	const char *argv[] = { "req:chat:200", "7" };
	const size_t lens[] = { 12, 1 };
	heartbeat_fields_argv(&hb, 2, argv, lens);
	int want_len = redisFormatCommand(&want, "HSET %s id %s last_seen_ms %lld started_ms %lld "
					  "ft_sum %.6f status %s req:chat:200 7", "node:ai:{ai-1}", "ai-1",
					  1700000000123LL, 1699999999000LL, 0.25, "a value with spaces");
	CHECK(heartbeat_hset(&hb, &out) == 0 && same_as(&out, want, want_len),
	      "heartbeat: one HSET of id, last_seen_ms and the program's fields, a value with spaces one argument");
	CHECK(!strcmp(hb.set, "nodes:ai") && !strcmp(hb.key, "node:ai:{ai-1}"),
	      "heartbeat: the node's hash and its sorted set");
	redisFreeCommand(want);
	heartbeat_fields(&hb, "broken %Q", 1);
	CHECK(heartbeat_hset(&hb, &out) == -1 && out.len == 0 && heartbeat_send(&hb, NULL) == -1,
	      "heartbeat: a format hiredis cannot use sends nothing");
	heartbeat_release(&hb);
	sb_release(&out);
}

static void test_sync(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		CHECK(0, "heartbeat: socketpair");
		return;
	}
	struct rs *c = rs_wrap(redisConnectFd(sv[0]));
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_recoverd, key_nodes_recoverd, "rec-1", 42, 5000);
	heartbeat_fields(&hb, "requeued %lld", 3LL);

	/* Redis's three answers, there before the commands */
	const char answers[] = "+OK\r\n:1\r\n:1\r\n";
	CHECK(write(sv[1], answers, sizeof answers - 1) == (ssize_t)(sizeof answers - 1), "heartbeat: answers ready");
	CHECK(heartbeat_write(&hb, c) == 0, "heartbeat: a blocking write reads the three replies");
	char got[1024], *want = NULL;
	size_t n = drain(sv[1], got, sizeof got);
	struct strbuf all = STRBUF_INIT, hset = STRBUF_INIT;
	heartbeat_hset(&hb, &hset);
	sb_add(&all, hset.buf, hset.len);
	int len = redisFormatCommand(&want, "PEXPIRE %s 5000", "node:recoverd:{rec-1}");
	sb_add(&all, want, (size_t)len);
	redisFreeCommand(want);
	len = redisFormatCommand(&want, "ZADD %s 42 %s", "nodes:recoverd", "rec-1");
	sb_add(&all, want, (size_t)len);
	redisFreeCommand(want);
	CHECK(n == all.len && !memcmp(got, all.buf, n), "heartbeat: HSET, PEXPIRE of the TTL, ZADD at last_seen_ms");

	CHECK(heartbeat_append(&hb, c, 1) == 1, "heartbeat: the fields alone owe one reply");
	CHECK(heartbeat_append(&hb, c, 0) == 3, "heartbeat: with PEXPIRE and ZADD, three");
	close(sv[1]);
	rs_free(c);  /* closes sv[0], with what it did not send */

	/* a connection that fails: -1 */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	c = rs_wrap(redisConnectFd(sv[0]));
	close(sv[1]);
	void (*was)(int) = signal(SIGPIPE, SIG_IGN);  /* the write to a closed socket must fail, not kill */
	CHECK(heartbeat_write(&hb, c) == -1, "heartbeat: a lost connection fails the write");
	signal(SIGPIPE, was);
	rs_free(c);
	heartbeat_release(&hb);
	sb_release(&all);
	sb_release(&hset);
}

void test_heartbeat(void)
{
	keys_init("");
	test_hset();
	test_sync();
}

/* redis_cmd.c: formatted commands read back into argv (one, several in a
 * buffer, cut short, malformed) and which commands may be sent again. */
#include <hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cluster.h"
#include "redis_cmd.h"
#include "scripts.h"
#include "tap.h"

static int arg_is(const struct redis_argv *a, int i, const char *want)
{
	return i < a->argc && a->lens[i] == strlen(want) && memcmp(a->argv[i], want, a->lens[i]) == 0;
}

static void test_parse(void)
{
	struct redis_argv a = { 0 };
	char *cmd = NULL;
	int len = redisFormatCommand(&cmd, "HSET %s %b %s", "node:ai:{ai-0}", "a\r\nb\0c", (size_t)6, "");
	CHECK(redis_argv_parse(cmd, (size_t)len, &a) == len, "argv: one command, every byte taken");
	CHECK(a.argc == 4 && arg_is(&a, 0, "HSET") && arg_is(&a, 1, "node:ai:{ai-0}") && a.lens[2] == 6 &&
	      memcmp(a.argv[2], "a\r\nb\0c", 6) == 0 && a.lens[3] == 0,
	      "argv: binary and empty arguments as they were formatted");
	int ok = 1;
	for (int cut = 0; cut < len; cut++)
		ok &= redis_argv_parse(cmd, (size_t)cut, &a) == 0;
	CHECK(ok, "argv: a command cut anywhere is incomplete, not wrong");

	/* a pipeline's buffer: each command in turn, each with its own key */
	char *two = NULL;
	int len2 = redisFormatCommand(&two, "PEXPIRE %s %d", "node:ai:{ai-0}", 5000);
	char *buf = malloc((size_t)(len + len2));
	memcpy(buf, cmd, (size_t)len);
	memcpy(buf + len, two, (size_t)len2);
	long used = redis_argv_parse(buf, (size_t)(len + len2), &a);
	CHECK(used == len, "argv: the first of two commands");
	used = redis_argv_parse(buf + used, (size_t)(len + len2) - (size_t)used, &a);
	CHECK(used == len2 && a.argc == 3 && arg_is(&a, 0, "PEXPIRE") && arg_is(&a, 2, "5000"),
	      "argv: then the second");
	CHECK(rcluster_key_index(a.argc, a.argv, a.lens) == 1, "argv: routed by its own key");
	free(buf);
	redisFreeCommand(two);
	redisFreeCommand(cmd);

	const char *bad[] = { "PING\r\n", "*1\r\n:1\r\n", "*1\r\n$3\r\nGETX\r\n", "*x\r\n", "*1\r\n$-1\r\n",
			      "*0\r\n", "*1\r\n$1x\r\n" };
	ok = 1;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok &= redis_argv_parse(bad[i], strlen(bad[i]), &a) == -1 && a.argc == 0;
	CHECK(ok, "argv: what is not an array of bulk strings is refused");
	CHECK(redis_argv_parse("", 0, &a) == 0, "argv: nothing is incomplete");
	redis_argv_free(&a);
}

static int flags(int argc, const char *const *argv)
{
	return redis_cmd_flags(argc, argv, NULL);
}

static void test_flags(void)
{
	const char *get[] = { "lrange", "k", "0", "-1" }, *hset[] = { "HSET", "k", "f", "v" };
	const char *xadd[] = { "XADD", "jobs:ready", "*", "p", "1" }, *incr[] = { "INCR", "k" };
	const char *xrg[] = { "XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">" };
	CHECK(flags(4, get) == RC_IDEMPOTENT && flags(4, hset) == RC_IDEMPOTENT,
	      "resend: a read and an HSET of the same values may run twice");
	CHECK(flags(5, xadd) == 0 && flags(2, incr) == 0 && flags(7, xrg) == 0,
	      "resend: XADD, INCR, XREADGROUP may not");
	CHECK(redis_cmd_is(4, get, NULL, "LRANGE") && !redis_cmd_is(4, get, NULL, "LRANG"),
	      "command names: any case, whole");
}

/* the watch of a transaction: WATCH by its key, MULTI/EXEC have none */
static void test_transaction_keys(void)
{
	const char *watch[] = { "WATCH", "stream:session:{t}s", "chat:history:{t}s" };
	const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" }, *unwatch[] = { "UNWATCH" };
	const char *xgroup[] = { "XGROUP", "CREATE", "jobs:{u0}", "ai-streamers", "0", "MKSTREAM" };
	const char *scan[] = { "SCAN", "0", "MATCH", "streams:user:*" };
	CHECK(rcluster_key_index(3, watch, NULL) == 1, "key: WATCH's first key");
	CHECK(rcluster_key_index(1, multi, NULL) == -1 && rcluster_key_index(1, exec, NULL) == -1 &&
	      rcluster_key_index(1, unwatch, NULL) == -1, "key: MULTI, EXEC, UNWATCH have none");
	CHECK(rcluster_key_index(6, xgroup, NULL) == 2, "key: XGROUP's key follows its subcommand");
	CHECK(rcluster_key_index(4, scan, NULL) == -1, "key: SCAN has none (it runs on each primary)");
}

void test_redis_cmd(void)
{
	test_parse();
	test_flags();
	test_transaction_keys();
}

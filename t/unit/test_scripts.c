#include <hiredis.h>
#include <limits.h>
#include <stdlib.h>

#include "frame.h"
#include "scripts.h"
#include "sha1.h"
#include "strbuf.h"
#include "tap.h"

/* sb_add_int against printf, at the edges of long long */
static void check_int(long long v)
{
	struct strbuf sb = STRBUF_INIT;
	char want[32], name[80];
	sb_adds(&sb, "x");
	sb_add_int(&sb, v);
	snprintf(want, sizeof want, "x%lld", v);
	snprintf(name, sizeof name, "sb_add_int writes %lld as printf does", v);
	CHECK_STR(sb.buf, want, name);
	sb_release(&sb);
}

/* Whether the loaded text of append.lua and finish.lua calls publish, and
 * no other publishing command, and each SHA is that of its loaded text. */
static int loaded_publish(const char *publish)
{
	enum script_id ids[] = { SCRIPT_APPEND, SCRIPT_FINISH };
	char call[64], other[64], sha[41];
	snprintf(call, sizeof call, "redis.call('%s',", publish);
	snprintf(other, sizeof other, "redis.call('%s',", strcmp(publish, "PUBLISH") ? "PUBLISH" : "SPUBLISH");
	for (size_t i = 0; i < 2; i++) {
		const struct script *s = script_get(ids[i]);
		sha1_hex(s->body, s->len, sha);
		if (!memmem(s->body, s->len, call, strlen(call)) || memmem(s->body, s->len, other, strlen(other)) ||
		    strcmp(sha, s->sha))
			return 0;
	}
	return 1;
}

static void check_publish_command(void)
{
	scripts_load("share", "SPUBLISH");
	char cluster_sha[41];
	memcpy(cluster_sha, script_get(SCRIPT_APPEND)->sha, sizeof cluster_sha);
	size_t cluster_len = script_get(SCRIPT_APPEND)->len;
	CHECK(loaded_publish("SPUBLISH"), "on a Cluster the scripts are loaded with SPUBLISH, their SHAs of that text");
	scripts_load("share", "PUBLISH");
	CHECK(loaded_publish("PUBLISH"), "elsewhere the scripts are loaded with PUBLISH, as written");
	CHECK(strcmp(cluster_sha, script_get(SCRIPT_APPEND)->sha) != 0 && cluster_len == script_get(SCRIPT_APPEND)->len + 1,
	      "the two texts differ only by the S: so do their SHAs");
}

void test_scripts(void)
{
	check_publish_command();

	const long long ints[] = { 0, 7, -1, 10, 99, 1795387501123LL, LLONG_MAX, LLONG_MIN };
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
		check_int(ints[i]);

	/* the EVALSHA formatted by hand is byte for byte what hiredis makes */
	const char *keys[] = { "stream:chunks:{m1}", "stream:lock:{m1}" };
	const char *args[] = { "node:owner", "12", "a\r\nb", "", "{\"x\":1}" };
	size_t lens[] = { 10, 2, 4, 0, 7 };
	const char *argv[3 + 2 + 5];
	size_t argl[3 + 2 + 5];
	char nk[16];
	script_argv(SCRIPT_APPEND, 2, keys, 5, args, lens, argv, argl, nk);
	char *want = NULL;
	int wl = redisFormatCommandArgv(&want, 10, argv, argl);
	struct strbuf got = STRBUF_INIT;
	sb_adds(&got, "before");
	script_resp(&got, SCRIPT_APPEND, 2, keys, 5, args, lens);
	CHECK(wl > 0 && got.len == 6 + (size_t)wl && !memcmp(got.buf + 6, want, (size_t)wl),
	      "script_resp formats EVALSHA as hiredis does, binary arguments included");
	sb_reset(&got);
	script_resp(&got, SCRIPT_RENEW, 1, keys, 2, args, NULL);
	script_argv(SCRIPT_RENEW, 1, keys, 2, args, NULL, argv, argl, nk);
	free(want);
	wl = redisFormatCommandArgv(&want, 6, argv, argl);
	CHECK(wl > 0 && got.len == (size_t)wl && !memcmp(got.buf, want, (size_t)wl),
	      "script_resp measures C strings when no lengths are given");
	free(want);
	sb_release(&got);

	/* frame_chunk's exact bytes, timestamp included */
	struct strbuf f = STRBUF_INIT;
	frame_chunk(&f, "s1", "m1", 1234567, "hi", 2, 1795387501123LL);
	CHECK_STR(f.buf, "{\"type\":\"chunk\",\"sessionId\":\"s1\",\"messageId\":\"m1\",\"index\":1234567,"
		  "\"content\":\"hi\",\"ts\":1795387501123}", "a chunk frame with its timestamp, byte for byte");
	sb_release(&f);
}

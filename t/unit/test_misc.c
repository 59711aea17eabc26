#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ai-streamer/generator.h"
#include "chat-cli/wsclient.h"
#include "keys.h"
#include "redis_url.h"
#include "sha1.h"
#include "strbuf.h"
#include "tap.h"
#include "util.h"
#include "validate.h"

void test_misc(void)
{
	struct redis_cfg c;
	const char *err;
	CHECK(redis_url_parse("redis://127.0.0.1:6390/2", &c, &err) == 0 && c.port == 6390 && c.db == 2 &&
	      !strcmp(c.host, "127.0.0.1"), "REDIS_URL host, port and db");
	CHECK(redis_url_parse("redis://:s%40cret@h", &c, &err) == 0 && !strcmp(c.password, "s@cret") &&
	      c.port == 6379 && !strcmp(c.host, "h"), "REDIS_URL password, percent-decoded");
	CHECK(redis_url_parse("redis://app:pw@h:1/0", &c, &err) == 0 && !strcmp(c.user, "app"), "REDIS_URL ACL user");
	CHECK(redis_url_parse("redis://:@redis:6379/0", &c, &err) == 0 && !c.password[0] && !c.user[0] &&
	      !strcmp(c.host, "redis"), "REDIS_URL with an empty password (compose without REDIS_PASSWORD)");
	CHECK(redis_url_parse("unix:/run/redis.sock?db=3", &c, &err) == 0 && !strcmp(c.path, "/run/redis.sock") &&
	      c.db == 3, "REDIS_URL unix socket");
	CHECK(redis_url_parse("http://x", &c, &err) == -1, "a foreign scheme is refused");
	CHECK(redis_url_parse("redis://h:99999", &c, &err) == -1, "a bad port is refused");
	CHECK(redis_url_parse("redis://h/x", &c, &err) == -1, "a bad db is refused");
	CHECK(redis_url_parse("redis://:se/cr@t:pw@127.0.0.1:6390/3", &c, &err) == 0 &&
	      !strcmp(c.password, "se/cr@t:pw") && !c.user[0] && !strcmp(c.host, "127.0.0.1") &&
	      c.port == 6390 && c.db == 3, "REDIS_URL: a password with '/', '@' and ':' as it is");
	CHECK(redis_url_parse("redis://:se%2Fcr%40t%3Apw@h/1", &c, &err) == 0 &&
	      !strcmp(c.password, "se/cr@t:pw") && c.db == 1, "REDIS_URL: the same password escaped");
	CHECK(redis_url_parse("redis://a%2Fb:p%25w@h", &c, &err) == 0 && !strcmp(c.user, "a/b") &&
	      !strcmp(c.password, "p%w"), "REDIS_URL: user and password percent-decoded");
	CHECK(redis_url_parse("redis://:p%zzw@h", &c, &err) == -1 && strstr(err, "escaped"),
	      "REDIS_URL: a bad escape is refused");
	CHECK(redis_url_parse("redis://:p%00w@h", &c, &err) == -1, "REDIS_URL: an escaped NUL is refused");

	char shown[128];
	redis_url_masked("redis://:se/cr@t:pw@127.0.0.1:6390/3", shown, sizeof shown);
	CHECK(!strcmp(shown, "redis://:***@127.0.0.1:6390/3"), "REDIS_URL masked: the password, whatever it holds");
	redis_url_masked("redis://app:p%zzw@h", shown, sizeof shown);
	CHECK(!strcmp(shown, "redis://app:***@h"), "REDIS_URL masked: the user is kept, the password is not");
	redis_url_masked("redis://secret@h", shown, sizeof shown);
	CHECK(!strcmp(shown, "redis://***@h"), "REDIS_URL masked: credentials without ':' all hidden");
	redis_url_masked("http://u:secret@h", shown, sizeof shown);
	CHECK(!strcmp(shown, "http://u:***@h"), "REDIS_URL masked: whatever the scheme");
	redis_url_masked("redis://127.0.0.1:6379/0", shown, sizeof shown);
	CHECK(!strcmp(shown, "redis://127.0.0.1:6379/0"), "REDIS_URL masked: nothing to hide, nothing hidden");
	redis_url_masked("redis://:a-very-long-secret@host", shown, 12);
	CHECK(!strstr(shown, "secret") && !strstr(shown, "a-very"), "REDIS_URL masked: cut short, still hidden");

	char hex[41];
	sha1_hex("abc", 3, hex);
	CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1 of abc");
	sha1_hex("", 0, hex);
	CHECK_STR(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 of nothing");
	const char *l = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha1_hex(l, strlen(l), hex);
	CHECK_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "sha1 across two blocks");

	struct generator g1, g2;
	char t1[TOKEN_MAX], t2[TOKEN_MAX];
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	gen_init(&g1, "hello world", 11, 512);
	CHECK(g1.total == 12, "the reply has 8 + 2 tokens per word of the prompt");
	size_t len;
	long count = 0;
	int all_utf8 = 1;
	while ((len = gen_next(&g1, t1)) > 0) {
		sb_add(&a, t1, len);
		all_utf8 &= valid_utf8(t1, len);
		count++;
	}
	CHECK(count == 12 && all_utf8, "every token is valid UTF-8");
	gen_init(&g2, "hello world", 11, 512);
	gen_skip(&g2, 5);
	for (int i = 0; i < 5; i++) {
		struct generator g3;
		gen_init(&g3, "hello world", 11, 512);
		(void)g3;
	}
	gen_init(&g1, "hello world", 11, 512);
	for (int i = 0; i < 5; i++)
		sb_add(&b, t1, gen_next(&g1, t1));
	while ((len = gen_next(&g2, t2)) > 0)
		sb_add(&b, t2, len);
	CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len), "resuming after n tokens continues exactly");
	gen_init(&g1, "x", 1, 3);
	CHECK(g1.total == 3, "AI_MAX_TOKENS caps the reply");

	/* the default style reads as sentences and quotes the prompt; the
	 * hostile one (the suite's) carries the characters that need escaping */
	CHECK(gen_set_style("nonsense") == -1, "an unknown GENERATOR is refused");
	struct strbuf text = STRBUF_INIT;
	const char *prompt = "how do replies survive a reload";
	CHECK(gen_set_style("sentences") == 0, "GENERATOR=sentences");
	gen_init(&g1, prompt, strlen(prompt), 512);
	while ((len = gen_next(&g1, t1)) > 0)
		sb_add(&text, t1, len);
	sb_addc(&text, '\0');
	CHECK(g1.total == 20 && !strncmp(text.buf, "You wrote \u201chow do replies survive\u2026\u201d. ", 35),
	      "a sentences reply starts by quoting the prompt");
	CHECK(!strpbrk(text.buf, "\\<\"") && strchr(".!", text.buf[strlen(text.buf) - 1]),
	      "and goes on in plain sentences, ending one");
	CHECK(gen_set_style("hostile") == 0, "GENERATOR=hostile");
	int escapes = 0;
	for (int p = 0; p < 20 && !escapes; p++) {
		char pr[32];
		snprintf(pr, sizeof pr, "p%d a b c d e f", p);
		gen_init(&g1, pr, strlen(pr), 512);
		while ((len = gen_next(&g1, t1)) > 0)
			escapes |= memchr(t1, '"', len) || memchr(t1, '\\', len);
	}
	CHECK(escapes, "hostile replies carry quotes and backslashes");
	gen_set_style("sentences");
	sb_release(&text);
	sb_release(&a);
	sb_release(&b);

	char host[64], path[64];
	int port;
	CHECK(url_split("ws://127.0.0.1:8081/ws/chat", host, sizeof host, &port, path, sizeof path) == 0 &&
	      port == 8081 && !strcmp(path, "/ws/chat") && !strcmp(host, "127.0.0.1"), "url_split");
	CHECK(url_split("http://localhost", host, sizeof host, &port, path, sizeof path) == 0 && port == 80 &&
	      !strcmp(path, "/"), "url_split defaults");
	CHECK(url_split("wss://x", host, sizeof host, &port, path, sizeof path) == -1, "TLS URLs are refused");

	struct strbuf j = STRBUF_INIT;
	sb_add_json_str(&j, "\xe6\x97\xa5\t</", 6);
	CHECK_STR(j.buf, "\"\xe6\x97\xa5\\t</\"", "JSON strings keep UTF-8 and escape tabs");
	sb_release(&j);

	/* larger than sb_add_file's read buffer, appended after what is there */
	char tmp[] = "/tmp/test_misc.XXXXXX";
	char tmpl[sizeof tmp];
	memcpy(tmpl, tmp, sizeof tmp);
	int fd = mkstemp(tmp);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	for (int i = 0; f && i < 1000; i++)
		fprintf(f, "line %04d\n", i);
	if (f)
		fclose(f);
	struct strbuf fb = STRBUF_INIT;
	sb_adds(&fb, ">");
	CHECK(sb_add_file(&fb, tmp) == 0 && fb.len == 1 + 10000 && !strncmp(fb.buf, ">line 0000\n", 11) &&
		      !strcmp(fb.buf + fb.len - 10, "line 0999\n"),
	      "sb_add_file appends a whole file");
	unlink(tmp);
	CHECK(sb_add_file(&fb, tmp) == -1 && fb.len == 1 + 10000, "sb_add_file: a missing file, -1, nothing added");
	sb_release(&fb);

	/* an empty file (an empty script) still detaches as a string */
	struct strbuf eb = STRBUF_INIT;
	size_t elen = 1;
	char *es = NULL;
	memcpy(tmp, tmpl, sizeof tmp);
	fd = mkstemp(tmp);
	if (fd >= 0)
		close(fd);
	if (sb_add_file(&eb, tmp) == 0)
		es = sb_detach(&eb, &elen);
	unlink(tmp);
	CHECK(es && elen == 0 && es[0] == '\0', "sb_detach of an empty strbuf is an empty string");
	free(es);

	long long last = 0;
	CHECK(retry_due(&last, 3600000000LL) && last > 0, "retry_due: the first try is due, and noted");
	CHECK(!retry_due(&last, 3600000000LL), "retry_due: not again within the interval");
	CHECK(retry_due(&last, 0), "retry_due: again once the interval has passed");
}

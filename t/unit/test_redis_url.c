/* REDIS_URL's topologies (redis_url.c) and the pure parts of Sentinel
 * support (redis_sentinel.c). */
#include <hiredis.h>

#include "redis_sentinel.h"
#include "redis_url.h"
#include "tap.h"

static void sentinel_urls(void)
{
	struct redis_cfg c;
	const char *err;
	CHECK(redis_url_parse("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,h3/mymaster", &c, &err) == 0 &&
	      c.topology == REDIS_SENTINEL && c.naddrs == 3 && !strcmp(c.master, "mymaster") &&
	      !strcmp(c.addrs[0].host, "127.0.0.1") && c.addrs[0].port == 26379 &&
	      c.addrs[1].port == 26380 && !strcmp(c.addrs[2].host, "h3") && c.addrs[2].port == 26379,
	      "sentinel URL: sentinels in order, the default port 26379, the master's name");
	CHECK(redis_url_parse("redis+sentinel://app:s%40cret@s1:1,s2:2/m.1_x-y", &c, &err) == 0 &&
	      !strcmp(c.user, "app") && !strcmp(c.password, "s@cret") && c.naddrs == 2 &&
	      !strcmp(c.master, "m.1_x-y"), "sentinel URL: credentials for the data nodes, decoded");
	CHECK(redis_url_parse("redis+sentinel://:p/w@d@s1:26379/m", &c, &err) == 0 &&
	      !strcmp(c.password, "p/w@d") && c.naddrs == 1 && !strcmp(c.master, "m"),
	      "sentinel URL: a password with '/' and '@' as it is");
	CHECK(redis_url_parse("redis+sentinel://s1:26379", &c, &err) == -1 && strstr(err, "MASTERNAME"),
	      "sentinel URL without a master name is refused");
	CHECK(redis_url_parse("redis+sentinel://s1:26379/", &c, &err) == -1, "sentinel URL with an empty master name is refused");
	CHECK(redis_url_parse("redis+sentinel://s1/a/b", &c, &err) == -1, "sentinel URL: a master name with '/' is refused");
	CHECK(redis_url_parse("redis+sentinel://s1:0/m", &c, &err) == -1 && strstr(err, "port"),
	      "sentinel URL: a bad port is refused");
	CHECK(redis_url_parse("redis+sentinel://s1,,s2/m", &c, &err) == -1 && strstr(err, "host"),
	      "sentinel URL: an empty address is refused");
	CHECK(redis_url_parse("redis+sentinel:///m", &c, &err) == -1, "sentinel URL without sentinels is refused");
	char many[400] = "redis+sentinel://";
	for (int i = 0; i < 17; i++)
		strcat(many, i ? ",h:1" : "h:1");
	strcat(many, "/m");
	CHECK(redis_url_parse(many, &c, &err) == -1 && strstr(err, "16"), "more than 16 sentinels are refused");
}

static void cluster_urls(void)
{
	struct redis_cfg c;
	const char *err;
	CHECK(redis_url_parse("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001,n3", &c, &err) == 0 &&
	      c.topology == REDIS_CLUSTER && c.naddrs == 3 && c.addrs[0].port == 7000 &&
	      c.addrs[1].port == 7001 && c.addrs[2].port == 6379 && !strcmp(c.password, "pw") &&
	      !c.master[0], "cluster URL: seed nodes, the default port 6379, the password");
	CHECK(redis_url_parse("redis+cluster://h:7000/", &c, &err) == 0 && c.naddrs == 1,
	      "cluster URL: a trailing slash is fine");
	CHECK(redis_url_parse("redis+cluster://h:7000/2", &c, &err) == -1 && strstr(err, "db 0"),
	      "cluster URL: a database is refused");
	CHECK(redis_url_parse("redis://h:1", &c, &err) == 0 && c.topology == REDIS_SINGLE && c.naddrs == 0,
	      "redis:// stays the single topology");
	CHECK(redis_url_parse("redis+sentinel://h/m", &c, &err) == 0 && c.topology == REDIS_SENTINEL,
	      "sentinel URL is parsed");
	CHECK(redis_url_parse("rediss://h", &c, &err) == -1 && strstr(err, "redis+sentinel://"),
	      "an unknown scheme is refused, naming the known ones");
	char shown[128];
	redis_url_masked("redis+sentinel://:secret@s1:26379,s2:26379/m", shown, sizeof shown);
	CHECK_STR(shown, "redis+sentinel://:***@s1:26379,s2:26379/m", "sentinel URL masked");
}

static void sentinel_answers(void)
{
	char why[200];
	redisReply role_s = { .type = REDIS_REPLY_STRING, .str = "slave", .len = 5 };
	redisReply role_m = { .type = REDIS_REPLY_STRING, .str = "master", .len = 6 };
	redisReply *els_s[] = { &role_s }, *els_m[] = { &role_m };
	redisReply replica = { .type = REDIS_REPLY_ARRAY, .elements = 1, .element = els_s };
	redisReply primary = { .type = REDIS_REPLY_ARRAY, .elements = 1, .element = els_m };
	redisReply err = { .type = REDIS_REPLY_ERROR, .str = "NOAUTH Authentication required." };
	CHECK(role_refused(&primary, why, sizeof why) == 0, "ROLE master is the primary");
	CHECK(role_refused(&replica, why, sizeof why) == -1 && strstr(why, "slave"),
	      "ROLE slave is refused, saying so");
	CHECK(role_refused(&err, why, sizeof why) == -1 && strstr(why, "NOAUTH"), "a ROLE error is refused");
	CHECK(role_refused(NULL, why, sizeof why) == -1, "no ROLE answer is refused");

	redisReply ro = { .type = REDIS_REPLY_ERROR, .str = "READONLY You can't write against a read only replica." };
	CHECK(reply_demoted(&ro), "READONLY means demoted");
	CHECK(!reply_demoted(&err) && !reply_demoted(&primary) && !reply_demoted(NULL),
	      "other answers do not");

	const char *sw = "mymaster 127.0.0.1 6380 127.0.0.1 6381";
	CHECK(switch_names_master(sw, strlen(sw), "mymaster"), "+switch-master of our master");
	CHECK(!switch_names_master(sw, strlen(sw), "mymast"), "+switch-master of a longer name is not ours");
	CHECK(!switch_names_master(sw, strlen(sw), "mymaster2"), "+switch-master of another master is not ours");
}

void test_redis_url(void)
{
	sentinel_urls();
	cluster_urls();
	sentinel_answers();
}

#include <hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slot.h"
#include "redis_cluster.h"
#include "tap.h"

/* The slot Redis gives (CLUSTER KEYSLOT on a redis-server 7.0). */
static int slot_of(const char *key)
{
	return cluster_key_slot(key, strlen(key));
}

static void test_slots(void)
{
	CHECK(crc16_xmodem("123456789", 9) == 0x31C3, "CRC16 XMODEM of 123456789 is 0x31C3");
	CHECK(crc16_xmodem("", 0) == 0, "CRC16 of nothing is 0");
	CHECK(slot_of("foo") == 12182, "slot of foo as Redis");
	CHECK(slot_of("bar") == 5061, "slot of bar as Redis");
	CHECK(slot_of("123456789") == 12739, "slot of 123456789 as Redis");
	CHECK(slot_of("") == 0, "slot of the empty key");
	CHECK(slot_of("foo{}{bar}") == 8363, "foo{}{bar}: an empty first tag hashes the whole key");
	CHECK(slot_of("foo{{bar}}") == 4015 && slot_of("{bar") == 4015, "foo{{bar}} hashes {bar");
	CHECK(slot_of("foo{bar}{zap}") == 5061, "foo{bar}{zap} hashes bar");
	CHECK(slot_of("a{}") == 6082 && slot_of("{}") == 15257, "an empty tag alone: the whole key");
	CHECK(slot_of("x{y") == 2740, "an unclosed tag: the whole key");
	CHECK(slot_of("user:{42}:x") == 8000 && slot_of("{42}") == 8000, "keys of one tag share a slot");
	CHECK(cluster_key_slot("{a\0b}x", 6) == cluster_key_slot("a\0b", 3), "binary keys: length, not NUL");
}

static enum cluster_error parse(const char *s, struct cluster_redirect *r)
{
	memset(r, 0, sizeof *r);
	return cluster_error_parse(s, strlen(s), r);
}

static void test_errors(void)
{
	struct cluster_redirect r;
	CHECK(parse("MOVED 3999 127.0.0.1:6381", &r) == CLUSTER_ERR_MOVED && r.slot == 3999 &&
	      !strcmp(r.to.host, "127.0.0.1") && r.to.port == 6381, "MOVED slot host:port");
	CHECK(parse("ASK 16383 redis-b:7002", &r) == CLUSTER_ERR_ASK && r.slot == 16383 &&
	      !strcmp(r.to.host, "redis-b") && r.to.port == 7002, "ASK slot host:port");
	CHECK(parse("MOVED 0 ::1:7000", &r) == CLUSTER_ERR_MOVED && !strcmp(r.to.host, "::1") &&
	      r.to.port == 7000, "MOVED to an IPv6 address: split at the last colon");
	CHECK(parse("MOVED 12 :7003", &r) == CLUSTER_ERR_MOVED && !r.to.host[0] && r.to.port == 7003,
	      "MOVED with an unknown endpoint: empty host, port kept");
	CHECK(parse("TRYAGAIN Multiple keys request during rehashing of slot", &r) == CLUSTER_ERR_TRYAGAIN,
	      "TRYAGAIN");
	CHECK(parse("CLUSTERDOWN The cluster is down", &r) == CLUSTER_ERR_DOWN, "CLUSTERDOWN");
	CHECK(parse("CLUSTERDOWN Hash slot not served", &r) == CLUSTER_ERR_DOWN, "CLUSTERDOWN slot not served");
	CHECK(parse("MOVED 16384 h:1", &r) == CLUSTER_ERR_NONE, "MOVED to a slot past 16383 is not a redirect");
	CHECK(parse("MOVED x h:1", &r) == CLUSTER_ERR_NONE, "MOVED without a slot number");
	CHECK(parse("MOVED 5 h", &r) == CLUSTER_ERR_NONE, "MOVED without a port");
	CHECK(parse("MOVED 5 h:70000", &r) == CLUSTER_ERR_NONE, "MOVED with a port out of range");
	CHECK(parse("MOVED 5 h:", &r) == CLUSTER_ERR_NONE, "MOVED with an empty port");
	CHECK(parse("MOVED", &r) == CLUSTER_ERR_NONE, "MOVED alone");
	CHECK(parse("MOVEDX 5 h:1", &r) == CLUSTER_ERR_NONE, "a longer word is not MOVED");
	CHECK(parse("ASKING 5 h:1", &r) == CLUSTER_ERR_NONE, "ASKING is not ASK");
	CHECK(parse("ERR unknown command", &r) == CLUSTER_ERR_NONE, "an ordinary error");
	CHECK(parse("CROSSSLOT Keys in request don't hash to the same slot", &r) == CLUSTER_ERR_NONE,
	      "CROSSSLOT is the caller's error, not a retry");
	CHECK(cluster_error_parse("MOVED 7 h:12", 9, &r) == CLUSTER_ERR_NONE,
	      "the reply's length bounds the parse");
	CHECK(cluster_error_parse(NULL, 0, &r) == CLUSTER_ERR_NONE, "no text");
}

/* A reply as hiredis reads it off the wire. */
static redisReply *resp(const char *wire)
{
	redisReader *rd = redisReaderCreate();
	void *out = NULL;
	redisReaderFeed(rd, wire, strlen(wire));
	if (redisReaderGetReply(rd, &out) != REDIS_OK)
		out = NULL;
	redisReaderFree(rd);
	return out;
}

#define NODE(host, port, id) "*3\r\n$" #host "\r\n:" #port "\r\n$40\r\n" id "\r\n"
#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_map(void)
{
	struct cluster_map m;
	char err[160];
	cluster_map_init(&m);
	CHECK(cluster_map_covered(&m) == 0, "an empty map owns nothing");

	/* three primaries (one with a replica), the second with an unknown endpoint */
	redisReply *r = resp(
		"*3\r\n"
		"*4\r\n:0\r\n:5460\r\n"
		"*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$1\r\na\r\n"
		"*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$1\r\nd\r\n"
		"*3\r\n:5461\r\n:10922\r\n"
		"*3\r\n$1\r\n?\r\n:7001\r\n$1\r\nb\r\n"
		"*3\r\n:10923\r\n:16383\r\n"
		"*4\r\n$9\r\n127.0.0.1\r\n:7002\r\n$1\r\nc\r\n*0\r\n");
	CHECK(r != NULL, "the CLUSTER SLOTS fixture reads");
	CHECK(cluster_map_from_slots(&m, r, "10.0.0.9", err, sizeof err) == 0, "CLUSTER SLOTS parses");
	CHECK(m.nnodes == 3, "three primaries, replicas not among them");
	CHECK(cluster_map_covered(&m) == CLUSTER_SLOTS, "every slot owned");
	CHECK(m.nodes[m.owner[0]].port == 7000 && m.nodes[m.owner[5460]].port == 7000, "0-5460 on 7000");
	CHECK(m.nodes[m.owner[5461]].port == 7001 && !strcmp(m.nodes[m.owner[5461]].host, "10.0.0.9"),
	      "an unknown endpoint is the node that answered");
	CHECK(m.nodes[m.owner[16383]].port == 7002, "the last slot on 7002");
	freeReplyObject(r);

	/* a partial map: slots 100-199 and 300 only, two ranges on one node */
	r = resp("*2\r\n"
		 "*3\r\n:100\r\n:199\r\n*2\r\n$1\r\nh\r\n:1\r\n"
		 "*3\r\n:300\r\n:300\r\n*2\r\n$1\r\nh\r\n:1\r\n");
	CHECK(cluster_map_from_slots(&m, r, "x", err, sizeof err) == 0 && m.nnodes == 1 &&
	      cluster_map_covered(&m) == 101 && m.owner[99] == -1 && m.owner[300] == 0,
	      "a partial map replaces the old one; one node listed once");
	freeReplyObject(r);

	static const char *bad[] = {
		"-ERR This instance has cluster support disabled\r\n",
		"$2\r\nno\r\n",
		"*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",         /* start after end */
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",     /* past the last slot */
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",         /* port 0 */
		"*1\r\n*2\r\n:0\r\n:1\r\n",                                /* no node */
		"*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n",   /* start as a string */
		"*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",              /* node without port */
		"*1\r\n:7\r\n",                                            /* entry not an array */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r = resp(bad[i]);
		err[0] = 0;
		int rc = cluster_map_from_slots(&m, r, "x", err, sizeof err);
		char name[80];
		snprintf(name, sizeof name, "a bad CLUSTER SLOTS reply (%zu) refused, map kept", i);
		CHECK(rc == -1 && err[0] && cluster_map_covered(&m) == 101, name);
		freeReplyObject(r);
	}
	r = resp("-ERR This instance has cluster support disabled\r\n");
	cluster_map_from_slots(&m, r, "x", err, sizeof err);
	CHECK(strstr(err, "cluster support disabled") != NULL, "a non-cluster Redis: its own words in the error");
	freeReplyObject(r);
	CHECK(cluster_map_from_slots(&m, NULL, "x", err, sizeof err) == -1, "no reply refused");
	cluster_map_free(&m);
	CHECK(m.nnodes == 0 && cluster_map_covered(&m) == 0, "a freed map is empty");
}

static int key_index(int argc, const char *const *argv)
{
	return rcluster_key_index(argc, argv, NULL);
}

static void test_key_index(void)
{
	const char *get[] = { "GET", "k" };
	const char *eval[] = { "EVALSHA", "abc", "2", "k1", "k2", "a" };
	const char *eval0[] = { "eval", "return 1", "0" };
	const char *evalbad[] = { "EVAL", "s", "x", "k" };
	const char *xrg[] = { "XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "BLOCK", "0", "streams", "s1", ">" };
	const char *xr[] = { "XREAD", "COUNT", "1", "STREAMS", "s", "0" };
	const char *xrnone[] = { "XREAD", "COUNT", "1" };
	const char *ping[] = { "PING" };
	const char *script[] = { "SCRIPT", "LOAD", "return 1" };
	const char *wait[] = { "WAIT", "1", "100" };
	CHECK(key_index(2, get) == 1, "key index: argv[1] of an ordinary command");
	CHECK(key_index(6, eval) == 3, "key index: EVALSHA's first key");
	CHECK(key_index(3, eval0) == -1, "key index: an EVAL without keys has none (any primary)");
	CHECK(key_index(4, evalbad) == -1, "key index: an EVAL with a bad key count has none");
	CHECK(key_index(11, xrg) == 9, "key index: XREADGROUP's first stream, after STREAMS in any case");
	CHECK(key_index(6, xr) == 4, "key index: XREAD's first stream");
	CHECK(key_index(3, xrnone) == -1, "key index: XREAD without STREAMS");
	CHECK(key_index(1, ping) == -1 && key_index(3, script) == -1 && key_index(3, wait) == -1,
	      "key index: PING, SCRIPT LOAD, WAIT have no key");
	size_t lens[] = { 4, 1, 1, 2, 2, 1 };
	const char *evall[] = { "EVAL", "s", "1kk", "k1", "k2", "a" };
	CHECK(rcluster_key_index(6, evall, lens) == 3, "key index: lengths given, not NUL-terminated");
}

void test_cluster_slot(void)
{
	test_key_index();
	test_slots();
	test_errors();
	test_map();
}

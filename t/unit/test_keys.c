/* keys.h: partitions, their hash tags, and names that keep every key of a
 * session and of its messages in one Redis Cluster slot. */
#include <stdio.h>
#include <string.h>

#include "cluster_slot.h"
#include "keys.h"
#include "ready.h"
#include "tap.h"
#include "util.h"

static int slot_of(const char *key) { return cluster_key_slot(key, strlen(key)); }

static void test_tags(void)
{
	int spread = 1;
	for (int p = 0; p < PARTITIONS; p++) {
		char k[KEY_MAX];
		snprintf(k, sizeof k, "{%s}", partition_tag(p));
		int s = slot_of(k);
		if (s < p * (CLUSTER_SLOTS / PARTITIONS) || s >= (p + 1) * (CLUSTER_SLOTS / PARTITIONS)) {
			printf("# partition %d: tag %s has slot %d\n", p, partition_tag(p), s);
			spread = 0;
		}
	}
	CHECK(spread, "partition p's tag has a slot in [p*1024, p*1024+1023]");
}

static void test_message_ids(void)
{
	int carried = 1;
	for (int p = 0; p < PARTITIONS; p++) {
		char m[33];
		CHECK(new_message_id(m, p) == 0 && strlen(m) == 32, "new_message_id makes 32 characters");
		if (message_partition(m) != p || strspn(m, "0123456789abcdef") != 32)
			carried = 0;
	}
	CHECK(carried, "a new message id is 32 hex digits and carries its partition");
	const char *odd = "not-a-minted-id";
	CHECK(message_partition(odd) == crc16_xmodem(odd, strlen(odd)) % PARTITIONS,
	      "another id's partition is its CRC16's");
	CHECK(message_partition("0123456789abXdef0123456789abcdef") ==
		      crc16_xmodem("0123456789abXdef0123456789abcdef", 32) % PARTITIONS,
	      "a 32-character id without a hex 13th character: CRC16's");
}

static void test_one_slot(void)
{
	const char *s = "sess-1";
	char m[33], k[KEY_MAX];
	new_message_id(m, session_partition(s));
	int slot = slot_of(key_session(k, s));
	int same = slot_of(key_history(k, s)) == slot && slot_of(key_channel(k, s)) == slot &&
		   slot_of(key_meta(k, m)) == slot && slot_of(key_chunks(k, m)) == slot &&
		   slot_of(key_lock(k, m)) == slot && slot_of(key_cancel(k, m)) == slot;
	CHECK(same, "a session's keys and its messages' keys share one slot");
	snprintf(k, sizeof k, "{%s}", partition_tag(session_partition(s)));
	CHECK(slot_of(k) == slot, "that slot is the session's partition tag's");

	keys_init("p:");
	CHECK_STR(key_chunks(k, m) + strlen(key_chunks(k, m)) - 32, m, "a message key ends with its id");
	CHECK(!strncmp(key_chunks(k, m), "p:stream:chunks:{", 17), "keys start with the prefix");
	char ch[KEY_MAX];
	key_channel(ch, "abc");
	size_t n;
	const char *sid = channel_session(ch, strlen(ch), &n);
	CHECK(sid && n == 3 && !memcmp(sid, "abc", 3), "channel_session finds the session id");
	CHECK(channel_session(ch + 1, strlen(ch) - 1, &n) == NULL, "another prefix is not ours");
	CHECK(channel_session("p:stream:channel:{u0}", 21, &n) == NULL, "a tag without an id is not ours");
	keys_init("");
}

/* ready.h: the dispatch entry names its partition, and nothing else is one */
static void test_ready(void)
{
	struct ready_cmd rc;
	ready_cmd(&rc, 13);
	CHECK(!strcmp(rc.argv[0], "XADD") && !strcmp(rc.argv[1], "jobs:ready") &&
	      !strcmp(rc.argv[2], "MAXLEN") && !strcmp(rc.argv[3], "~") && !strcmp(rc.argv[5], "*") &&
	      !strcmp(rc.argv[6], "p") && !strcmp(rc.argv[7], "13"),
	      "ready_cmd: XADD jobs:ready MAXLEN ~ N * p 13");
	CHECK(ready_partition("0", 1) == 0 && ready_partition("15", 2) == 15 &&
	      ready_partition("7", 1) == 7, "ready_partition reads 0-15");
	CHECK(ready_partition("16", 2) < 0 && ready_partition("", 0) < 0 && ready_partition("-1", 2) < 0 &&
	      ready_partition("1x", 2) < 0 && ready_partition("100", 3) < 0,
	      "ready_partition refuses 16, empty, signs, letters, three digits");
}

void test_keys(void)
{
	test_ready();
	test_tags();
	test_message_ids();
	test_one_slot();
}

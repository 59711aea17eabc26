#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "cluster_slot.h"

/* Found once by searching the one- and two-character strings of [a-z0-9]
 * for the shortest whose slot lies in [p * 1024, p * 1024 + 1023], nearest
 * its middle; t/unit checks each slot. */
static const char *const tags[PARTITIONS] = {
	"u0", "3", "dj", "j", "d2", "2", "uh", "k",
	"ly", "1", "uv", "u", "9s", "0", "dt", "t",
};

const char *partition_tag(int p) { return tags[(unsigned)p % PARTITIONS]; }

int session_partition(const char *s) { return crc16_xmodem(s, strlen(s)) % PARTITIONS; }

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int message_partition(const char *m)
{
	size_t n = strlen(m);
	int d = n == 32 ? hex_digit(m[12]) : -1;
	return d >= 0 ? d % PARTITIONS : crc16_xmodem(m, n) % PARTITIONS;
}

static char prefix[64];
static size_t prefix_len;

void keys_init(const char *p)
{
	snprintf(prefix, sizeof prefix, "%s", p ? p : "");
	prefix_len = strlen(prefix);
}

const char *keys_prefix(void) { return prefix; }

static char *name(char *out, const char *kind, const char *id)
{
	if (id)
		snprintf(out, KEY_MAX, "%s%s{%s}", prefix, kind, id);
	else
		snprintf(out, KEY_MAX, "%s%s", prefix, kind);
	return out;
}

/* kind{tag}id: the id after the tag, so that the tag alone picks the slot */
static char *tagged(char *out, const char *kind, int partition, const char *id)
{
	snprintf(out, KEY_MAX, "%s%s{%s}%s", prefix, kind, partition_tag(partition), id);
	return out;
}

static char *of_message(char *o, const char *kind, const char *m)
{
	return tagged(o, kind, message_partition(m), m);
}

static char *of_session(char *o, const char *kind, const char *s)
{
	return tagged(o, kind, session_partition(s), s);
}

char *key_jobs(char *o, int p) { return tagged(o, "jobs:", p, ""); }
char *key_jobs_ready(char *o) { return name(o, "jobs:ready", NULL); }
char *key_archive(char *o, int p) { return tagged(o, "archive:", p, ""); }
char *key_chunks(char *o, const char *m) { return of_message(o, "stream:chunks:", m); }
char *key_meta(char *o, const char *m) { return of_message(o, "stream:meta:", m); }
char *key_lock(char *o, const char *m) { return of_message(o, "stream:lock:", m); }
char *key_cancel(char *o, const char *m) { return of_message(o, "stream:cancel:", m); }
char *key_session(char *o, const char *s) { return of_session(o, "stream:session:", s); }
char *key_channel(char *o, const char *s) { return of_session(o, "stream:channel:", s); }
char *key_history(char *o, const char *s) { return of_session(o, "chat:history:", s); }
/* the relay registry's per-session key: it must share key_session's slot
 * (sessions_join.lua and sessions_leave.lua name both) */
char *key_session_relays(char *o, const char *s) { return of_session(o, "sessions:relays:", s); }
char *key_sessions_node(char *o, const char *n) { return name(o, "sessions:node:", n); }
char *key_node_ws(char *o, const char *n) { return name(o, "node:ws:", n); }
char *key_node_ai(char *o, const char *n) { return name(o, "node:ai:", n); }
char *key_node_recoverd(char *o, const char *n) { return name(o, "node:recoverd:", n); }
char *key_node_archiver(char *o, const char *n) { return name(o, "node:archiver:", n); }
char *key_streams_user(char *o, const char *u) { return name(o, "streams:user:", u); }

char *key_ratelimit_chat(char *o, const char *u, long long window)
{
	snprintf(o, KEY_MAX, "%sratelimit:chat:{%s}:%lld", prefix, u, window);
	return o;
}

char *key_ratelimit_ws(char *o, const char *u, long long window)
{
	snprintf(o, KEY_MAX, "%sratelimit:ws:{%s}:%lld", prefix, u, window);
	return o;
}

char *key_ratelimit_ws_addr(char *o, const char *a, long long window)
{
	snprintf(o, KEY_MAX, "%sratelimit:wsaddr:{%s}:%lld", prefix, a, window);
	return o;
}

char *key_nodes_ws(char *o) { return name(o, "nodes:ws", NULL); }
char *key_nodes_ai(char *o) { return name(o, "nodes:ai", NULL); }
char *key_nodes_api(char *o) { return name(o, "nodes:api", NULL); }
char *key_nodes_recoverd(char *o) { return name(o, "nodes:recoverd", NULL); }
char *key_nodes_archiver(char *o) { return name(o, "nodes:archiver", NULL); }
char *key_node_api(char *o, const char *n) { return name(o, "node:api:", n); }

const char *channel_session(const char *ch, size_t len, size_t *id_len)
{
	static const char kind[] = "stream:channel:{";
	size_t klen = sizeof kind - 1;
	if (len < prefix_len + klen + 2 || memcmp(ch, prefix, prefix_len) != 0 ||
	    memcmp(ch + prefix_len, kind, klen) != 0)
		return NULL;
	const char *tag = ch + prefix_len + klen, *end = ch + len;
	const char *close = memchr(tag, '}', (size_t)(end - tag));
	if (!close || close + 1 == end)
		return NULL;
	*id_len = (size_t)(end - close - 1);
	return close + 1;
}

#include "keys.h"

#include <stdio.h>
#include <string.h>

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

char *key_jobs(char *o) { return name(o, "jobs", NULL); }
char *key_archive(char *o) { return name(o, "archive", NULL); }
char *key_chunks(char *o, const char *m) { return name(o, "stream:chunks:", m); }
char *key_meta(char *o, const char *m) { return name(o, "stream:meta:", m); }
char *key_lock(char *o, const char *m) { return name(o, "stream:lock:", m); }
char *key_cancel(char *o, const char *m) { return name(o, "stream:cancel:", m); }
char *key_session(char *o, const char *s) { return name(o, "stream:session:", s); }
char *key_channel(char *o, const char *s) { return name(o, "stream:channel:", s); }
char *key_history(char *o, const char *s) { return name(o, "chat:history:", s); }
/* the relay registry's per-session key: it must share key_session's slot
 * (sessions_join.lua and sessions_leave.lua name both), so it is built
 * the same way */
char *key_session_relays(char *o, const char *s) { return name(o, "sessions:relays:", s); }
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
	    memcmp(ch + prefix_len, kind, klen) != 0 || ch[len - 1] != '}')
		return NULL;
	*id_len = len - prefix_len - klen - 1;
	return ch + prefix_len + klen;
}

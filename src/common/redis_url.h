/* REDIS_URL: redis://[[user]:password@]host[:port][/db], unix:/path[?db=N],
 * redis+sentinel://[[user]:password@]h1:p1,h2:p2/MASTERNAME (the sentinels
 * to ask for MASTERNAME's primary) or redis+cluster://[[user]:password@]
 * h1:p1,h2:p2 (seed nodes). User and password are percent-decoded; they are
 * for the data nodes, not for the sentinels. */
#ifndef SC_REDIS_URL_H
#define SC_REDIS_URL_H

#include <stddef.h>

enum redis_topology { REDIS_SINGLE, REDIS_SENTINEL, REDIS_CLUSTER };
#define REDIS_MAX_ADDRS 16
struct redis_addr { char host[256]; int port; };

struct redis_cfg {
	char host[256];
	int port;
	char path[256];      /* unix socket; empty for TCP */
	char user[128];
	char password[256];
	int db;
	enum redis_topology topology;
	int naddrs;                       /* sentinels, or cluster seed nodes */
	struct redis_addr addrs[REDIS_MAX_ADDRS];
	char master[128];                 /* sentinel: the master's name */
};

/* 0, or -1 with a reason in err (static text). */
int redis_url_parse(const char *url, struct redis_cfg *cfg, const char **err);
/* The command that publishes a chunk or end frame on a session's channel:
 * SPUBLISH on a Cluster (sharded pub/sub: the frame stays on the shard that
 * owns the session), PUBLISH otherwise (hiredis 0.14's async client cannot
 * dispatch the `smessage` that SSUBSCRIBE delivers). */
const char *redis_publish_command(const struct redis_cfg *cfg);

/* The URL as it may be printed: its password (all of its credentials when
 * they have no ':') replaced by ***, whether the URL parses or not. */
void redis_url_masked(const char *url, char *out, size_t outlen);

#endif

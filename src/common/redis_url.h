/* REDIS_URL: redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N].
 * User and password are percent-decoded. */
#ifndef SC_REDIS_URL_H
#define SC_REDIS_URL_H

#include <stddef.h>

struct redis_cfg {
	char host[256];
	int port;
	char path[256];      /* unix socket; empty for TCP */
	char user[128];
	char password[256];
	int db;
};

/* 0, or -1 with a reason in err (static text). */
int redis_url_parse(const char *url, struct redis_cfg *cfg, const char **err);
/* The URL as it may be printed: its password (all of its credentials when
 * they have no ':') replaced by ***, whether the URL parses or not. */
void redis_url_masked(const char *url, char *out, size_t outlen);

#endif

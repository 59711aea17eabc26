#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int copy(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* Percent-decoding in place, for passwords with reserved characters. */
static int pct_decode(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r == '%') {
			unsigned v;
			if (!r[1] || !r[2] || sscanf(r + 1, "%2x", &v) != 1 || v == 0)
				return -1;
			*w++ = (char)v;
			r += 2;
		} else
			*w++ = *r;
	}
	*w = '\0';
	return 0;
}

/* [[user]:password@] at the front of p, if there; returns what follows. The
 * credentials end at the last '@': hosts, ports, db and master names never
 * hold one, while a password pasted in as it is (docker-compose does) may
 * hold '@', ':' or '/'. Escaped (%40, %3A, %2F) it works as well. */
static const char *parse_credentials(const char *p, struct redis_cfg *cfg, const char **err)
{
	const char *at = strrchr(p, '@');
	if (!at)
		return p;
	const char *colon = memchr(p, ':', (size_t)(at - p));
	if (!colon) {
		*err = "credentials must be [user]:password@";
		return NULL;
	}
	if (copy(cfg->user, sizeof cfg->user, p, (size_t)(colon - p)) ||
	    copy(cfg->password, sizeof cfg->password, colon + 1, (size_t)(at - colon - 1)) ||
	    pct_decode(cfg->user) || pct_decode(cfg->password)) {
		*err = "credentials too long or badly escaped";
		return NULL;
	}
	return at + 1;
}

/* host[:port] in [p, end). */
static int parse_hostport(const char *p, const char *end, char *host, size_t hostcap, int *port,
			  const char **err)
{
	const char *colon = memchr(p, ':', (size_t)(end - p));
	const char *hend = colon ? colon : end;
	if (hend == p || copy(host, hostcap, p, (size_t)(hend - p))) {
		*err = "missing or overlong host";
		return -1;
	}
	if (colon) {
		char digits[8];
		long v;
		if (copy(digits, sizeof digits, colon + 1, (size_t)(end - colon - 1)) ||
		    parse_long(digits, 1, 65535, &v)) {
			*err = "port must be 1-65535";
			return -1;
		}
		*port = (int)v;
	}
	return 0;
}

/* h1[:p1],h2[:p2],... in [p, end) into cfg->addrs. */
static int parse_addrs(const char *p, const char *end, int defport, struct redis_cfg *cfg,
		       const char **err)
{
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *aend = comma ? comma : end;
		if (cfg->naddrs == REDIS_MAX_ADDRS) {
			*err = "more than 16 addresses";
			return -1;
		}
		struct redis_addr *a = &cfg->addrs[cfg->naddrs];
		a->port = defport;
		if (parse_hostport(p, aend, a->host, sizeof a->host, &a->port, err))
			return -1;
		cfg->naddrs++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int valid_master_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int parse_unix(const char *url, struct redis_cfg *cfg, const char **err)
{
	const char *p = url + 5;
	while (p[0] == '/' && p[1] == '/')
		p++;
	const char *q = strchr(p, '?');
	size_t n = q ? (size_t)(q - p) : strlen(p);
	if (n == 0 || p[0] != '/' || copy(cfg->path, sizeof cfg->path, p, n)) {
		*err = "unix: needs an absolute socket path";
		return -1;
	}
	if (q) {
		long db;
		if (strncmp(q, "?db=", 4) || parse_long(q + 4, 0, 1000, &db)) {
			*err = "unix socket URL takes only ?db=N";
			return -1;
		}
		cfg->db = (int)db;
	}
	return 0;
}

/* redis+sentinel://[creds@]h1:p1,h2:p2/MASTERNAME */
static int parse_sentinel(const char *p, struct redis_cfg *cfg, const char **err)
{
	cfg->topology = REDIS_SENTINEL;
	const char *slash = strchr(p, '/');
	if (!slash || copy(cfg->master, sizeof cfg->master, slash + 1, strlen(slash + 1)) ||
	    !valid_master_name(cfg->master)) {
		*err = "redis+sentinel:// needs /MASTERNAME (1-127 of [A-Za-z0-9_.-]) after the sentinels";
		return -1;
	}
	return parse_addrs(p, slash, 26379, cfg, err);
}

/* redis+cluster://[creds@]h1:p1,h2:p2 */
static int parse_cluster(const char *p, struct redis_cfg *cfg, const char **err)
{
	cfg->topology = REDIS_CLUSTER;
	size_t n = strlen(p);
	if (n && p[n - 1] == '/')
		n--;  /* a trailing slash, as URLs often have */
	if (memchr(p, '/', n)) {
		*err = "redis+cluster:// takes no database or path (a cluster has only db 0)";
		return -1;
	}
	return parse_addrs(p, p + n, 6379, cfg, err);
}

/* redis://[creds@]host[:port][/db] */
static int parse_single(const char *p, struct redis_cfg *cfg, const char **err)
{
	const char *slash = strchr(p, '/');
	const char *hostend = slash ? slash : p + strlen(p);
	if (parse_hostport(p, hostend, cfg->host, sizeof cfg->host, &cfg->port, err))
		return -1;
	if (slash && slash[1]) {
		long db;
		if (parse_long(slash + 1, 0, 1000, &db)) {
			*err = "database must be a number";
			return -1;
		}
		cfg->db = (int)db;
	}
	return 0;
}

int redis_url_parse(const char *url, struct redis_cfg *cfg, const char **err)
{
	static const struct {
		const char *scheme;
		int (*parse)(const char *, struct redis_cfg *, const char **);
	} schemes[] = {
		{ "redis://", parse_single },
		{ "redis+sentinel://", parse_sentinel },
		{ "redis+cluster://", parse_cluster },
	};
	memset(cfg, 0, sizeof *cfg);
	cfg->port = 6379;
	snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");

	if (strncmp(url, "unix:", 5) == 0)
		return parse_unix(url, cfg, err);
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].scheme);
		if (strncmp(url, schemes[i].scheme, n) == 0) {
			const char *p = parse_credentials(url + n, cfg, err);
			return p ? schemes[i].parse(p, cfg, err) : -1;
		}
	}
	*err = "REDIS_URL must start with redis://, redis+sentinel://, redis+cluster:// or unix:";
	return -1;
}

const char *redis_publish_command(const struct redis_cfg *cfg)
{
	return cfg->topology == REDIS_CLUSTER ? "SPUBLISH" : "PUBLISH";
}

void redis_url_masked(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://");
	const char *from = scheme ? scheme + 3 : url;
	const char *at = strrchr(from, '@');
	if (!at) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	const char *colon = memchr(from, ':', (size_t)(at - from));
	const char *secret = colon ? colon + 1 : from;
	snprintf(out, outlen, "%.*s***%s", (int)(secret - url), url, at);
}

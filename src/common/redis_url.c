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

int redis_url_parse(const char *url, struct redis_cfg *cfg, const char **err)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->port = 6379;
	snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");

	if (strncmp(url, "unix:", 5) == 0) {
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
	if (strncmp(url, "redis://", 8) != 0) {
		*err = "REDIS_URL must start with redis:// or unix:";
		return -1;
	}
	const char *p = url + 8;
	/* The credentials end at the last '@': host, port and db never hold one,
	 * while a password pasted in as it is (docker-compose does) may hold '@',
	 * ':' or '/'. Escaped (%40, %3A, %2F) it works as well. */
	const char *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon) {
			*err = "credentials must be [user]:password@";
			return -1;
		}
		if (copy(cfg->user, sizeof cfg->user, p, (size_t)(colon - p)) ||
		    copy(cfg->password, sizeof cfg->password, colon + 1, (size_t)(at - colon - 1)) ||
		    pct_decode(cfg->user) || pct_decode(cfg->password)) {
			*err = "credentials too long or badly escaped";
			return -1;
		}
		p = at + 1;
	}
	const char *slash = strchr(p, '/');
	const char *hostend = slash ? slash : p + strlen(p);
	const char *colon = memchr(p, ':', (size_t)(hostend - p));
	const char *hend = colon ? colon : hostend;
	if (hend == p || copy(cfg->host, sizeof cfg->host, p, (size_t)(hend - p))) {
		*err = "missing or overlong host";
		return -1;
	}
	if (colon) {
		char port[8];
		long v;
		if (copy(port, sizeof port, colon + 1, (size_t)(hostend - colon - 1)) ||
		    parse_long(port, 1, 65535, &v)) {
			*err = "port must be 1-65535";
			return -1;
		}
		cfg->port = (int)v;
	}
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

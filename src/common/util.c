#include "util.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

const char *env_str(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

int parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	long out;
	if (!v || !*v)
		return def;
	if (parse_long(v, min, max, &out))
		die(100, "%s=%s: expected an integer from %ld to %ld", name, v, min, max);
	return out;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int retry_due(long long *last_us, long long interval_us)
{
	long long now = mono_us();
	if (*last_us && now - *last_us < interval_us)
		return 0;
	*last_us = now;
	return 1;
}

int random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	static const char hex[] = "0123456789abcdef";
	if (nbytes > sizeof raw)
		return -1;
	if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
		return -1;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

int new_message_id(char out[33], int partition)
{
	snprintf(out, 13, "%012llx", (unsigned long long)now_ms() & 0xffffffffffffULL);
	if (random_hex(out + 12, 10))
		return -1;
	out[12] = "0123456789abcdef"[partition & 15];
	return 0;
}

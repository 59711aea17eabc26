#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *prog = "streamchat";
static char node[80] = "-";
static enum log_level min_level = LOG_INFO;
static const char *const names[] = { "debug", "info", "warn", "error" };

void log_init(const char *p) { prog = p; }
const char *log_prog(void) { return prog; }
void log_set_level(enum log_level min) { min_level = min; }

void log_set_node(const char *n)
{
	snprintf(node, sizeof node, "%s", n);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

/* Copies n bytes to out (room for 4n), with each control character as an
 * escape: \n \r \t, or \xNN. */
static size_t escape_controls(char *out, const char *in, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c != 0x7f) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
{
	if (lvl < min_level)
		return;

	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof line,
			 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s node=%s msg=\"%s\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), names[lvl], prog, node, msg);
	if (n < 0 || (size_t)n >= sizeof line - 2)
		n = (int)sizeof line - 2;
	if (kvfmt && *kvfmt) {
		va_list ap;
		va_start(ap, kvfmt);
		line[n++] = ' ';
		int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, kvfmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
		if ((size_t)n > sizeof line - 2)
			n = (int)sizeof line - 2;
	}
	/* values come from outside too (an AI server's error text): a newline
	 * in one must not start a forged line of its own */
	char out[sizeof line * 4];
	size_t m = escape_controls(out, line, (size_t)n);
	out[m++] = '\n';
	fwrite(out, 1, m, stderr);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: fatal: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

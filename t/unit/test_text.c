/* Text from outside on its way into frames and log lines: utf8_sanitize,
 * and the logger's escaping of control characters. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "validate.h"

/* What one log_msg call writes to stderr. */
static void logged(char *out, size_t cap, const char *value)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	log_warn("reply ended with an error", "code=x error=\"%s\"", value);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, cap - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

void test_text(void)
{
	char out[64], line[4096];
	/* "caf" + é: a limit of 5 bytes (4 and the NUL) falls inside é */
	CHECK(utf8_sanitize(out, 5, "caf\xc3\xa9!", 6) == 3 && !strcmp(out, "caf"),
	      "utf8_sanitize cuts before a character that does not fit, never inside it");
	CHECK(utf8_sanitize(out, 6, "caf\xc3\xa9!", 6) == 5 && !strcmp(out, "caf\xc3\xa9"),
	      "utf8_sanitize keeps a character that fits whole");
	CHECK(utf8_sanitize(out, sizeof out, "a\nb\r\tc\x7f" "d\xc2\x85" "e", 11) == 10 &&
	      !strcmp(out, "a b  c d e"), "control characters (C0, DEL, C1) become spaces");
	CHECK(!strcmp((utf8_sanitize(out, sizeof out, "x\xff" "y\xed\xa0\x80" "z\xe2\x82", 9), out),
		      "x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd"),
	      "bytes that are not UTF-8 (a stray byte, a surrogate, a cut end) become U+FFFD");
	CHECK(utf8_sanitize(out, 4, "ab\xef\xbf", 4) == 2 && !strcmp(out, "ab"),
	      "a U+FFFD that does not fit is left out whole");
	CHECK(utf8_sanitize(out, 1, "abc", 3) == 0 && out[0] == '\0', "room for the NUL only: empty");

	logged(line, sizeof line, "one\nts=2000-01-01 level=error msg=\"forged\"\r\x01");
	size_t len = strlen(line);
	CHECK(len > 0 && line[len - 1] == '\n' && !memchr(line, '\n', len - 1) && !strchr(line, '\r'),
	      "a value with a newline stays on its log line");
	CHECK(strstr(line, "error=\"one\\nts=2000-01-01 level=error msg=\"forged\"\\r\\x01\"") != NULL,
	      "control characters in a log line are escaped as \\n \\r \\xNN");
}

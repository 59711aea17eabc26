#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define SECRET_MIN 16

static void add_secret(struct auth *a, const char *s, size_t n, const char *from)
{
	if (n < SECRET_MIN)
		die(100, "%s: a secret must be at least %d bytes", from, SECRET_MIN);
	if (jwt_keys_add(&a->keys, s, n))
		die(100, "%s: at most %d secrets of at most %d bytes", from, JWT_KEYS_MAX, JWT_KEY_MAX);
}

void auth_load(struct auth *a)
{
	memset(a, 0, sizeof *a);
	a->leeway_s = config_int(&auth_knobs, "AUTH_LEEWAY_S");
	const char *secret = config_text(&auth_knobs, "AUTH_SECRET");
	if (secret)
		add_secret(a, secret, strlen(secret), "AUTH_SECRET");
	const char *path = config_text(&auth_knobs, "AUTH_SECRET_FILE");
	if (path) {
		FILE *f = fopen(path, "r");
		if (!f)
			die(111, "AUTH_SECRET_FILE %s: %s", path, strerror(errno));
		char line[JWT_KEY_MAX + 2];
		while (fgets(line, sizeof line, f)) {
			size_t n = strcspn(line, "\r\n");
			if (n == strlen(line) && !feof(f))
				die(100, "AUTH_SECRET_FILE %s: a line is longer than %d bytes", path,
				    JWT_KEY_MAX);
			if (n)
				add_secret(a, line, n, "AUTH_SECRET_FILE");
		}
		fclose(f);
		if (a->keys.n == 0)
			die(100, "AUTH_SECRET_FILE %s holds no secret", path);
	}
	a->enabled = a->keys.n > 0;
}

enum jwt_result auth_check(const struct auth *a, const char *token, int is_header,
			   char user[ID_MAX + 1])
{
	int64_t until;
	return auth_check_until(a, token, is_header, user, &until);
}

enum jwt_result auth_check_until(const struct auth *a, const char *token, int is_header,
				 char user[ID_MAX + 1], int64_t *valid_until_s)
{
	if (!token)
		return JWT_MALFORMED;
	if (is_header) {
		if (strncasecmp(token, "Bearer ", 7) != 0)
			return JWT_MALFORMED;
		token += 7;
		while (*token == ' ')
			token++;
	}
	int64_t exp = 0;
	enum jwt_result r = jwt_verify_until(token, strlen(token), &a->keys, now_ms() / 1000,
					     a->leeway_s, user, &exp);
	/* exp may be near INT64_MAX: a token that never expires in practice */
	*valid_until_s = exp > INT64_MAX - a->leeway_s ? INT64_MAX : exp + a->leeway_s;
	return r;
}

const char *auth_mode(const struct auth *a)
{
	return a->enabled ? "jwt-hs256" : "development";
}

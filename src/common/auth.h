/* Who is asking: the secrets of AUTH_SECRET / AUTH_SECRET_FILE, and the
 * check of a bearer token against them. Without a secret the programs run
 * in development mode and take user ids as given. */
#ifndef SC_AUTH_H
#define SC_AUTH_H

#include "jwt.h"

struct auth {
	int enabled;
	long leeway_s;           /* clock skew allowed on exp and nbf */
	struct jwt_keys keys;
};

/* Reads AUTH_SECRET (one secret) and AUTH_SECRET_FILE (one secret per line;
 * the first line signs, every line verifies), and AUTH_LEEWAY_S. Dies with
 * a clear message on an unreadable file or a secret shorter than 16 bytes. */
void auth_load(struct auth *a);

/* Checks a token given bare (token=T) or as an Authorization header value
 * ("Bearer T"). NULL or empty is JWT_MALFORMED. */
enum jwt_result auth_check(const struct auth *a, const char *token, int is_header,
			   char user[ID_MAX + 1]);
/* The same, with the time (s since the epoch, leeway included) past which
 * the token no longer holds. */
enum jwt_result auth_check_until(const struct auth *a, const char *token, int is_header,
				 char user[ID_MAX + 1], int64_t *valid_until_s);

/* For the first log line: "jwt-hs256" or "development". */
const char *auth_mode(const struct auth *a);

#endif

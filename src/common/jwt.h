/* HS256 JSON Web Tokens: the check chat-fcgi and ws-relay run on every
 * request, and the signing chat-cli does for tests. Pure functions of
 * their bytes and the clock they are given, so tests and the fuzzer drive
 * them directly. */
#ifndef SC_JWT_H
#define SC_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "validate.h"

#define JWT_MAX 4096          /* longer tokens are refused unread */
#define JWT_KEYS_MAX 4
#define JWT_KEY_MAX 512

/* The secrets a token may be signed with: the first signs, all verify, so
 * that a new secret can be rolled out before the old one is retired. */
struct jwt_keys {
	int n;
	size_t len[JWT_KEYS_MAX];
	unsigned char key[JWT_KEYS_MAX][JWT_KEY_MAX];
};

enum jwt_result {
	JWT_OK,
	JWT_MALFORMED,        /* not three base64url parts of JSON objects */
	JWT_BAD_ALG,          /* alg other than HS256, or crit present */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID,
	JWT_BAD_CLAIMS,       /* sub missing or not a user id, exp missing or not a number */
};

/* Checks tok (len bytes, not NUL-terminated) against keys at time now_s,
 * allowing leeway_s of clock skew. On JWT_OK, sub holds the user id. */
enum jwt_result jwt_verify(const char *tok, size_t len, const struct jwt_keys *keys,
			   int64_t now_s, long leeway_s, char sub[ID_MAX + 1]);
/* The same, and on JWT_OK *exp_s holds the token's exp claim: a WebSocket
 * that outlives its token is closed then. */
enum jwt_result jwt_verify_until(const char *tok, size_t len, const struct jwt_keys *keys,
				 int64_t now_s, long leeway_s, char sub[ID_MAX + 1],
				 int64_t *exp_s);
const char *jwt_result_text(enum jwt_result r);

/* Appends a token for sub, expiring at exp_s, signed with key. */
void jwt_sign(struct strbuf *out, const char *sub, int64_t iat_s, int64_t exp_s,
	      const unsigned char *key, size_t keylen);

/* The same for any header and claims (JSON text), for tests. */
void jwt_sign_raw(struct strbuf *out, const char *header, const char *claims,
		  const unsigned char *key, size_t keylen);

/* Adds a secret; -1 if it is empty, too long, or one too many. */
int jwt_keys_add(struct jwt_keys *keys, const void *key, size_t len);

#endif

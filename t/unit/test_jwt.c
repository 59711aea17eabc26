#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "strbuf.h"
#include "tap.h"
#include "xalloc.h"

#define NOW 1800000000LL
#define KEY "correct horse battery staple"

static struct jwt_keys keys_of(const char *a, const char *b)
{
	struct jwt_keys k = { 0 };
	jwt_keys_add(&k, a, strlen(a));
	if (b)
		jwt_keys_add(&k, b, strlen(b));
	return k;
}

static enum jwt_result check(const char *tok, const struct jwt_keys *k, char *sub)
{
	return jwt_verify(tok, strlen(tok), k, NOW, 30, sub);
}

/* a token with the given header and claims signed with KEY */
static enum jwt_result raw(const char *header, const char *claims, const struct jwt_keys *k)
{
	struct strbuf sb = STRBUF_INIT;
	char sub[ID_MAX + 1];
	jwt_sign_raw(&sb, header, claims, (const unsigned char *)KEY, strlen(KEY));
	enum jwt_result r = check(sb.buf, k, sub);
	sb_release(&sb);
	return r;
}

void test_jwt(void)
{
	struct jwt_keys k = keys_of(KEY, NULL);
	char sub[ID_MAX + 1] = "";
	struct strbuf sb = STRBUF_INIT;

	/* the example of RFC 7519's users everywhere (jwt.io), secret
	 * "your-256-bit-secret": its signature is right, it has no exp */
	struct jwt_keys ex = keys_of("your-256-bit-secret", NULL);
	const char *jwtio = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
			    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
			    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
	CHECK(check(jwtio, &ex, sub) == JWT_BAD_CLAIMS, "a third party's HS256 token passes the signature check");
	CHECK(check(jwtio, &k, sub) == JWT_BAD_SIGNATURE, "and fails it under another secret");

	jwt_sign(&sb, "alice", NOW, NOW + 60, (const unsigned char *)KEY, strlen(KEY));
	CHECK(check(sb.buf, &k, sub) == JWT_OK && !strcmp(sub, "alice"), "a signed token verifies and names its user");
	struct jwt_keys two = keys_of("a newer secret, rolled out", KEY);
	CHECK(check(sb.buf, &two, sub) == JWT_OK, "any listed secret verifies (rotation)");
	struct jwt_keys other = keys_of("a newer secret, rolled out", NULL);
	CHECK(check(sb.buf, &other, sub) == JWT_BAD_SIGNATURE, "a retired secret's tokens are refused");
	CHECK(jwt_verify(sb.buf, sb.len, &k, NOW + 60 + 31, 30, sub) == JWT_EXPIRED, "expired past the leeway");
	CHECK(jwt_verify(sb.buf, sb.len, &k, NOW + 60 + 29, 30, sub) == JWT_OK, "within the leeway");

	/* flip one character of the claims: the signature no longer matches */
	char *t = xstrdup(sb.buf);
	t[strchr(t, '.') - t + 5] ^= 1;
	CHECK(check(t, &k, sub) != JWT_OK, "a tampered payload is refused");
	free(t);
	t = xstrdup(sb.buf);
	t[sb.len - 2] = t[sb.len - 2] == 'A' ? 'B' : 'A';
	CHECK(check(t, &k, sub) != JWT_OK, "a tampered signature is refused");
	free(t);
	sb_reset(&sb);

	CHECK(raw("{\"alg\":\"none\"}", "{\"sub\":\"a\",\"exp\":1900000000}", &k) == JWT_BAD_ALG, "alg none is refused");
	CHECK(raw("{\"alg\":\"HS512\"}", "{\"sub\":\"a\",\"exp\":1900000000}", &k) == JWT_BAD_ALG, "alg HS512 is refused");
	CHECK(raw("{\"alg\":\"hs256\"}", "{\"sub\":\"a\",\"exp\":1900000000}", &k) == JWT_BAD_ALG, "alg is case-sensitive");
	CHECK(raw("{}", "{\"sub\":\"a\",\"exp\":1900000000}", &k) == JWT_BAD_ALG, "a header with no alg is refused");
	CHECK(raw("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", "{\"sub\":\"a\",\"exp\":1900000000}", &k) == JWT_BAD_ALG,
	      "critical extensions are refused");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}", &k) == JWT_BAD_CLAIMS, "a token without exp is refused");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":\"1900000000\"}", &k) == JWT_BAD_CLAIMS,
	      "exp must be a number");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"../a\",\"exp\":1900000000}", &k) == JWT_BAD_CLAIMS,
	      "sub must be a user id");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"exp\":1900000000}", &k) == JWT_BAD_CLAIMS, "sub is required");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1900000000.5}", &k) == JWT_OK,
	      "a fractional exp is accepted");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1900000000,\"nbf\":1800000100}", &k) ==
	      JWT_NOT_YET_VALID, "nbf in the future is refused");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":18000001001799999000}", &k) == JWT_OK,
	      "an exp past 64 bits is far in the future (found by libFuzzer: it overflowed)");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":-18000001001799999000}", &k) == JWT_EXPIRED,
	      "and one below is long past");
	CHECK(raw("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1900000000,\"nbf\":-18000001001799999000}", &k) ==
	      JWT_OK, "a hugely negative nbf does not overflow either");
	CHECK(raw("{\"alg\":\"HS256\"}", "[1]", &k) == JWT_MALFORMED, "claims must be an object");
	CHECK(raw("{\"alg\":\"HS256\"} x", "{\"sub\":\"a\",\"exp\":1}", &k) == JWT_MALFORMED,
	      "trailing bytes after the header are refused");

	const char *bad[] = { "", ".", "..", "a.b", "a.b.c.d", "eyJhbGciOiJIUzI1NiJ9.e30.", "e30=.e30.AAAA",
			      "eyJhbGciOiJIUzI1NiJ9.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			      "eyJhbGciOiJIUzI1NiJ9.e30.!!!!", "\xff.\xff.\xff" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(check(bad[i], &k, sub) == JWT_MALFORMED, "malformed tokens are refused");
	/* stray low bits in the last character: a second spelling of the same bytes */
	CHECK(check("eyJhbGciOiJIUzI1NiJ9.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", &k, sub) ==
	      JWT_MALFORMED, "non-canonical base64url is refused");
	char huge[JWT_MAX + 10];
	memset(huge, 'A', sizeof huge);
	CHECK(jwt_verify(huge, sizeof huge, &k, NOW, 30, sub) == JWT_MALFORMED, "oversized tokens are refused unread");
	struct jwt_keys none = { 0 };
	jwt_sign(&sb, "alice", NOW, NOW + 60, (const unsigned char *)KEY, strlen(KEY));
	CHECK(check(sb.buf, &none, sub) == JWT_BAD_SIGNATURE, "no secret verifies nothing");
	sb_release(&sb);
}

#include "jwt.h"

#include <json.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define SIG_LEN 32  /* SHA-256 */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(struct strbuf *out, const unsigned char *s, size_t n)
{
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		char q[4] = { b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63],
			      b64url[v & 63] };
		sb_add(out, q, 4);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)s[i] << 16;
		char q[2] = { b64url[v >> 18], b64url[(v >> 12) & 63] };
		sb_add(out, q, 2);
	} else if (n - i == 2) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
		char q[3] = { b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63] };
		sb_add(out, q, 3);
	}
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict: the URL alphabet, no padding, and no stray bits in the last
 * character, so that each token has exactly one spelling. Returns the
 * decoded length, or -1. out must hold n * 3 / 4 + 1 bytes. */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
	if (n % 4 == 1)
		return -1;
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* One JSON object, decoded from a base64url part; NULL if it is not one. */
static json_object *part_object(const char *s, size_t n)
{
	unsigned char buf[JWT_MAX];
	long len = b64url_decode(s, n, buf);
	if (len <= 0 || !valid_utf8((const char *)buf, (size_t)len))
		return NULL;
	json_tokener *tok = json_tokener_new_ex(8);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *obj = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	int whole = json_tokener_get_error(tok) == json_tokener_success &&
		    json_tokener_get_parse_end(tok) == (size_t)len;
	json_tokener_free(tok);
	if (obj && (!whole || !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	return obj;
}

static void hmac(const unsigned char *key, size_t keylen, const char *data, size_t n,
		 unsigned char sig[SIG_LEN])
{
	unsigned int siglen = SIG_LEN;
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, sig, &siglen);
}

/* A numeric claim as whole seconds; 0 if absent, -1 if present but not a
 * finite number. */
static int time_claim(json_object *claims, const char *name, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!isfinite(d) || d > 9e15 || d < -9e15)
			return -1;
		*out = (int64_t)floor(d);
		return 1;
	}
	return -1;
}

enum jwt_result jwt_verify(const char *tok, size_t len, const struct jwt_keys *keys,
			   int64_t now_s, long leeway_s, char sub[ID_MAX + 1])
{
	int64_t exp;
	return jwt_verify_until(tok, len, keys, now_s, leeway_s, sub, &exp);
}

enum jwt_result jwt_verify_until(const char *tok, size_t len, const struct jwt_keys *keys,
				 int64_t now_s, long leeway_s, char sub[ID_MAX + 1],
				 int64_t *exp_s)
{
	if (len == 0 || len > JWT_MAX)
		return JWT_MALFORMED;
	const char *dot1 = memchr(tok, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
	if (!dot2)
		return JWT_MALFORMED;
	const char *sig_s = dot2 + 1;
	size_t sig_n = len - (size_t)(sig_s - tok);
	if (memchr(sig_s, '.', sig_n))
		return JWT_MALFORMED;

	enum jwt_result rc = JWT_MALFORMED;
	json_object *header = part_object(tok, (size_t)(dot1 - tok));
	json_object *claims = header ? part_object(dot1 + 1, (size_t)(dot2 - dot1 - 1)) : NULL;
	if (!claims)
		goto out;
	json_object *alg, *v;
	if (!json_object_object_get_ex(header, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string) ||
	    strcmp(json_object_get_string(alg), "HS256") != 0 ||
	    json_object_object_get_ex(header, "crit", NULL)) {
		rc = JWT_BAD_ALG;
		goto out;
	}
	unsigned char sig[JWT_MAX], want[SIG_LEN];
	if (b64url_decode(sig_s, sig_n, sig) != SIG_LEN)
		goto out;
	int good = 0;
	for (int i = 0; keys && i < keys->n; i++) {
		hmac(keys->key[i], keys->len[i], tok, (size_t)(dot2 - tok), want);
		good |= CRYPTO_memcmp(sig, want, SIG_LEN) == 0;
	}
	if (!good) {
		rc = JWT_BAD_SIGNATURE;
		goto out;
	}
	int64_t exp = 0, nbf = 0;
	const char *s = json_object_object_get_ex(claims, "sub", &v) &&
				json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	if (!valid_id(s, strlen(s)) || time_claim(claims, "exp", &exp) != 1) {
		rc = JWT_BAD_CLAIMS;
		goto out;
	}
	int has_nbf = time_claim(claims, "nbf", &nbf);
	if (has_nbf < 0) {
		rc = JWT_BAD_CLAIMS;
		goto out;
	}
	/* written so that no claim, however large, overflows */
	if (now_s - leeway_s > exp)
		rc = JWT_EXPIRED;
	else if (has_nbf && now_s + leeway_s < nbf)
		rc = JWT_NOT_YET_VALID;
	else {
		memcpy(sub, s, strlen(s) + 1);
		*exp_s = exp;
		rc = JWT_OK;
	}
out:
	if (header)
		json_object_put(header);
	if (claims)
		json_object_put(claims);
	return rc;
}

const char *jwt_result_text(enum jwt_result r)
{
	switch (r) {
	case JWT_OK: return "valid";
	case JWT_MALFORMED: return "the token is not a well-formed JWT";
	case JWT_BAD_ALG: return "the token's algorithm is not HS256";
	case JWT_BAD_SIGNATURE: return "the token's signature does not match";
	case JWT_EXPIRED: return "the token has expired";
	case JWT_NOT_YET_VALID: return "the token is not valid yet";
	case JWT_BAD_CLAIMS: return "the token needs a user id in sub and a numeric exp";
	}
	return "invalid token";
}

void jwt_sign_raw(struct strbuf *out, const char *header, const char *claims,
		  const unsigned char *key, size_t keylen)
{
	size_t start = out->len;
	b64url_encode(out, (const unsigned char *)header, strlen(header));
	sb_addc(out, '.');
	b64url_encode(out, (const unsigned char *)claims, strlen(claims));
	unsigned char sig[SIG_LEN];
	hmac(key, keylen, out->buf + start, out->len - start, sig);
	sb_addc(out, '.');
	b64url_encode(out, sig, SIG_LEN);
}

void jwt_sign(struct strbuf *out, const char *sub, int64_t iat_s, int64_t exp_s,
	      const unsigned char *key, size_t keylen)
{
	struct strbuf claims = STRBUF_INIT;
	sb_adds(&claims, "{\"sub\":");
	sb_add_json_str(&claims, sub, strlen(sub));
	sb_addf(&claims, ",\"iat\":%lld,\"exp\":%lld}", (long long)iat_s, (long long)exp_s);
	jwt_sign_raw(out, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims.buf, key, keylen);
	sb_release(&claims);
}

int jwt_keys_add(struct jwt_keys *keys, const void *key, size_t len)
{
	if (len == 0 || len > JWT_KEY_MAX || keys->n >= JWT_KEYS_MAX)
		return -1;
	memcpy(keys->key[keys->n], key, len);
	keys->len[keys->n++] = len;
	return 0;
}

/* libFuzzer target: the token check of chat-fcgi and ws-relay. With an odd
 * first byte the input is checked as a token; with an even one it is taken
 * as header and claims (JSON text, split at the first NUL) and signed with
 * the key first, so that the claim checks past the signature are explored. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

static const char key[] = "fuzzing key, 32 bytes or so long";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct jwt_keys keys = { 0 };
	jwt_keys_add(&keys, key, sizeof key - 1);
	char sub[ID_MAX + 1] = "";
	enum jwt_result r;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	if (data[0] & 1) {
		r = jwt_verify(in, n, &keys, 1800000000, 30, sub);
	} else {
		char *header = strndup(in, n);
		size_t hl = strlen(header);
		char *claims = hl < n ? strndup(in + hl + 1, n - hl - 1) : strdup("");
		struct strbuf tok = STRBUF_INIT;
		jwt_sign_raw(&tok, header, claims, (const unsigned char *)key, sizeof key - 1);
		r = jwt_verify(tok.buf, tok.len, &keys, 1800000000, 30, sub);
		if (r == JWT_BAD_SIGNATURE && tok.len <= JWT_MAX)
			__builtin_trap();  /* our own signature must verify */
		sb_release(&tok);
		free(header);
		free(claims);
	}
	if (r == JWT_OK && !valid_id(sub, strlen(sub)))
		__builtin_trap();
	return 0;
}

/* SHA-1, only to name Lua scripts for EVALSHA without a round trip. */
#ifndef SC_SHA1_H
#define SC_SHA1_H
#include <stddef.h>
void sha1_hex(const void *data, size_t len, char out[41]);
#endif

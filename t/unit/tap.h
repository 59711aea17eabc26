/* A tiny TAP producer for the unit tests: `ok N - name` per check. */
#ifndef SC_TAP_H
#define SC_TAP_H
#include <stdio.h>
#include <string.h>

extern int tap_n, tap_failed;

#define CHECK(cond, name) do { \
	tap_n++; \
	if (cond) printf("ok %d - %s\n", tap_n, name); \
	else { tap_failed++; printf("not ok %d - %s\n# at %s:%d: %s\n", tap_n, name, __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(got, want, name) CHECK(strcmp((got), (want)) == 0, name)

void test_validate(void);
void test_frame(void);
void test_request(void);
void test_misc(void);
void test_reply(void);
void test_sse(void);
void test_openai(void);
void test_jwt(void);
void test_client_frame(void);
void test_text(void);
void test_fcgi(void);
void test_heartbeat(void);
void test_wsframe(void);
void test_xalloc(void);
void test_redis_cmd(void);
void test_front_request(void);
void test_stream_format(void);
void test_redis_url(void);
void test_redis_sentinel(void);
void test_cluster_slot(void);
void test_keys(void);
void test_scripts(void);

#endif

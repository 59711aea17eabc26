#include "tap.h"

int tap_n, tap_failed;

int main(void)
{
	test_validate();
	test_frame();
	test_request();
	test_misc();
	test_reply();
	test_sse();
	test_openai();
	test_jwt();
	test_client_frame();
	test_text();
	test_fcgi();
	test_heartbeat();
	test_wsframe();
	test_xalloc();
	test_front_request();
	test_stream_format();
	test_redis_url();
	test_redis_sentinel();
	test_cluster_slot();
	test_keys();
	test_scripts();
	test_redis_cmd();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#include <stdlib.h>

#include "chat-fcgi/request.h"
#include "tap.h"

static int chat(const char *body, struct chat_request *r, struct api_error *e)
{
	int rc = parse_chat_request(body, strlen(body), 100, r, e);
	if (rc == 0)
		chat_request_release(r);
	return rc;
}

void test_request(void)
{
	struct chat_request r;
	struct api_error e;
	char id[ID_MAX + 1];

	const char *ok = "{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"hi\",\"x\":1}";
	CHECK(parse_chat_request(ok, strlen(ok), 100, &r, &e) == 0 && !strcmp(r.message, "hi") && !strcmp(r.session_id, "s"),
	      "a valid chat request parses; unknown fields are ignored");
	chat_request_release(&r);
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"hi\",\"model\":\"llama-3:8b\"}", &r, &e) == 0,
	      "a model name is accepted");
	CHECK(chat("not json", &r, &e) == -1 && e.status == 400, "invalid JSON is 400");
	CHECK(chat("", &r, &e) == -1 && e.status == 400, "an empty body is 400");
	CHECK(chat("[1]", &r, &e) == -1 && e.status == 400, "an array is 400");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"hi\"} {}", &r, &e) == -1,
	      "two objects are 400");
	CHECK(chat("{\"session_id\":1,\"user_id\":\"u\",\"message\":\"hi\"}", &r, &e) == -1 &&
	      strstr(e.message, "session_id"), "a number as session_id is 400 naming the field");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":[]}", &r, &e) == -1, "an array message is 400");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\"}", &r, &e) == -1 && strstr(e.message, "message"),
	      "a missing message is 400");
	CHECK(chat("{\"session_id\":\"s/../x\",\"user_id\":\"u\",\"message\":\"hi\"}", &r, &e) == -1,
	      "a path in session_id is 400");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"  \\n \"}", &r, &e) == -1,
	      "a blank message is 400");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"a\\u0000b\"}", &r, &e) == -1,
	      "NUL in a message is 400");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"\xff\"}", &r, &e) == -1 &&
	      strstr(e.message, "UTF-8"), "invalid UTF-8 is 400");
	const char *sur = "{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"a\\ud800\"}";
	int src = parse_chat_request(sur, strlen(sur), 100, &r, &e);
	CHECK(src == -1 || valid_utf8(r.message, r.message_len),
	      "a lone surrogate escape is refused or stored as valid UTF-8");
	if (src == 0)
		chat_request_release(&r);
	char big[300];
	snprintf(big, sizeof big, "{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"%0150d\"}", 0);
	CHECK(chat(big, &r, &e) == -1 && e.status == 413, "a message over the limit is 413");
	CHECK(chat("{\"session_id\":\"s\",\"user_id\":\"u\",\"message\":\"hi\",\"model\":\"a b\"}", &r, &e) == -1,
	      "a model with a space is 400");
	CHECK(chat("{'session_id':'s'}", &r, &e) == -1, "single quotes are 400");

	CHECK(route_match("/api/chat", "POST", id, &e) == ROUTE_CHAT, "POST /api/chat");
	CHECK(route_match("/api/chat", "GET", id, &e) == ROUTE_NONE && e.status == 405, "GET /api/chat is 405");
	CHECK(route_match("/api/history/abc", "GET", id, &e) == ROUTE_HISTORY && !strcmp(id, "abc"),
	      "history takes the session id from the path");
	CHECK(route_match("/api/history/a%2Fb", "GET", id, &e) == ROUTE_NONE && e.status == 400,
	      "an encoded slash in an id is 400");
	CHECK(route_match("/api/history/", "GET", id, &e) == ROUTE_NONE && e.status == 400, "an empty id is 400");
	CHECK(route_match("/api/stream/m.1", "GET", id, &e) == ROUTE_NONE && e.status == 400,
	      "a dot in a message id is 400");
	CHECK(route_match("/api/nope", "GET", id, &e) == ROUTE_NONE && e.status == 404, "unknown paths are 404");
	CHECK(route_match("/api/health", "HEAD", id, &e) == ROUTE_HEALTH, "HEAD works where GET does");
	CHECK(route_match("/api/sessions", "GET", id, &e) == ROUTE_SESSIONS, "GET /api/sessions");
	CHECK(route_match("/api/sessions", "DELETE", id, &e) == ROUTE_NONE && e.status == 405,
	      "DELETE /api/sessions without an id is 405");
	CHECK(route_match("/api/sessions/s.1:a", "DELETE", id, &e) == ROUTE_SESSION_DELETE &&
	      !strcmp(id, "s.1:a"), "DELETE /api/sessions/{S} takes a session id");
	CHECK(route_match("/api/sessions/s1", "GET", id, &e) == ROUTE_NONE && e.status == 405 &&
	      strstr(e.message, "DELETE"), "GET /api/sessions/{S} is 405, DELETE named");
	CHECK(route_match("/api/sessions/a b", "DELETE", id, &e) == ROUTE_NONE && e.status == 400,
	      "a bad session id in a delete is 400");

	char v[16];
	CHECK(query_get("a=1&from=3&b", "from", v, sizeof v) == 1 && !strcmp(v, "3"), "query_get finds a value");
	CHECK(query_get("a=1", "from", v, sizeof v) == 0, "query_get reports absence");
	CHECK(query_get("u=a%20b", "u", v, sizeof v) == 1 && !strcmp(v, "a b"), "query_get decodes %XX");
	CHECK(query_get("u=%zz", "u", v, sizeof v) == -1, "a bad escape is an error");
	CHECK(query_get("u=%00", "u", v, sizeof v) == -1, "an encoded NUL is an error");
	CHECK(query_get("u=0123456789abcdefghij", "u", v, sizeof v) == -1, "an overlong value is an error");
	CHECK(query_get("xu=1&u=2", "u", v, sizeof v) == 1 && !strcmp(v, "2"), "names match whole");
}

#include <stdlib.h>

#include "chat-fcgi/front_request.h"
#include "tap.h"

static int ui(const char *body, struct chat_request *r, struct api_error *e)
{
	int rc = parse_ui_chat_request(body, strlen(body), 64, r, e);
	return rc;
}

static int oa(const char *body, struct openai_chat_request *r, struct api_error *e)
{
	return parse_openai_chat_request(body, strlen(body), 64, r, e);
}

#define UIMSG(role, parts) "{\"id\":\"m1\",\"role\":\"" role "\",\"parts\":[" parts "]}"
#define TEXT(t) "{\"type\":\"text\",\"text\":\"" t "\"}"

static void test_ui(void)
{
	struct chat_request r;
	struct api_error e;
	const char *ok = "{\"id\":\"chat-1\",\"messages\":[" UIMSG("user", TEXT("first")) ","
			 UIMSG("assistant", "{\"type\":\"step-start\"}," TEXT("answer")) ","
			 UIMSG("user", TEXT("second") ",{\"type\":\"file\",\"url\":\"x\"}," TEXT("more"))
			 "],\"trigger\":\"submit-message\",\"messageId\":null,\"user_id\":\"u1\"}";
	CHECK(ui(ok, &r, &e) == 0 && !strcmp(r.session_id, "chat-1") && !strcmp(r.user_id, "u1") &&
	      !strcmp(r.message, "second\nmore"),
	      "ui: DefaultChatTransport's body: the session is id, the message the last user message's text parts");
	chat_request_release(&r);
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", TEXT("x")) "],\"model\":\"bad model\"}", &r, &e) == -1 &&
	      e.status == 400, "ui: a bad model is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("assistant", TEXT("x")) "]}", &r, &e) == -1 &&
	      e.status == 400 && strstr(e.message, "last message"), "ui: a last message that is not the user's is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("tool", TEXT("x")) "," UIMSG("user", TEXT("y")) "]}", &r, &e) == -1 &&
	      e.status == 400 && strstr(e.message, "role"), "ui: an unknown role is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[]}", &r, &e) == -1 && e.status == 400, "ui: no messages is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":{}}", &r, &e) == -1 && e.status == 400, "ui: messages not an array is 400");
	CHECK(ui("{\"messages\":[" UIMSG("user", TEXT("x")) "]}", &r, &e) == -1 && e.status == 400 &&
	      strstr(e.message, "id"), "ui: no id is 400");
	CHECK(ui("{\"id\":\"a b\",\"messages\":[" UIMSG("user", TEXT("x")) "]}", &r, &e) == -1 && e.status == 400,
	      "ui: an id that is no session id is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[{\"role\":\"user\"}]}", &r, &e) == -1 && e.status == 400,
	      "ui: a message without parts is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", "{\"type\":\"text\",\"text\":7}") "]}", &r, &e) == -1 &&
	      e.status == 400, "ui: a text part without text is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", "{\"type\":\"file\"}") "]}", &r, &e) == -1 &&
	      e.status == 400, "ui: a user message without text is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", "7") "]}", &r, &e) == -1 && e.status == 400,
	      "ui: a part that is no object is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", TEXT("x")) "],\"trigger\":\"boom\"}", &r, &e) == -1 &&
	      e.status == 400, "ui: an unknown trigger is 400");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", TEXT("0123456789012345678901234567890123456789")
					  "," TEXT("0123456789012345678901234567890123456789")) "]}", &r, &e) == -1 &&
	      e.status == 413, "ui: text parts longer together than MAX_MESSAGE_BYTES are 413");
	CHECK(ui("{\"id\":\"c\",\"messages\":[" UIMSG("user", TEXT("x")) "]", &r, &e) == -1 && e.status == 400,
	      "ui: truncated JSON is 400");
}

static void test_oa(void)
{
	struct openai_chat_request r;
	struct api_error e;
	CHECK(oa("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
		 "{\"role\":\"user\",\"content\":\"hello\"}],\"stream\":true}", &r, &e) == 0 &&
	      r.stream == 1 && !strcmp(r.chat.message, "hello") && !strcmp(r.chat.model, "gpt-4o-mini") &&
	      !r.chat.session_id[0] && !r.user[0], "openai: a streaming request parses");
	chat_request_release(&r.chat);
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
		 "{\"type\":\"text\",\"text\":\"b\"}]}],\"session_id\":\"s-1\",\"user\":\"alice\"}", &r, &e) == 0 &&
	      r.stream == 0 && !strcmp(r.chat.message, "a\nb") && !strcmp(r.chat.session_id, "s-1") &&
	      !strcmp(r.user, "alice"), "openai: text parts, session_id and user");
	chat_request_release(&r.chat);
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", &r, &e) == -1 &&
	      e.status == 400, "openai: stream must be a boolean");
	CHECK(oa("{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}", &r, &e) == -1 && e.status == 400,
	      "openai: the last message must be the user's");
	CHECK(oa("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}",
		 &r, &e) == -1 && e.status == 400, "openai: an unknown role is 400");
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
		 &r, &e) == -1 && e.status == 400 && strstr(e.message, "text"), "openai: an image part is 400");
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":7}]}", &r, &e) == -1 && e.status == 400,
	      "openai: content that is no string or array is 400");
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":\"   \"}]}", &r, &e) == -1 && e.status == 400,
	      "openai: blank content is 400");
	CHECK(oa("{\"model\":\"x\"}", &r, &e) == -1 && e.status == 400, "openai: no messages is 400");
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"user\":\"not an id\"}", &r, &e) == -1 &&
	      e.status == 400, "openai: a user that is no id is 400");
	CHECK(oa("{\"messages\":[{\"role\":\"user\",\"content\":\""
		 "01234567890123456789012345678901234567890123456789012345678901234\"}]}", &r, &e) == -1 &&
	      e.status == 413, "openai: a message longer than MAX_MESSAGE_BYTES is 413");
}

void test_front_request(void)
{
	test_ui();
	test_oa();
}

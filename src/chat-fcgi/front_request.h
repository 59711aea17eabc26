/* The request bodies of the front doors for clients that speak someone
 * else's protocol: the AI SDK's DefaultChatTransport (POST /api/ui/chat)
 * and OpenAI's chat completions (POST /v1/chat/completions). Each is read
 * down to what POST /api/chat takes: a session, a user, a model and the
 * new message, the text of the conversation's last user message (the
 * earlier messages are already in the session's history). No I/O here. */
#ifndef SC_FRONT_REQUEST_H
#define SC_FRONT_REQUEST_H

#include "request.h"

/* DefaultChatTransport's body: id (the session), messages (UIMessage[]:
 * role, parts), trigger, messageId, and user_id/model when the app's
 * transport adds them. */
int parse_ui_chat_request(const char *body, size_t len, size_t max_message,
			  struct chat_request *out, struct api_error *err);

struct openai_chat_request {
	struct chat_request chat;   /* session_id "" when the body names none */
	char user[ID_MAX + 1];      /* the body's user ("" when absent) */
	int stream;
};

/* OpenAI's body: model, messages (role, content as a string or text
 * parts), stream, user, and session_id, this project's addition. */
int parse_openai_chat_request(const char *body, size_t len, size_t max_message,
			      struct openai_chat_request *out, struct api_error *err);

#endif

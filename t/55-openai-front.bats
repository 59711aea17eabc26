# The official OpenAI client (npm "openai", installed by make deps into
# t/npm) with its baseURL at nginx: POST /v1/chat/completions streamed and
# not, a stream cut mid-reply and resumed by message id with the same
# client, GET /v1/models, and OpenAI-shaped errors for bad input. Tokens
# come every 50 ms, so a reply of 100 tokens streams for seconds.

load helpers/stack

setup_file() {
	# a second stack with AUTH_SECRET, where the API key is a token
	AUTH_SECRET=t84-secret-of-the-openai-front-door stack_up --token-delay-ms 50 --relays 1
	export AUTH_API=$API AUTH_DIR=$STACK_DIR AUTH_REDIS_AUTH=$REDISCLI_AUTH ALICE
	ALICE=$(chatctl token alice --dir "$STACK_DIR")
	unset REDISCLI_AUTH
	stack_up --token-delay-ms 50 --relays 2
}

teardown_file() {
	stack_down
	STACK_DIR=$AUTH_DIR stack_down
}

# oa MODE SESSION PROMPT [USER]: the script's one JSON line in $output
oa() {
	run timeout 60 node "$ROOT/t/npm/openai-front.mjs" "$API" "$1" "$2" "$3" "${4:-tester}"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

history_of() { curl -sf "$API/api/history/$1?user_id=${2:-tester}"; }

# v1 METHOD PATH [BODY]: prints "STATUS BODY"
v1() {
	local out
	out=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X "$1" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$API$2")
	echo "$out $(cat "$BATS_TEST_TMPDIR/body")"
}

openai_error() {   # openai_error "STATUS BODY" STATUS TYPE
	[ "${1%% *}" = "$2" ]
	echo "${1#* }" | jq -e --arg t "$3" '.error.type == $t and (.error.message | length > 0) and (.error | has("code"))'
}

@test "stream: true, read by the OpenAI client: chat.completion.chunk deltas, finish_reason stop, the history's text" {
	oa stream oa-1 "$(words 20)"
	mid=$(jq -r .message_id <<<"$output")
	[ "$(jq -r .object <<<"$output")" = chat.completion.chunk ]
	[ "$(jq -r .finish_reason <<<"$output")" = stop ]
	[ "$(jq -r .content_type <<<"$output")" = text/event-stream ]
	h=$(history_of oa-1)
	[ "$(jq -r '.messages[-1].message_id' <<<"$h")" = "$mid" ]
	[ "$(jq -r '.messages[-1].status' <<<"$h")" = complete ]
	[ "$(jq -r .text <<<"$output")" = "$(jq -r '.messages[-1].content' <<<"$h")" ]
	[ "$(jq -r '.messages[0].content' <<<"$h")" = "$(words 20)" ]
}

@test "the stream cut after 3 chunks, resumed by message id from chunk 3 with the same client: the whole text once" {
	oa cut oa-2 "$(words 50)"
	partial=$(jq -r .partial <<<"$output")
	text=$(jq -r .text <<<"$output")
	[ -n "$partial" ]
	[ "${#partial}" -lt "${#text}" ]
	[ "$(jq -r .finish_reason <<<"$output")" = stop ]
	wait_for 30 bash -c "curl -sf '$API/api/history/oa-2?user_id=tester' | jq -e '.messages[-1].status == \"complete\"' >/dev/null"
	[ "$text" = "$(history_of oa-2 | jq -r '.messages[-1].content')" ]
}

@test "stream: false: one chat.completion with the whole reply" {
	oa json oa-3 "$(words 5)"
	[ "$(jq -r .object <<<"$output")" = chat.completion ]
	[ "$(jq -r .finish_reason <<<"$output")" = stop ]
	[ "$(jq -r .text <<<"$output")" = "$(history_of oa-3 | jq -r '.messages[-1].content')" ]
}

@test "without X-Session-Id or session_id, the session is oa-{message id}; the body's user is its owner" {
	run curl -s -D "$BATS_TEST_TMPDIR/h" -X POST -H 'Content-Type: application/json' \
		--data-binary '{"model":"x","messages":[{"role":"user","content":"hi"}],"stream":false,"user":"carol"}' \
		"$API/v1/chat/completions"
	assert_success
	mid=$(sed -n 's/^x-message-id: *\([0-9a-f]*\).*/\1/Ip' "$BATS_TEST_TMPDIR/h")
	[ -n "$mid" ]
	[ "$(jq -r .id <<<"$output")" = "chatcmpl-$mid" ]
	[ "$(history_of "oa-$mid" carol | jq -r '.messages[-1].message_id')" = "$mid" ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/history/oa-$mid?user_id=tester")" = 403 ]
	# with no user at all, development mode's user is "openai"
	run curl -sf -D "$BATS_TEST_TMPDIR/h2" -X POST --data-binary \
		'{"messages":[{"role":"user","content":"hi"}],"session_id":"oa-4"}' "$API/v1/chat/completions"
	assert_success
	[ "$(history_of oa-4 openai | jq -r '.messages[-1].role')" = assistant ]
}

@test "GET /v1/models lists the live workers' model, from their heartbeats" {
	oa models - -
	[ "$(jq -c .ids <<<"$output")" = '["builtin"]' ]
	node=$(rcli ZRANGE nodes:ai 0 0)
	[ "$(rcli HGET "node:ai:{$node}" model)" = builtin ]
	# a worker of another model, alive, and one whose heartbeat is old
	now=$(($(date +%s%N) / 1000000))
	rcli HSET 'node:ai:{t84-live}' id t84-live last_seen_ms "$now" model llama3.2 >/dev/null
	rcli HSET 'node:ai:{t84-stale}' id t84-stale last_seen_ms $((now - 60000)) model stale-model >/dev/null
	rcli PEXPIRE 'node:ai:{t84-live}' 5000 >/dev/null
	rcli PEXPIRE 'node:ai:{t84-stale}' 5000 >/dev/null
	rcli ZADD nodes:ai "$now" t84-live $((now - 60000)) t84-stale >/dev/null
	oa models - -
	rcli ZREM nodes:ai t84-live t84-stale >/dev/null
	[ "$(jq -c '.ids | sort' <<<"$output")" = '["builtin","llama3.2"]' ]
}

@test "bad input: OpenAI-shaped errors, nothing enqueued" {
	before=$(jobs_total)
	oa bad oa-5 hi
	[ "$(jq -r .status <<<"$output")" = 400 ]
	[ "$(jq -r .type <<<"$output")" = invalid_request_error ]
	openai_error "$(v1 POST /v1/chat/completions '{"messages":')" 400 invalid_request_error
	openai_error "$(v1 POST /v1/chat/completions '{"messages":[]}')" 400 invalid_request_error
	openai_error "$(v1 POST /v1/chat/completions '{"messages":[{"role":"wizard","content":"x"},{"role":"user","content":"y"}]}')" \
		400 invalid_request_error
	openai_error "$(v1 POST /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"stream":"yes"}')" \
		400 invalid_request_error
	openai_error "$(v1 POST /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}')" \
		400 invalid_request_error
	big=$(jq -cn --arg c "$(head -c 17000 /dev/zero | tr '\0' a)" '{messages: [{role: "user", content: $c}]}')
	openai_error "$(v1 POST /v1/chat/completions "$big")" 413 invalid_request_error
	huge=$(jq -cn --arg c "$(head -c 70000 /dev/zero | tr '\0' a)" '{messages: [{role: "user", content: $c}]}')
	openai_error "$(v1 POST /v1/chat/completions "$huge")" 413 invalid_request_error
	openai_error "$(v1 GET /v1/chat/completions)" 405 invalid_request_error
	openai_error "$(v1 POST /v1/embeddings '{}')" 404 not_found_error
	run curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Session-Id: not a session' \
		--data-binary '{"messages":[{"role":"user","content":"x"}]}' "$API/v1/chat/completions"
	[ "$output" = 400 ]
	[ "$(jobs_total)" = "$before" ]
	# and the API still answers
	curl -sf "$API/api/health" >/dev/null
}

@test "resuming another user's reply is 403, an unknown one 404: JSON errors, no hang" {
	oa json oa-6 "$(words 2)" alice
	mid=$(jq -r .message_id <<<"$output")
	run curl -s -m 10 -w ' %{http_code}' "$API/v1/chat/completions/$mid/stream?user_id=mallory"
	[ "${output##* }" = 403 ]
	echo "${output% *}" | jq -e '.error.message | length > 0'
	run curl -s -m 10 -w ' %{http_code}' "$API/v1/chat/completions/00000000000000000000000000000000/stream?user_id=tester"
	[ "${output##* }" = 404 ]
	echo "${output% *}" | jq -e '.error.message | length > 0'
}

@test "with AUTH_SECRET the API key is the user's token: 401 without one, the reply streamed and resumed with it" {
	run curl -s -w ' %{http_code}' -X POST -H 'Authorization: Bearer sk-not-a-token' \
		--data-binary '{"messages":[{"role":"user","content":"x"}]}' "$AUTH_API/v1/chat/completions"
	[ "${output##* }" = 401 ]
	echo "${output% *}" | jq -e '.error.type == "authentication_error"'
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$AUTH_API/v1/models")" = 401 ]
	run env STREAMCHAT_TOKEN="$ALICE" timeout 60 node "$ROOT/t/npm/openai-front.mjs" "$AUTH_API" cut oa-auth "$(words 50)" -
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	text=$(jq -r .text <<<"$output")
	wait_for 30 bash -c "curl -sf -H 'Authorization: Bearer $ALICE' '$AUTH_API/api/history/oa-auth' | jq -e '.messages[-1].status == \"complete\"' >/dev/null"
	[ "$text" = "$(curl -sf -H "Authorization: Bearer $ALICE" "$AUTH_API/api/history/oa-auth" | jq -r '.messages[-1].content')" ]
	[ "$(REDISCLI_AUTH=$AUTH_REDIS_AUTH redis-cli -p "$(sed -n 's/^REDIS_PORT=//p' "$AUTH_DIR/stack.env")" HGET "$(key stream:session: "oa-auth")" userId)" = alice ]
}

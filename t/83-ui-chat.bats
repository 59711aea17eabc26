# The AI SDK (npm "ai", installed by make deps into t/npm) against POST
# /api/ui/chat, as useChat with DefaultChatTransport sends it: the reply
# read by readUIMessageStream, resumed by the transport's reconnectToStream
# after its fetch was cut, stopped by POST /api/cancel; and the body's bad
# inputs. Tokens come every 50 ms and the prompts ask for 120 or more, so a
# reply is still streaming seconds after its first text.

load helpers/stack

setup_file() {
	stack_up --token-delay-ms 50 --relays 2
}

teardown_file() { stack_down; }

# ui MODE SESSION PROMPT [USER]: the script's one JSON line in $output
ui() {
	run timeout 60 node "$ROOT/t/npm/ui-chat.mjs" "$API" "$1" "$2" "$3" "${4:-tester}"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

last_message() { curl -sf "$API/api/history/$1?user_id=${2:-tester}" | jq -c '.messages[-1]'; }

# a UIMessage conversation: ui_body SESSION ROLE TEXT [ROLE TEXT ...]
ui_body() {
	local id=$1
	shift
	local msgs='[]'
	while [ $# -ge 2 ]; do
		msgs=$(jq -c --arg r "$1" --arg t "$2" '. + [{id: "m\(length)", role: $r, parts: [{type: "text", text: $t}]}]' <<<"$msgs")
		shift 2
	done
	jq -cn --arg id "$id" --argjson m "$msgs" '{id: $id, messages: $m, trigger: "submit-message", messageId: null}'
}

@test "DefaultChatTransport + readUIMessageStream: the whole reply, in the UI message stream's parts" {
	ui whole ui-1 "$(words 20)"
	text=$(jq -r .text <<<"$output")
	types=$(jq -c .types <<<"$output")
	[ "$types" = '["start","text-start","text-delta","text-end","finish"]' ]
	msg=$(last_message ui-1)
	[ "$(jq -r .status <<<"$msg")" = complete ]
	[ "$(jq -r .role <<<"$msg")" = assistant ]
	[ "$text" = "$(jq -r .content <<<"$msg")" ]
	[ "$(curl -sf "$API/api/history/ui-1?user_id=tester" | jq -r '.messages[0].content')" = "$(words 20)" ]
}

@test "the fetch cut after the first text: the reply goes on, and reconnectToStream assembles all of it" {
	ui cut ui-2 "$(words 60)"
	[ "$(jq -r .resumed <<<"$output")" = true ]
	partial=$(jq -r .partial <<<"$output")
	text=$(jq -r .text <<<"$output")
	[ -n "$partial" ]
	[ "${#partial}" -lt "${#text}" ]
	wait_for 30 bash -c "curl -sf '$API/api/history/ui-2?user_id=tester' | jq -e '.messages[-1].status == \"complete\"' >/dev/null"
	[ "$text" = "$(last_message ui-2 | jq -r .content)" ]
}

@test "POST /api/cancel mid-reply ends the UI stream with abort and the history's cancelled text" {
	ui cancel ui-3 "$(words 60)"
	[ "$(jq -r .status <<<"$output")" = 200 ]
	[ "$(jq -r '.types[-1]' <<<"$output")" = abort ]
	msg=$(last_message ui-3)
	[ "$(jq -r .status <<<"$msg")" = cancelled ]
	[ "$(jq -r .message_id <<<"$output")" = "$(jq -r .message_id <<<"$msg")" ]
	[ "$(jq -r .text <<<"$output")" = "$(jq -r .content <<<"$msg")" ]
}

@test "a second message in the same chat: the session is the transport's id, its history grows" {
	ui whole ui-4 "first question"
	ui whole ui-4 "second question"
	run curl -sf "$API/api/history/ui-4?user_id=tester"
	[ "$(jq '.messages | length' <<<"$output")" -eq 4 ]
	[ "$(jq -r '.messages[2].content' <<<"$output")" = "second question" ]
}

@test "POST /api/ui/chat answers the stream itself, as an event stream with the AI SDK's header" {
	run curl -s -N -D "$BATS_TEST_TMPDIR/h" -X POST -H 'Content-Type: application/json' \
		--data-binary "$(ui_body ui-5 user "$(words 3)")" "$API/api/ui/chat?user_id=tester"
	assert_success
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/h"
	grep -qi '^x-vercel-ai-ui-message-stream: v1' "$BATS_TEST_TMPDIR/h"
	# the relay's headers, not chat-fcgi's mixed in: one Cache-Control
	[ "$(grep -ci '^cache-control:' "$BATS_TEST_TMPDIR/h")" = 1 ]
	[ "$(grep -c '^data: ' <<<"$output")" -gt 3 ]
	[ "$(grep '^data: ' <<<"$output" | tail -1)" = "data: [DONE]" ]
	# the start part names the reply, which is what POST /api/cancel takes
	start=$(grep -m1 '^data: ' <<<"$output" | cut -c7-)
	[ "$(jq -r .type <<<"$start")" = start ]
	wait_for 30 bash -c "curl -sf '$API/api/history/ui-5?user_id=tester' | jq -e '.messages[-1].status == \"complete\"' >/dev/null"
	[ "$(jq -r .messageId <<<"$start")" = "$(curl -sf "$API/api/history/ui-5?user_id=tester" | jq -r '.messages[-1].message_id')" ]
}

@test "bad UIMessage bodies: a clear JSON error, nothing enqueued" {
	before=$(jobs_total)
	run api POST "/api/ui/chat?user_id=tester" '{"id":"ui-6","messages":'
	[ "${output%% *}" = 400 ]
	echo "${output#* }" | jq -e '.error.code == "invalid_request"'
	run api POST "/api/ui/chat?user_id=tester" "$(ui_body ui-6 user hi assistant hello)"
	[ "${output%% *}" = 400 ]
	echo "${output#* }" | jq -e '.error.message | test("last message")'
	run api POST "/api/ui/chat?user_id=tester" "$(ui_body ui-6 wizard hi user hello)"
	[ "${output%% *}" = 400 ]
	echo "${output#* }" | jq -e '.error.message | test("role")'
	run api POST "/api/ui/chat?user_id=tester" '{"id":"ui-6","messages":[{"role":"user","parts":"hi"}]}'
	[ "${output%% *}" = 400 ]
	run api POST "/api/ui/chat?user_id=tester" '{"id":"ui-6","messages":[{"role":"user","parts":[{"type":"file","url":"x"}]}]}'
	[ "${output%% *}" = 400 ]
	run api POST "/api/ui/chat?user_id=tester" '{"id":"bad id!","messages":[{"role":"user","parts":[{"type":"text","text":"x"}]}]}'
	[ "${output%% *}" = 400 ]
	# longer than MAX_MESSAGE_BYTES (16384), though within MAX_BODY_BYTES
	run api POST "/api/ui/chat?user_id=tester" "$(ui_body ui-6 user "$(head -c 17000 /dev/zero | tr '\0' a)")"
	[ "${output%% *}" = 413 ]
	echo "${output#* }" | jq -e '.error.code == "too_large"'
	# development mode needs the user, in the body or the URL
	run api POST "/api/ui/chat" "$(ui_body ui-6 user hi)"
	[ "${output%% *}" = 400 ]
	echo "${output#* }" | jq -e '.error.message | test("user_id")'
	run api GET "/api/ui/chat?user_id=tester"
	[ "${output%% *}" = 405 ]
	[ "$(jobs_total)" = "$before" ]
	[ "$(rcli EXISTS $(key stream:session: "ui-6"))" = 0 ]
}

@test "another user's chat is 403, and nothing is added to it" {
	ui whole ui-7 "mine"
	run api POST "/api/ui/chat?user_id=mallory" "$(ui_body ui-7 user "theirs")"
	[ "${output%% *}" = 403 ]
	echo "${output#* }" | jq -e '.error.code == "forbidden"'
	[ "$(curl -sf "$API/api/history/ui-7?user_id=tester" | jq '.messages | length')" -eq 2 ]
}

@test "the generator make run uses by default writes sentences that quote the prompt" {
	run env -u GENERATOR TOKEN_DELAY_MS=0 ai-streamer --once "how does the stream survive a reload"
	assert_success
	[[ "$output" == "You wrote “how does the stream…”. "* ]]
	[[ "$output" != *'\'* ]]
	[[ "$output" != *'<'* ]]
}

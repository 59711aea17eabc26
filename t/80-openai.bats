# ai-streamer's openai backend against a stand-in OpenAI-compatible server
# (t/helpers/fake-openai.c) that streams a known reply, can fail or stall,
# and records what it was sent. The first endpoint listed is dead.

load helpers/stack

setup_file() {
	export FAKE_DIR
	FAKE_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/fake.XXXXXX")
	# each line a JSON string: quotes, a tab, non-ASCII, an escaped code point
	printf '%s\n' '"Hello"' '", w\u00f6rld"' '" \"quoted\""' '" café"' '" \u2603"' \
		'" tab\there"' '" end."' >"$FAKE_DIR/tokens"
	# A long reply for the tests that act mid-stream: at 300 ms a token it
	# streams for 18 s, so a loaded machine's slow redis-cli, curl and
	# supervisorctl still act on it before it ends.
	for i in $(seq 1 60); do printf '" w%d"\n' "$i"; done >"$FAKE_DIR/tokens-long"
	echo ok >"$FAKE_DIR/mode"
	export FAKE_PORT DEAD_PORT
	base=$(free_ports 2)
	FAKE_PORT=$base DEAD_PORT=$((base + 1))
	"$ROOT/build/fake-openai" --port "$FAKE_PORT" --log "$FAKE_DIR/log" --tokens "$FAKE_DIR/tokens" \
		--mode-file "$FAKE_DIR/mode" --delay-ms 20 >/dev/null 2>&1 3>&- &
	echo $! >"$FAKE_DIR/pid"
	AI_BACKEND=openai AI_API_KEY=sk-test-123 AI_TIMEOUT_MS=1500 LEASE_MS=2000 \
		AI_BASE_URLS="http://127.0.0.1:$DEAD_PORT/v1,http://127.0.0.1:$FAKE_PORT/v1" \
		stack_up --relays 1
}

teardown_file() {
	stack_down
	# its children too: one may be sleeping in a stall
	pkill -P "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	kill "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	rm -rf "$FAKE_DIR"
}

expected() { jq -rj . "$FAKE_DIR/tokens"; }
last_request() { awk '/^=== request/{body=""; next} /^\{/{body=$0} END{print body}' "$FAKE_DIR/log"; }
mode() { echo "$*" >"$FAKE_DIR/mode"; }

@test "the client gets exactly the server's tokens; the second turn carries the first; the key is a bearer token" {
	mode ok
	run chat-cli --url "$API" --session oa1 "Hi there"
	assert_success
	[ "$output" = "$(expected)" ]
	[ "$(curl -sf "$API/api/history/oa1?user_id=tester" | jq -j '.messages[-1].content')" = "$(expected)" ]
	run chat-cli --url "$API" --session oa1 "second turn"
	assert_success
	req=$(last_request)
	[ "$(echo "$req" | jq -r '.messages | map(.role) | join(",")')" = user,assistant,user ]
	[ "$(echo "$req" | jq -r '.messages[0].content')" = "Hi there" ]
	[ "$(echo "$req" | jq -j '.messages[1].content')" = "$(expected)" ]
	[ "$(echo "$req" | jq -r '.messages[2].content')" = "second turn" ]
	[ "$(echo "$req" | jq -r .stream)" = true ]
	grep -q '^Authorization: Bearer sk-test-123' "$FAKE_DIR/log"
	# the dead endpoint was tried and skipped
	grep -q 'code=refused' "$STACK_DIR"/log/ai-streamer-*.log
}

@test "a character cut between two tokens arrives whole; bytes that are not UTF-8 become U+FFFD" {
	# raw bytes inside the JSON strings, as a server streaming byte-level
	# tokens may send them: é cut after its first byte, 日 after its second,
	# a stray 0xff, and a 🙂 whose last byte never comes
	printf '"caf\xc3"\n"\xa9 \xe6\x97"\n"\xa5\xe6\x9c\xac"\n" ok \xff!"\n" \xf0\x9f\x99"\n' \
		>"$FAKE_DIR/tokens-utf8"
	mode "tokens:$FAKE_DIR/tokens-utf8"
	run chat-cli --url "$API" --session oa-utf8 "bytes please"
	assert_success
	[ "$output" = "café 日本 ok �! �" ]
	[ "$(curl -sf "$API/api/history/oa-utf8?user_id=tester" | jq -j '.messages[-1].content')" = "café 日本 ok �! �" ]
	mode ok
}

@test "a server that answers 500 everywhere ends the reply with a clear error" {
	mode fail
	run chat-cli --url "$API" --session oa2 "anyone?"
	[ "$status" -eq 5 ]
	assert_output --partial "error http_500"
	[ "$(curl -sf "$API/api/history/oa2?user_id=tester" | jq -r '.messages[-1].status')" = error ]
}

@test "a server that stalls times out into a clear error, before or after the first token" {
	mode stall
	run chat-cli --url "$API" --session oa3 "hello?"
	[ "$status" -eq 5 ]
	assert_output --partial "error timeout"
	mode stall-after:3
	run chat-cli --url "$API" --session oa4 "hello again"
	[ "$status" -eq 5 ]
	assert_output --partial "error timeout"
	# the partial text is kept, marked error
	hist=$(curl -sf "$API/api/history/oa4?user_id=tester" | jq -c '.messages[-1]')
	[ "$(echo "$hist" | jq -r .status)" = error ]
	[ "$(echo "$hist" | jq -j .content)" = "$(head -3 "$FAKE_DIR/tokens" | jq -rj .)" ]
}

@test "an error event after some tokens ends the reply with error and keeps the partial text" {
	mode error-after:4
	run chat-cli --url "$API" --session oa5 "go"
	[ "$status" -eq 5 ]
	assert_output --partial "the stand-in broke"
	[ "$(curl -sf "$API/api/history/oa5?user_id=tester" | jq -j '.messages[-1].content')" = "$(head -4 "$FAKE_DIR/tokens" | jq -rj .)" ]
}

@test "cancel mid-stream closes the upstream connection and keeps the partial text as cancelled" {
	mode "tokens:$FAKE_DIR/tokens-long" 300
	chat-cli --url "$API" --session oa6 "slowly" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 chunks_past oa6 1
	mid=$(rcli hget "$(key stream:session: "oa6")" messageId)
	run api POST /api/cancel "{\"session_id\":\"oa6\",\"user_id\":\"tester\",\"message_id\":\"$mid\"}"
	assert_output --regexp '^200 '
	rc=0
	wait "$client" || rc=$?
	[ "$rc" -eq 4 ]
	hist=$(curl -sf "$API/api/history/oa6?user_id=tester" | jq -c '.messages[-1]')
	[ "$(echo "$hist" | jq -r .status)" = cancelled ]
	n=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	[ "$n" -lt 60 ]
	[ "$(echo "$hist" | jq -j .content)" = "$(head -"$n" "$FAKE_DIR/tokens-long" | jq -rj .)" ]
	wait_for 10 grep -q 'closed by client' "$FAKE_DIR/log"
}

@test "kill -9 of the worker mid-stream: the reply ends with error interrupted, partial text kept" {
	mode "tokens:$FAKE_DIR/tokens-long" 300
	chat-cli --url "$API" --session oa7 --timeout 60 "slowly" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 chunks_past oa7 1
	mid=$(rcli hget "$(key stream:session: "oa7")" messageId)
	owner=$(rcli get "$(key stream:lock: "$mid")")
	node=${owner%%:*}
	kill -9 "$(sctl pid "ai-streamer:ai-streamer-${node#ai-}")"
	rc=0
	wait "$client" || rc=$?
	[ "$rc" -eq 5 ]
	grep -q 'error interrupted' "$BATS_TEST_TMPDIR/out"
	hist=$(curl -sf "$API/api/history/oa7?user_id=tester" | jq -c '.messages[-1]')
	[ "$(echo "$hist" | jq -r .status)" = error ]
	n=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	[ "$n" -ge 1 ]
	[ "$n" -lt 60 ]
	[ "$(echo "$hist" | jq -j .content)" = "$(head -"$n" "$FAKE_DIR/tokens-long" | jq -rj .)" ]
}
